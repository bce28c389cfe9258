//! Translation between the OpenAI chat-completions shapes and Bedrock's Converse shapes.
