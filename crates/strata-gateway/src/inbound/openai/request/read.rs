//! Reading the body in one serde pass.

use super::*;

// serde's errors do not say where they happened, so the visitors note in a `Trace` which
// parameter they are reading and, for a scalar, the rule to quote if its value is wrong.

const BODY_RULE: &str = "the request body must be a JSON object";
const MODEL_RULE: &str = "'model' is required and must be a string";
const MESSAGES_RULE: &str = "'messages' is required and must be an array";

/// The parameter being read.
#[derive(Debug, Clone, Copy)]
enum Param {
    Body,
    Field(&'static str),
    Message(usize),
    Tool(usize),
}

impl Param {
    fn name(self) -> Option<String> {
        match self {
            Param::Body => None,
            Param::Field(field) => Some(field.to_string()),
            Param::Message(i) => Some(format!("messages[{i}]")),
            Param::Tool(i) => Some(format!("tools[{i}]")),
        }
    }
}

pub(super) struct Trace {
    at: Cell<Param>,
    /// The message for a wrong value at `at`; none to quote serde's own.
    rule: Cell<Option<&'static str>>,
}

impl Trace {
    pub(super) fn new() -> Self {
        Trace {
            at: Cell::new(Param::Body),
            rule: Cell::new(Some(BODY_RULE)),
        }
    }

    fn reading(&self, at: Param, rule: Option<&'static str>) {
        self.at.set(at);
        self.rule.set(rule);
    }

    /// A refusal of what is being read, quoting its rule.
    fn refuse<E: de::Error>(&self, at: Param, rule: &'static str) -> E {
        self.reading(at, Some(rule));
        E::custom(rule)
    }

    pub(super) fn error(&self, e: &serde_json::Error) -> TranslateError {
        if e.classify() != serde_json::error::Category::Data {
            return TranslateError::invalid_json(format!("The body is not valid JSON: {e}"));
        }
        let param = self.at.get().name();
        let message = match (self.rule.get(), &param) {
            (Some(rule), _) => rule.to_string(),
            (None, Some(param)) => format!("invalid '{param}': {e}"),
            (None, None) => e.to_string(),
        };
        TranslateError {
            param,
            message,
            kind: TranslateErrorKind::InvalidRequest,
        }
    }
}

impl<'de> Deserialize<'de> for ChatRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RequestVisitor { trace: &Trace::new() })
    }
}

pub(super) struct RequestVisitor<'t> {
    pub(super) trace: &'t Trace,
}

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = ChatRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a chat completions request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChatRequest, A::Error> {
        let trace = self.trace;
        let mut model: Option<String> = None;
        let mut messages = None;
        let mut p = ChatParams::default();
        trace.reading(Param::Body, None);
        while let Some(Key(key)) = map.next_key()? {
            let m = &mut map;
            match key.as_ref() {
                "model" => model = read(m, trace, "model", MODEL_RULE, |m: &String| !m.is_empty())?,
                "messages" => {
                    trace.reading(Param::Field("messages"), Some(MESSAGES_RULE));
                    messages = m.next_value_seed(Indexed::new(trace, Param::Message))?;
                }
                "stream" => p.stream = read(m, trace, "stream", "'stream' must be a boolean", any)?,
                "stream_options" => {
                    let rule = "'stream_options' must be an object like {\"include_usage\": true}";
                    p.stream_options = read(m, trace, "stream_options", rule, any)?;
                }
                "temperature" => {
                    let rule = "'temperature' must be a number from 0 to 2";
                    p.temperature = read(m, trace, "temperature", rule, |t: &f64| (0.0..=2.0).contains(t))?;
                }
                "top_p" => {
                    let rule = "'top_p' must be a number from 0 to 1";
                    p.top_p = read(m, trace, "top_p", rule, |t: &f64| (0.0..=1.0).contains(t))?;
                }
                "max_tokens" => {
                    let rule = "'max_tokens' must be a positive integer";
                    p.max_tokens = read(m, trace, "max_tokens", rule, |n: &u64| *n >= 1)?;
                }
                "max_completion_tokens" => {
                    let rule = "'max_completion_tokens' must be a positive integer";
                    p.max_completion_tokens = read(m, trace, "max_completion_tokens", rule, |n: &u64| *n >= 1)?;
                }
                "stop" => p.stop = read(m, trace, "stop", "'stop' must be a string or an array of strings", any)?,
                "n" => {
                    let rule = "only n = 1 is supported: Bedrock returns one choice per request";
                    p.n = read(m, trace, "n", rule, |n: &u32| *n == 1)?;
                }
                "logprobs" => {
                    let rule = "logprobs are not available from Bedrock models";
                    p.logprobs = read(m, trace, "logprobs", rule, |wanted: &bool| !wanted)?;
                }
                "top_logprobs" => {
                    let rule = "logprobs are not available from Bedrock models";
                    read::<_, IgnoredAny>(m, trace, "top_logprobs", rule, refused)?;
                }
                "response_format" => {
                    let rule = "'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or \
                                {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"a-z, A-Z, 0-9, _ or -, at most 64\", \
                                \"schema\": {...}}}";
                    p.response_format = read(m, trace, "response_format", rule, ResponseFormat::is_valid)?;
                }
                "audio" => {
                    read::<_, IgnoredAny>(m, trace, "audio", "audio output is not supported", refused)?;
                }
                "modalities" => {
                    p.modalities = read(m, trace, "modalities", "only text output is supported", any)?;
                }
                "tools" => {
                    trace.reading(Param::Field("tools"), Some("'tools' must be an array"));
                    p.tools = m.next_value_seed(Indexed::new(trace, Param::Tool))?;
                }
                "tool_choice" => {
                    let rule = "'tool_choice' must be none, auto, required or \
                                {\"type\":\"function\",\"function\":{\"name\":...}}";
                    p.tool_choice = read(m, trace, "tool_choice", rule, any)?;
                }
                "parallel_tool_calls" => {
                    let rule = "'parallel_tool_calls' must be a boolean";
                    p.parallel_tool_calls = read(m, trace, "parallel_tool_calls", rule, any)?;
                }
                "frequency_penalty" => {
                    let rule = "'frequency_penalty' must be a number";
                    p.frequency_penalty = read(m, trace, "frequency_penalty", rule, any)?;
                }
                "presence_penalty" => {
                    let rule = "'presence_penalty' must be a number";
                    p.presence_penalty = read(m, trace, "presence_penalty", rule, any)?;
                }
                "seed" => p.seed = read(m, trace, "seed", "'seed' must be an integer", any)?,
                "user" => p.user = read(m, trace, "user", "'user' must be a string", any)?,
                _ => {
                    trace.reading(Param::Body, None);
                    let value = m.next_value()?;
                    p.extra.insert(key.into_owned(), value);
                }
            }
        }
        let Some(model) = model else {
            return Err(trace.refuse(Param::Field("model"), MODEL_RULE));
        };
        p.messages = match messages {
            None => return Err(trace.refuse(Param::Field("messages"), MESSAGES_RULE)),
            Some(list) if list.is_empty() => {
                return Err(trace.refuse(Param::Field("messages"), "'messages' must hold at least one message"))
            }
            Some(list) => list,
        };
        Ok(ChatRequest { model, params: p })
    }
}

/// Reads an optional top-level value (null is absent); a value of the wrong shape or one `valid`
/// rejects is refused with `rule`.
fn read<'de, A, T>(
    map: &mut A,
    trace: &Trace,
    field: &'static str,
    rule: &'static str,
    valid: fn(&T) -> bool,
) -> Result<Option<T>, A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    trace.reading(Param::Field(field), Some(rule));
    match map.next_value::<Option<T>>()? {
        Some(value) if !valid(&value) => Err(de::Error::custom(rule)),
        value => Ok(value),
    }
}

fn any<T>(_: &T) -> bool {
    true
}

fn refused<T>(_: &T) -> bool {
    false
}

/// A top-level key, borrowed from the body unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// An optional array whose elements are traced by index (`messages[2]`).
struct Indexed<'t, T> {
    trace: &'t Trace,
    param: fn(usize) -> Param,
    element: PhantomData<T>,
}

impl<'t, T> Indexed<'t, T> {
    fn new(trace: &'t Trace, param: fn(usize) -> Param) -> Self {
        Indexed {
            trace,
            param,
            element: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Indexed<'_, T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Indexed<'_, T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::new();
        loop {
            self.trace.reading((self.param)(items.len()), None);
            match seq.next_element()? {
                Some(item) => items.push(item),
                None => return Ok(Some(items)),
            }
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = MessageContent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("'content' as a string or an array of content parts")
            }
            fn visit_str<E>(self, s: &str) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(s))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<MessageContent, S::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(MessageContent::Parts(parts))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}
