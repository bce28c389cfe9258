//! A guardrail on a model call: Converse's `guardrailConfig` or InvokeModel's
//! `X-Amzn-Bedrock-GuardrailIdentifier` / `-GuardrailVersion` / `X-Amzn-Bedrock-Trace` headers.
//! The input is judged before generating (blocked: the answer is the guardrail's
//! `blockedInputMessaging`, no output tokens); a text answer is judged after (blocked: its text
//! becomes `blockedOutputsMessaging`). Either way the stop reason is `guardrail_intervened`.

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};
use strata_core::wire::converse::StopReason;

use super::policy::{Policy, Source};
use crate::error::AwsError;
use crate::identity::Caller;
use crate::state::SimState;
use crate::synth::{Prompt, Reply};

/// The guardrail a call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    pub identifier: String,
    pub version: String,
    pub trace: bool,
}

fn missing_version() -> AwsError {
    AwsError::validation("Guardrail version is required when a guardrail identifier is provided.")
}

/// The error Converse and InvokeModel give for a guardrail that does not exist.
fn unknown_guardrail() -> AwsError {
    AwsError::validation("The guardrail identifier or version provided in the request does not exist.")
}

/// Converse's `guardrailConfig`, if any.
pub fn from_converse(body: &[u8]) -> Result<Option<GuardConfig>, AwsError> {
    if !body.windows(17).any(|w| w == b"\"guardrailConfig\"") {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| AwsError::validation(e.to_string()))?;
    let Some(config) = value.get("guardrailConfig") else {
        return Ok(None);
    };
    let field = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(identifier) = field("guardrailIdentifier") else {
        return Err(AwsError::validation(
            "1 validation error detected: Value null at 'guardrailConfig.guardrailIdentifier' failed to satisfy constraint: Member must not be null",
        ));
    };
    let version = field("guardrailVersion").ok_or_else(missing_version)?;
    let trace = matches!(field("trace").as_deref(), Some("enabled" | "enabled_full"));
    Ok(Some(GuardConfig {
        identifier,
        version,
        trace,
    }))
}

/// InvokeModel's guardrail headers, if any.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<GuardConfig>, AwsError> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let Some(identifier) = header("x-amzn-bedrock-guardrailidentifier") else {
        return Ok(None);
    };
    let version = header("x-amzn-bedrock-guardrailversion").ok_or_else(missing_version)?;
    let trace = header("x-amzn-bedrock-trace").is_some_and(|t| t.eq_ignore_ascii_case("ENABLED"));
    Ok(Some(GuardConfig {
        identifier,
        version,
        trace,
    }))
}

/// A guardrail found for a call.
#[derive(Debug, Clone)]
pub struct Guard {
    pub id: String,
    pub version: String,
    pub trace: bool,
    pub policy: Policy,
}

/// Finds the guardrail in the caller's account and region.
pub fn resolve(state: &SimState, caller: &Caller, config: &GuardConfig) -> Result<Guard, AwsError> {
    let guardrail = state
        .guardrails
        .find(caller.account, &caller.region, &config.identifier)
        .ok_or_else(unknown_guardrail)?;
    let policy = guardrail
        .version(&config.version)
        .ok_or_else(unknown_guardrail)?
        .clone();
    Ok(Guard {
        id: guardrail.id,
        version: config.version.clone(),
        trace: config.trace,
        policy,
    })
}

/// What the guardrail did to a call.
#[derive(Debug, Clone)]
pub struct GuardOutcome {
    pub intervened: bool,
    /// The trace (`{"guardrail": {...}}`) when the call asked for one.
    pub trace: Option<Value>,
}

impl GuardOutcome {
    /// Adds InvokeModel's `amazon-bedrock-guardrailAction` (and `amazon-bedrock-trace`).
    pub fn annotate_invoke(&self, body: &mut Map<String, Value>) {
        let action = if self.intervened { "INTERVENED" } else { "NONE" };
        body.insert("amazon-bedrock-guardrailAction".into(), json!(action));
        if let Some(trace) = &self.trace {
            body.insert("amazon-bedrock-trace".into(), trace.clone());
        }
    }

    /// Adds Converse's `trace`.
    pub fn annotate_converse(&self, body: &mut Map<String, Value>) {
        if let Some(trace) = &self.trace {
            body.insert("trace".into(), trace.clone());
        }
    }
}

/// Generates the answer under a guardrail (or without one).
pub fn respond(guard: Option<&Guard>, prompt: &Prompt) -> (Reply, Option<GuardOutcome>) {
    let Some(guard) = guard else {
        return (crate::synth::respond(prompt), None);
    };
    let texts: Vec<&str> = prompt.texts.iter().map(String::as_str).collect();
    let input = guard.policy.assess(Source::Input, &texts);
    let key = guard.id.clone();
    if input.intervened {
        let reply = Reply::Text {
            text: guard.policy.blocked_message(Source::Input).to_string(),
            output_tokens: 0,
            stop_reason: StopReason::GuardrailIntervened,
            stop_sequence: None,
        };
        let trace = guard.trace.then(
            || json!({"guardrail": {"inputAssessment": {key: input.to_json(1)}, "actionReason": "Guardrail blocked."}}),
        );
        return (
            reply,
            Some(GuardOutcome {
                intervened: true,
                trace,
            }),
        );
    }
    let mut reply = crate::synth::respond(prompt);
    let mut intervened = false;
    let mut output = None;
    if let Reply::Text {
        text,
        stop_reason,
        stop_sequence,
        ..
    } = &mut reply
    {
        let assessment = guard.policy.assess(Source::Output, &[text.as_str()]);
        if assessment.intervened {
            intervened = true;
            *text = guard.policy.blocked_message(Source::Output).to_string();
            *stop_reason = StopReason::GuardrailIntervened;
            *stop_sequence = None;
        }
        output = Some(assessment);
    }
    let trace = guard.trace.then(|| {
        let mut g = json!({"inputAssessment": {key.clone(): input.to_json(1)}});
        if let Some(o) = &output {
            g["outputAssessments"] = json!({ key: [o.to_json(1)] });
        }
        if intervened {
            g["actionReason"] = json!("Guardrail blocked.");
        }
        json!({ "guardrail": g })
    });
    (reply, Some(GuardOutcome { intervened, trace }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(trace: bool) -> Guard {
        Guard {
            id: "g1".into(),
            version: "DRAFT".into(),
            trace,
            policy: Policy::from_request(&json!({
                "blockedInputMessaging": "blocked in", "blockedOutputsMessaging": "blocked out",
                "wordPolicyConfig": {"wordsConfig": [{"text": "contraband"}, {"text": "the", "inputEnabled": false}]}
            }))
            .unwrap(),
        }
    }

    #[test]
    fn configs_are_read_from_bodies_and_headers() {
        let body = br#"{"messages":[],"guardrailConfig":{"guardrailIdentifier":"g1","guardrailVersion":"1","trace":"enabled"}}"#;
        assert_eq!(
            from_converse(body).unwrap(),
            Some(GuardConfig {
                identifier: "g1".into(),
                version: "1".into(),
                trace: true
            })
        );
        assert!(from_converse(br#"{"guardrailConfig":{"guardrailIdentifier":"g1"}}"#).is_err());
        assert_eq!(from_converse(br#"{"messages":[]}"#).unwrap(), None);
        let mut headers = HeaderMap::new();
        assert_eq!(from_headers(&headers).unwrap(), None);
        headers.insert("x-amzn-bedrock-guardrailidentifier", "g1".parse().unwrap());
        assert!(from_headers(&headers).is_err());
        headers.insert("x-amzn-bedrock-guardrailversion", "DRAFT".parse().unwrap());
        assert!(!from_headers(&headers).unwrap().unwrap().trace);
    }

    #[test]
    fn input_is_blocked_before_generating_and_output_after() {
        let mut prompt = Prompt::new("m");
        prompt.texts.push("tell me about contraband".into());
        let (reply, outcome) = respond(Some(&guard(true)), &prompt);
        assert_eq!(reply.stop_reason(), StopReason::GuardrailIntervened);
        assert_eq!(reply.output_tokens(), 0);
        let outcome = outcome.unwrap();
        assert!(outcome.intervened);
        assert!(outcome.trace.unwrap()["guardrail"]["inputAssessment"]["g1"]["wordPolicy"].is_object());
        // "the" is blocked on output only; the synthetic answer is long enough to hold it.
        let mut prompt = Prompt::new("m");
        prompt.texts.push("hello".into());
        prompt.max_tokens = Some(200);
        let plain = crate::synth::respond(&prompt);
        let (reply, outcome) = respond(Some(&guard(false)), &prompt);
        let has_the = matches!(&plain, Reply::Text { text, .. } if super::super::policy::contains_phrase(&text.to_lowercase(), "the"));
        assert_eq!(outcome.unwrap().intervened, has_the);
        if has_the {
            assert!(matches!(reply, Reply::Text { ref text, .. } if text == "blocked out"));
        }
        let (reply, outcome) = respond(None, &prompt);
        assert_eq!(reply, plain);
        assert!(outcome.is_none());
    }
}
