//! Output tokens read from an answer without parsing it: Bedrock's
//! `x-amzn-bedrock-output-token-count` header (InvokeModel), else the last usage figure in the
//! body's final bytes — Converse's and ConverseStream's `"outputTokens"` (the stream's `metadata`
//! event is its last frame), OpenAI's `"completion_tokens"` (a stream's last chunk, with
//! `stream_options.include_usage`), Anthropic's `"output_tokens"` (the `message_delta` event).

/// Bedrock's output-token header (InvokeModel and InvokeModelWithResponseStream's first answer).
pub(crate) const OUTPUT_TOKEN_HEADER: &str = "x-amzn-bedrock-output-token-count";

/// How much of a body's end is searched for the usage.
pub(crate) const TAIL_BYTES: usize = 4096;

const KEYS: [&[u8]; 3] = [b"\"outputTokens\"", b"\"completion_tokens\"", b"\"output_tokens\""];

/// The figure after the last usage key in `tail` (`"outputTokens": 64` → 64), if any.
pub(crate) fn output_tokens_in(tail: &[u8]) -> Option<u64> {
    let (at, key) = KEYS
        .iter()
        .filter_map(|key| rfind(tail, key).map(|at| (at, key.len())))
        .max_by_key(|&(at, _)| at)?;
    let rest = &tail[at + key..];
    let rest = skip_space(rest).strip_prefix(b":")?;
    let rest = skip_space(rest);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn skip_space(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_dialects_usage() {
        let converse = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":64,"totalTokens":69}}"#;
        assert_eq!(output_tokens_in(converse), Some(64));
        // A ConverseStream metadata frame: binary prelude and headers around the JSON payload.
        let mut frame = vec![0u8, 0, 0, 90, 0, 0, 0, 40, 1, 2, 3, 4];
        frame.extend_from_slice(b":event-type\x07\x00\x08metadata");
        frame.extend_from_slice(br#"{"metrics":{"latencyMs":1},"usage":{"inputTokens":3,"outputTokens": 17}}"#);
        frame.extend_from_slice(&[9, 9, 9, 9]);
        assert_eq!(output_tokens_in(&frame), Some(17));
        let openai = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":12,\"total_tokens\":15}}\n\ndata: [DONE]\n\n";
        assert_eq!(output_tokens_in(openai), Some(12));
        let anthropic = b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":33}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        assert_eq!(output_tokens_in(anthropic), Some(33));
    }

    #[test]
    fn takes_the_last_figure_and_refuses_garbage() {
        // An Anthropic stream names output_tokens in message_start (1) and message_delta (40).
        let two = br#"{"usage":{"output_tokens":1}} ... {"usage":{"output_tokens":40}}"#;
        assert_eq!(output_tokens_in(two), Some(40));
        assert_eq!(output_tokens_in(b"no usage here"), None);
        assert_eq!(output_tokens_in(br#"{"outputTokens":"x"}"#), None);
        assert_eq!(output_tokens_in(br#"{"outputTokens""#), None);
        assert_eq!(output_tokens_in(b""), None);
    }
}
