//! An OpenAI-compatible upstream's complete answer, relayed as it came but for its `model`,
//! which becomes the name the client asked for. The answer is read once to find where its
//! `model` value lies and what its `usage` says, and copied around that value: no tree of the
//! whole answer is built and serialized again (that cost the pass-through ~40 allocations and a
//! second encoding of every answer).

use serde::de::Deserializer;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::call::Usage;
use crate::upstream::openai_compat::OpenAiUsage;

/// What is read of the answer.
#[derive(Deserialize)]
struct Probe<'a> {
    /// The `model` value as it lies in the answer (`null` included).
    #[serde(borrow, default, deserialize_with = "present")]
    model: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    usage: Option<&'a RawValue>,
    // Every other field is skipped, only checked to be JSON.
}

/// A field that is there, whatever its value (so `"model": null` is found, not taken as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// `body` with its top-level `model` set to `model` (added first when it has none), and the
/// usage it reports. Fails when `body` is not one JSON object.
pub fn with_model(body: &[u8], model: &str) -> Result<(Vec<u8>, Option<Usage>), serde_json::Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(serde::de::Error::custom("the answer is not a JSON object"));
    }
    let probe: Probe<'_> = serde_json::from_slice(body)?;
    let usage = probe
        .usage
        .and_then(|u| serde_json::from_str::<OpenAiUsage>(u.get()).ok())
        .map(Usage::from);
    let mut out = Vec::with_capacity(body.len() + model.len() + 12);
    match probe.model {
        Some(raw) => {
            // The value borrows from `body`, so its place is the distance between the two.
            let start = (raw.get().as_ptr() as usize).saturating_sub(body.as_ptr() as usize);
            let end = start + raw.get().len();
            let (Some(before), Some(after)) = (body.get(..start), body.get(end..)) else {
                return Err(serde::de::Error::custom("the model value lies outside the answer"));
            };
            out.extend_from_slice(before);
            serde_json::to_writer(&mut out, model)?;
            out.extend_from_slice(after);
        }
        None => {
            let open = body.iter().position(|b| *b == b'{').unwrap_or(0);
            let empty = body[open + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
            out.extend_from_slice(&body[..=open]);
            out.extend_from_slice(b"\"model\":");
            serde_json::to_writer(&mut out, model)?;
            if !empty {
                out.push(b',');
            }
            out.extend_from_slice(&body[open + 1..]);
        }
    }
    Ok((out, usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn relayed(body: &str, model: &str) -> (Value, Option<Usage>) {
        let (out, usage) = with_model(body.as_bytes(), model).unwrap();
        (serde_json::from_slice(&out).unwrap(), usage)
    }

    #[test]
    fn only_the_model_changes_and_the_rest_is_copied_byte_for_byte() {
        let body = r#"{"id":"x","object":"chat.completion","model":"llama-3-70b-instruct",
            "choices":[{"index":0,"message":{"role":"assistant","content":"a \"model\": b"}}],
            "usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10},"extra":[1.50,{"model":"inner"}]}"#;
        let (out, usage) = with_model(body.as_bytes(), "my-alias").unwrap();
        let expected = body.replace(r#""model":"llama-3-70b-instruct""#, r#""model":"my-alias""#);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            expected,
            "nested and quoted `model`s untouched, 1.50 kept"
        );
        let usage = usage.unwrap();
        assert_eq!((usage.input, usage.output), (7, 3));
    }

    #[test]
    fn a_null_or_odd_model_is_replaced_and_a_missing_one_added() {
        assert_eq!(
            relayed(r#"{"model": null, "a": 1}"#, "m").0,
            json!({"model": "m", "a": 1})
        );
        assert_eq!(relayed(r#"{"model": {"x": [1]}}"#, "m").0, json!({"model": "m"}));
        assert_eq!(relayed(r#" { "a" : 1 } "#, "m").0, json!({"model": "m", "a": 1}));
        assert_eq!(relayed("{ }", "m").0, json!({"model": "m"}));
        assert_eq!(relayed("{}", "quo\"te").0, json!({"model": "quo\"te"}));
    }

    #[test]
    fn usage_that_cannot_be_read_is_no_usage_not_a_failure() {
        assert!(relayed(r#"{"usage": {"prompt_tokens": "many"}}"#, "m").1.is_none());
        assert!(relayed(r#"{"usage": null}"#, "m").1.is_none());
        assert!(relayed(r#"{"choices": []}"#, "m").1.is_none());
    }

    #[test]
    fn anything_but_one_json_object_is_refused() {
        for body in [
            "",
            "[]",
            r#"["model"]"#,
            "\"x\"",
            "null",
            "{",
            r#"{"a":1} {"b":2}"#,
            r#"{"a":}"#,
        ] {
            assert!(with_model(body.as_bytes(), "m").is_err(), "{body:?}");
        }
    }
}
