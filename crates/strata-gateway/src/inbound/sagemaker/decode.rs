//! Decoding `POST /endpoints/{EndpointName}/invocations[-response-stream]`: the endpoint from the
//! path, the headers boto3 sends (botocore's `sagemaker-runtime` model), and the app's payload
//! rendered by the endpoint's `pre_process` template into the model's request — an InvokeModel
//! body, or a Converse request checked as the Bedrock dialect checks one.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::de::IgnoredAny;
use strata_aws::RuntimeOperation;

use crate::call::{Api, Call, Estimate};
use crate::config::endpoint::Stage;
use crate::config::{Endpoint, RequestKind};
use crate::error::{Class, GatewayError};
use crate::inbound::bedrock::decode::{check_converse, invoke_max_tokens};
use crate::request::Decoding;

/// What encoding needs of the request.
#[derive(Debug)]
pub struct Invocation {
    pub endpoint: Arc<Endpoint>,
    /// `/invocations-response-stream`.
    pub stream: bool,
    /// The request's template context (`body`, `raw`, `content_type`, `accept`,
    /// `custom_attributes`, `endpoint`, `model`), which post-processing extends with `response`.
    pub request: Value,
}

/// Headers that ask for what one endpoint serving one logical model cannot do: refused by name
/// rather than ignored, so an app relying on one learns it at once.
const REFUSED_HEADERS: [(&str, &str); 4] = [
    (
        "x-amzn-sagemaker-target-model",
        "X-Amzn-SageMaker-Target-Model is not supported: an endpoint here serves one model (no multi-model endpoints).",
    ),
    (
        "x-amzn-sagemaker-target-container-hostname",
        "X-Amzn-SageMaker-Target-Container-Hostname is not supported: an endpoint here has no containers to choose from.",
    ),
    (
        "x-amzn-sagemaker-inference-component",
        "X-Amzn-SageMaker-Inference-Component is not supported: an endpoint here serves one model (no inference components).",
    ),
    (
        "x-amzn-sagemaker-session-id",
        "X-Amzn-SageMaker-Session-Id is not supported: the gateway keeps no sessions (stateful sessions are not served).",
    ),
];

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::client(Class::Invalid, message)
}

/// The endpoint name of a path, and whether the response streams.
pub fn path(path: &str) -> Result<(String, bool), GatewayError> {
    let rest = path.strip_prefix("/endpoints/").unwrap_or(path);
    let unknown = || GatewayError::client(Class::NotFound, format!("No operation matches {path}."));
    let (name, action) = rest.split_once('/').ok_or_else(unknown)?;
    let stream =
        match action {
            "invocations" => false,
            "invocations-response-stream" => true,
            "async-invocations" => return Err(GatewayError::client(
                Class::NotFound,
                "InvokeEndpointAsync is not served by this gateway: call invocations or invocations-response-stream.",
            )),
            _ => return Err(unknown()),
        };
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| invalid("The endpoint name in the path is not valid UTF-8 once percent-decoded."))?;
    if name.is_empty() {
        return Err(unknown());
    }
    Ok((name.into_owned(), stream))
}

/// Whether an `Accept` header admits `content_type` (`*/*`, `type/*`, or the same media type).
pub fn accepts(accept: &str, content_type: &str) -> bool {
    let essence = |s: &str| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let offered = essence(content_type);
    let offered_type = offered.split('/').next().unwrap_or("");
    accept.split(',').any(|range| {
        let range = essence(range);
        range.is_empty()
            || range == "*/*"
            || range == offered
            || range.strip_suffix("/*").is_some_and(|t| t == offered_type)
    })
}

/// Whether a content type says JSON (`application/json`, `…+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Where a template failed, without the values it read (they may be prompt text).
fn template_failure(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("{} at line {line}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// The call an invocation asks for.
pub fn call(cx: &Decoding<'_>, head: &Parts, body: Bytes) -> Result<(Call, Invocation), GatewayError> {
    let (name, stream) = path(head.uri.path())?;
    let config = cx.config;
    let tenant = &config.tenants[cx.tenant];
    let endpoint = config
        .endpoint_by_name
        .get(&name)
        .and_then(|&i| config.endpoints.get(i))
        .ok_or_else(|| {
            GatewayError::client(
                Class::UnknownModel,
                format!("Endpoint {name} of account {} not found.", tenant.name),
            )
        })?;
    if !tenant.may_use(endpoint.model) {
        return Err(GatewayError::client(
            Class::Forbidden,
            format!("This key is not authorized to invoke endpoint {name}."),
        ));
    }
    for (header, why) in REFUSED_HEADERS {
        if head.headers.contains_key(header) {
            return Err(invalid(why));
        }
    }
    let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header("content-type");
    // InvokeEndpointWithResponseStream carries Accept as X-Amzn-SageMaker-Accept.
    let accept = if stream {
        header("x-amzn-sagemaker-accept")
    } else {
        header("accept")
    };
    let answers = endpoint.content_type.to_str().unwrap_or("application/json");
    if let Some(accept) = accept {
        if !accepts(accept, answers) {
            return Err(invalid(format!(
                "Endpoint {name} answers {answers}; the Accept header asks for {accept}."
            )));
        }
    }
    let parsed = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => Value::from(Serde(&v)),
        Err(e) if content_type.is_some_and(is_json) => {
            return Err(invalid(format!(
                "The payload is sent as {} but is not valid JSON: {e}.",
                content_type.unwrap_or_default()
            )))
        }
        Err(_) => Value::UNDEFINED,
    };
    let request = context! {
        endpoint => &endpoint.name,
        model => &endpoint.model_name,
        content_type => content_type,
        accept => accept,
        custom_attributes => header("x-amzn-sagemaker-custom-attributes"),
        body => parsed,
        raw => String::from_utf8_lossy(&body),
    };
    let rendered = match endpoint.templates.render(Stage::Pre, &request) {
        None => crate::call::forwarded_body(body),
        Some(Ok(text)) => Bytes::from(text),
        Some(Err(e)) => {
            return Err(invalid(format!(
                "The payload does not fit endpoint {name}: its pre_process template failed ({}); the payload may lack a field the template reads, or have one of another type.",
                template_failure(&e)
            )))
        }
    };
    let templated = endpoint.templates.has(Stage::Pre);
    let what = if templated {
        "its pre_process template rendered"
    } else {
        "it sends the payload as it is, and that is"
    };
    let (operation, max_output) = match endpoint.request {
        RequestKind::Invoke => {
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(&rendered) {
                if templated {
                    tracing::warn!(endpoint = %name, "pre_process rendered text that is not JSON");
                }
                return Err(invalid(format!(
                    "Endpoint {name} cannot call its model: {what} no JSON request ({e}). Templates write values with `| tojson`."
                )));
            }
            let op = if stream {
                RuntimeOperation::InvokeModelWithResponseStream
            } else {
                RuntimeOperation::InvokeModel
            };
            (op, invoke_max_tokens(&rendered))
        }
        RequestKind::Converse => {
            let max = check_converse(&rendered).map_err(|e| {
                invalid(format!(
                    "Endpoint {name} cannot call its model: {what} no valid Converse request: {}",
                    e.message
                ))
            })?;
            let op = if stream {
                RuntimeOperation::ConverseStream
            } else {
                RuntimeOperation::Converse
            };
            (op, max)
        }
    };
    let call = Call {
        api: Api::SageMaker,
        model: endpoint.model_name.clone(),
        operation,
        estimate: Estimate::from_body(rendered.len(), max_output),
        content_type: Some("application/json".into()),
        accept: Some("application/json".into()),
        body: rendered,
        translation: None,
        openai: None,
        embedding: None,
    };
    Ok((
        call,
        Invocation {
            endpoint: Arc::clone(endpoint),
            stream,
            request,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
models:
  - name: llama
    deployments: [{account: a, region: us-east-1, model: meta.llama3-3-70b-instruct-v1:0}]
  - name: nova
    deployments: [{account: a, region: us-east-1, model: amazon.nova-pro-v1:0}]
accounts:
  - {name: a, credentials: {type: static, access_key_id: AKIA0000000000000000, secret_access_key: s}}
tenants:
  - {name: apps, keys: [sk-apps-000001]}
  - {name: other, keys: [sk-other-00001], models: [nova]}
endpoints:
  - name: tgi
    model: llama
    pre_process: |
      {% set p = body.parameters | default({}) %}
      {"prompt": {{ body.inputs | tojson }}, "max_gen_len": {{ p.max_new_tokens | default(256) }}}
  - name: chat
    model: nova
    request: converse
    pre_process: '{"messages": [{"role": "user", "content": [{"text": {{ body.q | tojson }}}]}], "inferenceConfig": {"maxTokens": {{ body.n | default(9) }}}}'
  - name: broken
    model: llama
    pre_process: '{"prompt": {{ body.inputs }}}'
  - name: plain
    model: llama
"#;

    fn config() -> crate::config::Config {
        crate::config::from_text(CONFIG, "t.yaml", |_| None).unwrap()
    }

    fn head(path: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method("POST").uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn decode(
        config: &crate::config::Config,
        tenant: usize,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(Call, Invocation), GatewayError> {
        let cx = Decoding { config, tenant };
        call(&cx, &head(path, headers), Bytes::from(body.to_string()))
    }

    #[test]
    fn paths_name_an_endpoint_and_whether_it_streams() {
        assert_eq!(
            path("/endpoints/apexguru/invocations").unwrap(),
            ("apexguru".into(), false)
        );
        assert_eq!(
            path("/endpoints/apexguru/invocations-response-stream").unwrap(),
            ("apexguru".into(), true)
        );
        assert_eq!(
            path("/endpoints/x/async-invocations").unwrap_err().class,
            Class::NotFound
        );
        assert_eq!(path("/endpoints/x/dance").unwrap_err().class, Class::NotFound);
        assert_eq!(path("/endpoints/x").unwrap_err().class, Class::NotFound);
        assert_eq!(path("/endpoints//invocations").unwrap_err().class, Class::NotFound);
        assert_eq!(path("/endpoints/%ff/invocations").unwrap_err().class, Class::Invalid);
    }

    #[test]
    fn accept_headers_are_matched_by_media_type() {
        for ok in [
            "application/json",
            "*/*",
            "application/*",
            "text/csv, application/json;q=0.5",
            "",
        ] {
            assert!(accepts(ok, "application/json"), "{ok}");
        }
        for bad in ["text/csv", "text/*", "application/jsonl"] {
            assert!(!accepts(bad, "application/json"), "{bad}");
        }
    }

    #[test]
    fn a_payload_is_rendered_into_the_models_request() {
        let config = config();
        let (call, inv) = decode(
            &config,
            0,
            "/endpoints/tgi/invocations",
            &[
                ("content-type", "application/json"),
                ("x-amzn-sagemaker-custom-attributes", "trace=1"),
            ],
            r#"{"inputs": "Say \"hi\"", "parameters": {"max_new_tokens": 32}}"#,
        )
        .unwrap();
        assert_eq!((call.api, call.model.as_str()), (Api::SageMaker, "llama"));
        assert_eq!(call.operation, RuntimeOperation::InvokeModel);
        let sent: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(sent, serde_json::json!({"prompt": "Say \"hi\"", "max_gen_len": 32}));
        assert_eq!(call.estimate.output, 32);
        assert!(!inv.stream);
        assert_eq!(
            inv.request.get_attr("custom_attributes").unwrap().as_str(),
            Some("trace=1")
        );

        let (call, inv) = decode(
            &config,
            0,
            "/endpoints/tgi/invocations-response-stream",
            &[],
            r#"{"inputs": "x"}"#,
        )
        .unwrap();
        assert_eq!(call.operation, RuntimeOperation::InvokeModelWithResponseStream);
        assert_eq!(call.estimate.output, 256);
        assert!(inv.stream);

        let (call, _) = decode(&config, 0, "/endpoints/chat/invocations", &[], r#"{"q": "hi"}"#).unwrap();
        assert_eq!((call.operation, call.estimate.output), (RuntimeOperation::Converse, 9));
        let (call, _) = decode(
            &config,
            0,
            "/endpoints/plain/invocations",
            &[],
            r#"{"prompt": "as is"}"#,
        )
        .unwrap();
        assert_eq!(&call.body[..], br#"{"prompt": "as is"}"#);
    }

    #[test]
    fn refusals_say_what_is_wrong_without_quoting_the_payload() {
        let config = config();
        let secret = "SECRET-PROMPT-TEXT";
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, String, Class, &'a str);
        let cases: Vec<Case> = vec![
            (
                "unknown endpoint",
                "/endpoints/nope/invocations",
                vec![],
                "{}".into(),
                Class::UnknownModel,
                "Endpoint nope of account apps not found.",
            ),
            (
                "lacks a field",
                "/endpoints/tgi/invocations",
                vec![],
                format!(r#"{{"text": "{secret}"}}"#),
                Class::Invalid,
                "pre_process template failed (undefined value at line 2)",
            ),
            (
                "not JSON",
                "/endpoints/tgi/invocations",
                vec![("content-type", "application/json")],
                format!("inputs={secret}"),
                Class::Invalid,
                "is not valid JSON",
            ),
            (
                "renders no JSON",
                "/endpoints/broken/invocations",
                vec![],
                format!(r#"{{"inputs": "{secret}"}}"#),
                Class::Invalid,
                "rendered no JSON request",
            ),
            (
                "passes no JSON",
                "/endpoints/plain/invocations",
                vec![("content-type", "text/plain")],
                secret.into(),
                Class::Invalid,
                "sends the payload as it is",
            ),
            (
                "bad converse",
                "/endpoints/chat/invocations",
                vec![],
                r#"{"q": "x", "n": 0}"#.into(),
                Class::Invalid,
                "no valid Converse request",
            ),
            (
                "target model",
                "/endpoints/tgi/invocations",
                vec![("x-amzn-sagemaker-target-model", "m.tar.gz")],
                "{}".into(),
                Class::Invalid,
                "X-Amzn-SageMaker-Target-Model is not supported",
            ),
            (
                "accept",
                "/endpoints/tgi/invocations",
                vec![("accept", "text/csv")],
                r#"{"inputs": "x"}"#.into(),
                Class::Invalid,
                "the Accept header asks for text/csv",
            ),
            (
                "stream accept",
                "/endpoints/tgi/invocations-response-stream",
                vec![("x-amzn-sagemaker-accept", "text/csv")],
                r#"{"inputs": "x"}"#.into(),
                Class::Invalid,
                "asks for text/csv",
            ),
        ];
        for (what, path, headers, body, class, says) in cases {
            let e = decode(&config, 0, path, &headers, &body).unwrap_err();
            assert_eq!(e.class, class, "{what}: {}", e.message);
            assert!(e.message.contains(says), "{what}: {}", e.message);
            assert!(!e.message.contains(secret), "{what}: {}", e.message);
        }
        // A tenant not allowed the endpoint's model.
        let e = decode(&config, 1, "/endpoints/tgi/invocations", &[], r#"{"inputs": "x"}"#).unwrap_err();
        assert_eq!(e.class, Class::Forbidden);
        assert!(decode(&config, 1, "/endpoints/chat/invocations", &[], r#"{"q": "x"}"#).is_ok());
    }
}
