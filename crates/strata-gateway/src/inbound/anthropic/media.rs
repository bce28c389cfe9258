//! Images and documents: Anthropic's sources → Converse `image` / `document` blocks. Only
//! inline data reaches Bedrock; URL and Files API sources are refused.

use base64::Engine;
use serde_json::{json, Value};

use super::request::{DocumentSource, ImageSource};
use crate::inbound::openai::request::is_base64;

/// Why one block cannot be translated: the sub-path (`.source.type`) and the reason.
pub(super) struct BlockRefusal {
    pub at: &'static str,
    pub why: String,
}

pub(super) fn refuse(at: &'static str, why: impl Into<String>) -> BlockRefusal {
    BlockRefusal { at, why: why.into() }
}

pub(super) fn image(source: &ImageSource) -> Result<Value, BlockRefusal> {
    match source {
        ImageSource::Base64 { media_type, data } => {
            let format = match media_type.as_str() {
                "image/jpeg" => "jpeg",
                "image/png" => "png",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(refuse(
                        ".source.media_type",
                        format!("'{other}' is not supported; use image/jpeg, image/png, image/gif or image/webp"),
                    ))
                }
            };
            if !is_base64(data) {
                return Err(refuse(".source.data", "is not valid base64"));
            }
            Ok(json!({"format": format, "source": {"bytes": data}}))
        }
        ImageSource::Url { .. } => Err(refuse(
            ".source",
            "URL image sources are not supported through Bedrock; send the image as a base64 source",
        )),
        ImageSource::File { .. } => Err(refuse(
            ".source",
            "Files API sources are not supported through Bedrock; send the image as a base64 source",
        )),
    }
}

pub(super) fn document(source: &DocumentSource, title: Option<&str>, position: usize) -> Result<Value, BlockRefusal> {
    let name = document_name(title, position);
    match source {
        DocumentSource::Base64 { media_type, data } => {
            if media_type != "application/pdf" {
                return Err(refuse(
                    ".source.media_type",
                    format!("'{media_type}' is not supported for base64 documents; use application/pdf"),
                ));
            }
            if !is_base64(data) {
                return Err(refuse(".source.data", "is not valid base64"));
            }
            Ok(json!({"format": "pdf", "name": name, "source": {"bytes": data}}))
        }
        DocumentSource::Text { media_type, data } => {
            if media_type != "text/plain" {
                return Err(refuse(
                    ".source.media_type",
                    format!("'{media_type}' is not supported for text documents; use text/plain"),
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD.encode(data.as_bytes());
            Ok(json!({"format": "txt", "name": name, "source": {"bytes": bytes}}))
        }
        DocumentSource::Url { .. } | DocumentSource::File { .. } | DocumentSource::Content { .. } => Err(refuse(
            ".source",
            "only base64 (PDF) and text document sources are supported through Bedrock",
        )),
    }
}

/// A Converse document name from the title: Bedrock allows only letters, digits, single
/// spaces, hyphens, parentheses and square brackets.
fn document_name(title: Option<&str>, position: usize) -> String {
    let mut name = String::new();
    for c in title.unwrap_or_default().chars() {
        let c = if c.is_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            ' '
        };
        if !(c == ' ' && (name.is_empty() || name.ends_with(' '))) {
            name.push(c);
        }
        if name.len() >= 200 {
            break;
        }
    }
    let name = name.trim_end();
    if name.is_empty() {
        format!("document {}", position + 1)
    } else {
        name.to_string()
    }
}
