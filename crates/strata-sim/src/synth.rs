//! Deterministic synthetic answers: the same prompt always gets the same text, one word is one
//! token, `maxTokens` and stop sequences cut it, and forced tool use yields input that satisfies
//! the tool's required schema properties.

use serde_json::{Map, Value};
use strata_core::wire::converse::StopReason;

const WORDS: &[&str] = &[
    "the",
    "model",
    "answers",
    "with",
    "steady",
    "words",
    "about",
    "regions",
    "and",
    "accounts",
    "routing",
    "requests",
    "across",
    "a",
    "fleet",
    "of",
    "servers",
    "where",
    "every",
    "token",
    "counts",
    "toward",
    "quota",
    "limits",
    "while",
    "latency",
    "stays",
    "low",
    "data",
    "remains",
    "inside",
    "its",
    "allowed",
    "borders",
    "profiles",
    "spread",
    "load",
    "over",
    "destinations",
    "so",
    "capacity",
    "holds",
    "during",
    "bursts",
    "gateways",
    "retry",
    "politely",
    "after",
    "throttling",
    "then",
    "fall",
    "back",
    "to",
    "verified",
    "baselines",
    "when",
    "catalogs",
    "drift",
    "operators",
    "sleep",
    "well",
    "because",
    "nothing",
    "breaks",
    "silently",
    "streams",
    "flow",
    "chunk",
    "by",
    "until",
    "done",
];

/// The longest natural answer, in tokens.
const MAX_NATURAL: u64 = 120;
const MIN_NATURAL: u64 = 8;

/// A tool the caller offers.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: String,
    pub schema: Value,
}

/// How the caller lets the model use tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMode {
    None,
    Auto,
    Any,
    Named(String),
}

/// A request reduced to what generation needs, whatever API it came through.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub model: String,
    /// Every input text piece, in order (system first).
    pub texts: Vec<String>,
    pub messages: u32,
    pub images: u32,
    pub max_tokens: Option<u32>,
    pub stop_sequences: Vec<String>,
    pub tools: Vec<ToolDef>,
    pub tool_mode: ToolMode,
    /// The last message carries a tool result: the model answers in text.
    pub after_tool_result: bool,
    pub last_user_text: String,
    /// The request's prompt-cache points, in prefix order (Converse `cachePoint` blocks).
    pub cache_points: Vec<crate::prompt_cache::CachePoint>,
    /// What the prompt cache served and stored for this request.
    pub cached: crate::prompt_cache::CacheUse,
    /// The InvokeModel body was OpenAI's chat-completion shape (imported Qwen): answer in it.
    pub chat_completion: bool,
}

impl Prompt {
    pub fn new(model: &str) -> Self {
        Prompt {
            model: model.to_string(),
            texts: Vec::new(),
            messages: 0,
            images: 0,
            max_tokens: None,
            stop_sequences: Vec::new(),
            tools: Vec::new(),
            tool_mode: ToolMode::None,
            after_tool_result: false,
            last_user_text: String::new(),
            cache_points: Vec::new(),
            cached: Default::default(),
            chat_completion: false,
        }
    }

    /// Input tokens: a quarter of the characters of every text, 4 per message, 258 per image,
    /// and the tool definitions.
    pub fn input_tokens(&self) -> u32 {
        let chars: usize = self.texts.iter().map(|t| t.chars().count().div_ceil(4)).sum();
        let tools: usize = self
            .tools
            .iter()
            .map(|t| (t.name.len() + t.schema.to_string().len()).div_ceil(4))
            .sum();
        let total = chars + tools + 4 * self.messages as usize + 258 * self.images as usize;
        u32::try_from(total.max(1)).unwrap_or(u32::MAX)
    }

    fn seed(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(self.model.as_bytes());
        for t in &self.texts {
            h.write(&[0xff]);
            h.write(t.as_bytes());
        }
        h.finish()
    }
}

/// The generated answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text {
        text: String,
        output_tokens: u32,
        stop_reason: StopReason,
        stop_sequence: Option<String>,
    },
    Tool {
        tool_use_id: String,
        name: String,
        input: Value,
        output_tokens: u32,
    },
}

impl Reply {
    pub fn output_tokens(&self) -> u32 {
        match self {
            Reply::Text { output_tokens, .. } | Reply::Tool { output_tokens, .. } => *output_tokens,
        }
    }

    pub fn stop_reason(&self) -> StopReason {
        match self {
            Reply::Text { stop_reason, .. } => *stop_reason,
            Reply::Tool { .. } => StopReason::ToolUse,
        }
    }
}

/// Generates the answer to a prompt.
pub fn respond(prompt: &Prompt) -> Reply {
    let seed = prompt.seed();
    if !prompt.after_tool_result {
        if let Some(tool) = chosen_tool(prompt) {
            let input = value_for_schema(&tool.schema, 0);
            let output_tokens = u32::try_from(input.to_string().len().div_ceil(4) + 8).unwrap_or(u32::MAX);
            return Reply::Tool {
                tool_use_id: tool_use_id(seed),
                name: tool.name.clone(),
                input,
                output_tokens,
            };
        }
    }
    let natural = MIN_NATURAL + seed % (MAX_NATURAL - MIN_NATURAL + 1);
    let limit = prompt.max_tokens.map(u64::from).unwrap_or(u64::MAX);
    let mut rng = XorShift(seed | 1);
    let mut text = String::new();
    let mut words = 0u64;
    let mut stop_reason = StopReason::EndTurn;
    let mut stop_sequence = None;
    while words < natural {
        if words >= limit {
            stop_reason = StopReason::MaxTokens;
            break;
        }
        let word = WORDS[(rng.next() % WORDS.len() as u64) as usize];
        let sentence_start = words == 0 || text.ends_with('.');
        if words > 0 {
            text.push(' ');
        }
        if sentence_start {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.push(first.to_ascii_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push_str(word);
        }
        words += 1;
        if words.is_multiple_of(11) || words == natural {
            text.push('.');
        }
        if let Some((cut, seq)) = first_stop(&text, &prompt.stop_sequences) {
            text.truncate(cut);
            stop_reason = StopReason::StopSequence;
            stop_sequence = Some(seq);
            break;
        }
    }
    let output_tokens = u32::try_from(words).unwrap_or(u32::MAX);
    Reply::Text {
        text,
        output_tokens,
        stop_reason,
        stop_sequence,
    }
}

fn first_stop(text: &str, stops: &[String]) -> Option<(usize, String)> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.clone())))
        .min_by_key(|(at, _)| *at)
}

fn chosen_tool(prompt: &Prompt) -> Option<&ToolDef> {
    match &prompt.tool_mode {
        ToolMode::None => None,
        ToolMode::Any => prompt.tools.first(),
        ToolMode::Named(name) => prompt.tools.iter().find(|t| &t.name == name),
        ToolMode::Auto => {
            let text = prompt.last_user_text.to_ascii_lowercase();
            prompt
                .tools
                .iter()
                .find(|t| text.contains(&t.name.to_ascii_lowercase()))
        }
    }
}

fn tool_use_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = XorShift(seed ^ 0x9e37_79b9_7f4a_7c15 | 1);
    let tail: String = (0..22)
        .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize] as char)
        .collect();
    format!("tooluse_{tail}")
}

/// A value of the schema's type with every required property filled in (`$ref`s to the
/// schema's own `$defs`/`definitions` followed, as pydantic writes nested models).
pub fn value_for_schema(schema: &Value, depth: u32) -> Value {
    value_in(schema, schema, depth)
}

fn value_in(root: &Value, schema: &Value, depth: u32) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        return value_in(root, target, depth + 1);
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(d) = schema.get("default") {
        return d.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|v| v.first()) {
            return value_in(root, first, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    let sub = props.and_then(|p| p.get(name)).cloned().unwrap_or(Value::Null);
                    out.insert(name.to_string(), value_in(root, &sub, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(4);
            let item = schema.get("items").cloned().unwrap_or(Value::Null);
            Value::Array((0..min).map(|_| value_in(root, &item, depth + 1)).collect())
        }
        "integer" => Value::from(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        "number" => Value::from(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.5)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(
            match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => "2026-01-01T00:00:00Z",
                Some("date") => "2026-01-01",
                Some("time") => "00:00:00",
                Some("email") => "user@example.com",
                Some("uri" | "url") => "https://example.com/",
                Some("uuid") => "00000000-0000-4000-8000-000000000000",
                _ => "sample",
            }
            .to_string(),
        ),
    }
}

/// Splits text into stream pieces of a few words each, keeping the spaces.
pub fn chunk_text(text: &str, words_per_chunk: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut count = 0;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            current.push(' ');
        }
        current.push_str(word);
        count += 1;
        if count == words_per_chunk {
            chunks.push(std::mem::take(&mut current));
            count = 0;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Splits a JSON text into a few pieces (tool input deltas arrive as partial JSON).
pub fn chunk_json(json: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prompt(text: &str) -> Prompt {
        let mut p = Prompt::new("anthropic.claude-sonnet-4-20250514-v1:0");
        p.texts.push(text.to_string());
        p.messages = 1;
        p.last_user_text = text.to_string();
        p
    }

    #[test]
    fn same_prompt_same_answer_and_counts_are_words() {
        let a = respond(&prompt("hello"));
        assert_eq!(a, respond(&prompt("hello")));
        let Reply::Text {
            text, output_tokens, ..
        } = a
        else {
            panic!("text expected")
        };
        assert_eq!(text.split(' ').count() as u32, output_tokens);
        assert!((MIN_NATURAL as u32..=MAX_NATURAL as u32).contains(&output_tokens));
    }

    #[test]
    fn max_tokens_and_stop_sequences_cut() {
        let mut p = prompt("tell me a long story please");
        p.max_tokens = Some(3);
        let Reply::Text {
            output_tokens,
            stop_reason,
            ..
        } = respond(&p)
        else {
            panic!()
        };
        assert_eq!((output_tokens, stop_reason), (3, StopReason::MaxTokens));
        let full = respond(&prompt("tell me a long story please"));
        let Reply::Text { text, .. } = full else { panic!() };
        let third_word = text.split(' ').nth(2).unwrap().trim_end_matches('.').to_string();
        let mut p = prompt("tell me a long story please");
        p.stop_sequences = vec![third_word.clone()];
        let Reply::Text {
            text: cut,
            stop_reason,
            stop_sequence,
            ..
        } = respond(&p)
        else {
            panic!()
        };
        assert_eq!(stop_reason, StopReason::StopSequence);
        assert_eq!(stop_sequence.as_deref(), Some(third_word.as_str()));
        assert!(!cut.contains(&third_word) || text.find(&third_word).unwrap() >= cut.len());
    }

    #[test]
    fn forced_tools_fill_required_properties() {
        let mut p = prompt("what is the weather");
        p.tools = vec![ToolDef {
            name: "get_weather".into(),
            schema: json!({"type": "object", "required": ["city", "days", "unit", "tags", "opts"],
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                    "unit": {"type": "string", "enum": ["c", "f"]}, "tags": {"type": "array", "items": {"type": "string"}},
                    "opts": {"type": "object", "required": ["x"], "properties": {"x": {"type": "boolean"}}},
                    "ignored": {"type": "string"}}}),
        }];
        p.tool_mode = ToolMode::Any;
        let Reply::Tool {
            name,
            input,
            tool_use_id,
            ..
        } = respond(&p)
        else {
            panic!("tool expected")
        };
        assert_eq!(name, "get_weather");
        assert!(tool_use_id.starts_with("tooluse_"));
        assert_eq!(
            input,
            json!({"city": "sample", "days": 1, "unit": "c", "tags": [], "opts": {"x": true}})
        );
        p.tool_mode = ToolMode::Auto;
        assert!(
            matches!(respond(&p), Reply::Text { .. }),
            "auto without naming the tool answers text"
        );
        p.last_user_text = "use get_weather please".into();
        assert!(matches!(respond(&p), Reply::Tool { .. }));
        p.after_tool_result = true;
        assert!(matches!(respond(&p), Reply::Text { .. }));
    }

    #[test]
    fn chunks_reassemble() {
        let text = "One two three four five six seven.";
        assert_eq!(chunk_text(text, 3).concat(), text);
        let json = r#"{"city":"sample","n":1}"#;
        assert_eq!(chunk_json(json, 3).concat(), json);
    }

    #[test]
    fn refs_to_defs_are_followed_and_formats_are_valid() {
        let schema = json!({
            "type": "object",
            "properties": {"owner": {"$ref": "#/$defs/Person"}, "when": {"type": "string", "format": "date-time"}},
            "required": ["owner", "when"],
            "$defs": {"Person": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}},
        });
        assert_eq!(
            value_for_schema(&schema, 0),
            json!({"owner": {"age": 1}, "when": "2026-01-01T00:00:00Z"})
        );
    }
}
