//! Reading OpenAI's embeddings request: `input` (a string or a list of strings; token arrays
//! are refused, since Bedrock's embedding models take text), `model`, `dimensions`,
//! `encoding_format` (`float` | `base64`) and `user`. Every mistake names its parameter.

use serde::Deserialize;
use serde_json::Value;

use crate::embedding::EmbedRequest;
use crate::error::{Class, GatewayError};

/// Inputs one request may carry (OpenAI's own limit).
pub const MAX_INPUTS: usize = 2048;

/// How vectors are written in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// A JSON array of numbers.
    #[default]
    Float,
    /// Base64 of the vector's little-endian `f32` bytes (the `openai` SDKs ask for this and
    /// decode it).
    Base64,
}

/// An embeddings request, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub model: String,
    pub embed: EmbedRequest,
    pub encoding: Encoding,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    model: Option<Value>,
    input: Option<Value>,
    dimensions: Option<Value>,
    encoding_format: Option<Value>,
    user: Option<Value>,
}

fn invalid(param: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::client(Class::Invalid, message).with_param(param)
}

/// Reads a request body.
pub fn parse(body: &[u8]) -> Result<Request, GatewayError> {
    let wire: Wire = serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let field = rest.split('`').next().unwrap_or_default();
            invalid(field, format!("Unrecognized request argument supplied: {field}"))
        } else {
            GatewayError::client(
                Class::Invalid,
                format!("The request body is not a valid embeddings request (a JSON object): {message}"),
            )
        }
    })?;
    let model = match wire.model {
        Some(Value::String(m)) if !m.is_empty() => m,
        Some(_) => return Err(invalid("model", "'model' must be a non-empty string.")),
        None => return Err(invalid("model", "you must provide a model parameter")),
    };
    let inputs = inputs(wire.input)?;
    let dimensions = match wire.dimensions {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(invalid(
                    "dimensions",
                    format!("'dimensions' must be a positive integer, not {v}."),
                ))
            }
        },
    };
    let encoding = match wire.encoding_format {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(f)) if f == "float" => Encoding::Float,
        Some(Value::String(f)) if f == "base64" => Encoding::Base64,
        Some(v) => {
            return Err(invalid(
                "encoding_format",
                format!("'encoding_format' must be 'float' or 'base64', not {v}."),
            ))
        }
    };
    match wire.user {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(invalid("user", "'user' must be a string.")),
    }
    Ok(Request {
        model,
        embed: EmbedRequest { inputs, dimensions },
        encoding,
    })
}

fn inputs(input: Option<Value>) -> Result<Vec<String>, GatewayError> {
    let tokens = || {
        invalid(
            "input",
            "'input' as token IDs is not supported: Bedrock's embedding models take text. Send a string or a list of strings.",
        )
    };
    let inputs = match input {
        None | Some(Value::Null) => return Err(invalid("input", "'input' is required.")),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(invalid("input", "'input' must not be an empty list."));
            }
            if items.len() > MAX_INPUTS {
                return Err(invalid(
                    "input",
                    format!("'input' has {} items; at most {MAX_INPUTS} are allowed.", items.len()),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    Value::Number(_) | Value::Array(_) => Err(tokens()),
                    _ => Err(invalid("input", format!("'input[{i}]' must be a string."))),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(invalid("input", "'input' must be a string or a list of strings.")),
    };
    if let Some(i) = inputs.iter().position(|s| s.is_empty()) {
        return Err(invalid(
            "input",
            format!("'input[{i}]' is empty: every input must have some text."),
        ));
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<Request, GatewayError> {
        parse(v.to_string().as_bytes())
    }

    #[test]
    fn strings_and_lists_are_read() {
        let r = read(json!({"model": "m", "input": "hello"})).unwrap();
        assert_eq!(r.embed.inputs, vec!["hello"]);
        assert_eq!((r.embed.dimensions, r.encoding), (None, Encoding::Float));
        let r = read(
            json!({"model": "m", "input": ["a", "b"], "dimensions": 256, "encoding_format": "base64", "user": "u"}),
        )
        .unwrap();
        assert_eq!(r.embed.inputs.len(), 2);
        assert_eq!((r.embed.dimensions, r.encoding), (Some(256), Encoding::Base64));
    }

    #[test]
    fn mistakes_name_their_parameter() {
        let cases = [
            (json!({"input": "a"}), "model"),
            (json!({"model": "m"}), "input"),
            (json!({"model": "m", "input": [1, 2, 3]}), "input"),
            (json!({"model": "m", "input": [[1, 2]]}), "input"),
            (json!({"model": "m", "input": []}), "input"),
            (json!({"model": "m", "input": ""}), "input"),
            (json!({"model": "m", "input": ["a", {}]}), "input"),
            (json!({"model": "m", "input": "a", "dimensions": 0}), "dimensions"),
            (json!({"model": "m", "input": "a", "dimensions": "x"}), "dimensions"),
            (
                json!({"model": "m", "input": "a", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (json!({"model": "m", "input": "a", "user": 3}), "user"),
            (json!({"model": "m", "input": "a", "temperature": 1}), "temperature"),
        ];
        for (body, param) in cases {
            let e = read(body.clone()).unwrap_err();
            assert_eq!(e.class, Class::Invalid, "{body}");
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
        let e = read(json!({"model": "m", "input": [1, 2]})).unwrap_err();
        assert!(e.message.contains("token IDs"), "{}", e.message);
        assert_eq!(parse(b"not json").unwrap_err().class, Class::Invalid);
        let many = vec!["x"; MAX_INPUTS + 1];
        assert!(read(json!({"model": "m", "input": many})).is_err());
    }
}
