//! SageMaker-style endpoints (`endpoints:`): names apps call through the SageMaker runtime API
//! (`POST /endpoints/{name}/invocations[-response-stream]`), each serving a logical model, with
//! minijinja templates that turn the app's payload into the model's request (`pre_process`) and
//! the model's answer into the app's payload (`post_process`, `stream_post_process` per streamed
//! chunk). Templates are compiled once, when the config loads; a template that does not compile
//! is a config error naming the endpoint. See `docs/configuration.md`.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Kwargs;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

/// An endpoint as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The endpoint name apps call (SageMaker's rules: letters, digits and single or repeated
    /// hyphens between them, at most 63 characters).
    pub name: String,
    /// The logical model (in `models:`) that answers.
    pub model: String,
    /// What `pre_process` renders: an InvokeModel body in the model's native format (`invoke`),
    /// or a Converse request (`converse`).
    #[serde(default)]
    pub request: RequestKind,
    /// The app's payload → the model's request. Absent: the payload is sent as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_process: Option<String>,
    /// The model's complete answer → the app's payload. Absent: the answer is sent as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_process: Option<String>,
    /// Each streamed chunk of the model's answer → one part of the app's stream. Absent: each
    /// chunk's JSON is sent as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_post_process: Option<String>,
    /// The content type of the answers (default `application/json`).
    #[serde(default = "json_content_type")]
    pub content_type: String,
}

fn json_content_type() -> String {
    "application/json".to_string()
}

/// What an endpoint's pre-processing renders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// An InvokeModel body (`InvokeModel` / `InvokeModelWithResponseStream`).
    #[default]
    Invoke,
    /// A Converse request (`Converse` / `ConverseStream`).
    Converse,
}

/// A checked endpoint.
#[derive(Debug)]
pub struct Endpoint {
    pub name: String,
    /// Index into `Config::models`.
    pub model: usize,
    /// The logical model's name, as calls name it.
    pub model_name: String,
    pub request: RequestKind,
    pub content_type: http::HeaderValue,
    pub templates: Templates,
}

/// One of an endpoint's templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Pre,
    Post,
    Stream,
}

impl Stage {
    const ALL: [Stage; 3] = [Stage::Pre, Stage::Post, Stage::Stream];

    /// The config key, which is also the template's name in errors.
    pub fn key(self) -> &'static str {
        match self {
            Stage::Pre => "pre_process",
            Stage::Post => "post_process",
            Stage::Stream => "stream_post_process",
        }
    }
}

/// Instructions one rendering may run (minijinja's fuel): a loop over a huge payload ends with
/// an error instead of holding a core.
const FUEL: u64 = 5_000_000;

/// An endpoint's compiled templates.
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the templates given (`None`: that stage passes bytes through).
    pub fn compile(pre: Option<&str>, post: Option<&str>, stream: Option<&str>) -> Result<Self, (Stage, String)> {
        let mut env = Environment::new();
        // Values are written as text; `| tojson` writes a JSON value. Nothing is escaped behind
        // the author's back, whatever the content type.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // A field the payload lacks is an error when printed or looked into, not an empty
        // string; `{% if body.x %}` and `| default(…)` still work.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        // What the author wrote is what is sent, trailing newline included (stream parts such
        // as `data: …\n\n` depend on it).
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| (Stage::Pre, e.to_string()))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(FUEL));
        // `tojson` of a field the payload lacks is an error, not `null` sent on silently.
        env.add_filter(
            "tojson",
            |value: &Value, indent: Option<Value>, kwargs: Kwargs| -> Result<Value, minijinja::Error> {
                if value.is_undefined() {
                    return Err(ErrorKind::UndefinedError.into());
                }
                minijinja::filters::tojson(value, indent, kwargs)
            },
        );
        for (stage, source) in Stage::ALL.into_iter().zip([pre, post, stream]) {
            if let Some(source) = source {
                env.add_template_owned(stage.key(), source.to_string())
                    .map_err(|e| (stage, e.to_string()))?;
            }
        }
        Ok(Templates { env })
    }

    /// Whether the stage has a template.
    pub fn has(&self, stage: Stage) -> bool {
        self.env.get_template(stage.key()).is_ok()
    }

    /// The stage's template rendered over `context`; `None` when the stage has no template.
    pub fn render(&self, stage: Stage, context: &Value) -> Option<Result<String, minijinja::Error>> {
        let template = self.env.get_template(stage.key()).ok()?;
        Some(template.render(context))
    }
}

/// Whether `name` is a SageMaker endpoint name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Checks `endpoints:`; returns them with an index by name.
pub fn check_endpoints(
    written: &[EndpointConfig],
    model_by_name: &HashMap<String, usize>,
    problems: &mut Vec<String>,
) -> (Vec<Arc<Endpoint>>, HashMap<String, usize>) {
    let mut out = Vec::new();
    let mut by_name = HashMap::new();
    for (i, e) in written.iter().enumerate() {
        let at = format!("endpoints[{i}]");
        if !valid_name(&e.name) {
            problems.push(format!(
                "{at}.name: '{}' is not an endpoint name (letters, digits and hyphens between them, at most 63)",
                e.name
            ));
        } else if by_name.contains_key(&e.name) {
            problems.push(format!("{at}.name: '{}' is used twice", e.name));
        }
        let model = match model_by_name.get(&e.model) {
            Some(&m) => Some(m),
            None => {
                problems.push(format!(
                    "{at}.model: unknown model '{}' (known: {})",
                    e.model,
                    super::known(model_by_name.keys().map(String::as_str))
                ));
                None
            }
        };
        let content_type = match http::HeaderValue::from_str(&e.content_type) {
            Ok(v) if e.content_type.contains('/') => Some(v),
            _ => {
                problems.push(format!(
                    "{at}.content_type: '{}' is not a media type (like application/json)",
                    e.content_type
                ));
                None
            }
        };
        let templates = match Templates::compile(
            e.pre_process.as_deref(),
            e.post_process.as_deref(),
            e.stream_post_process.as_deref(),
        ) {
            Ok(t) => Some(t),
            Err((stage, why)) => {
                problems.push(format!(
                    "{at}.{} (endpoint '{}'): the template does not compile: {why}",
                    stage.key(),
                    e.name
                ));
                None
            }
        };
        if let (Some(model), Some(content_type), Some(templates)) = (model, content_type, templates) {
            by_name.entry(e.name.clone()).or_insert(out.len());
            out.push(Arc::new(Endpoint {
                name: e.name.clone(),
                model,
                model_name: e.model.clone(),
                request: e.request,
                content_type,
                templates,
            }));
        }
    }
    (out, by_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::value::Serde;

    fn written(yaml: &str) -> Vec<EndpointConfig> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn models() -> HashMap<String, usize> {
        HashMap::from([("llama".to_string(), 0usize)])
    }

    #[test]
    fn endpoint_names_follow_sagemakers_rules() {
        for ok in ["apexguru", "a", "my-endpoint-2", "a--b", &"x".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "a/b", &"x".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_good_endpoint_compiles_and_renders() {
        let mut problems = Vec::new();
        let (all, by_name) = check_endpoints(
            &written(
                "- name: apexguru\n  model: llama\n  pre_process: '{\"prompt\": {{ body.inputs | tojson }}}'\n  post_process: '[{\"generated_text\": {{ response.generation | tojson }}}]'\n",
            ),
            &models(),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let e = &all[by_name["apexguru"]];
        assert_eq!((e.model, e.request), (0, RequestKind::Invoke));
        assert_eq!(e.content_type, "application/json");
        assert!(e.templates.has(Stage::Pre) && e.templates.has(Stage::Post));
        assert!(!e.templates.has(Stage::Stream));
        let context = Value::from(Serde(serde_json::json!({"body": {"inputs": "say \"hi\""}})));
        let out = e.templates.render(Stage::Pre, &context).unwrap().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            serde_json::json!({"prompt": "say \"hi\""})
        );
        assert!(e.templates.render(Stage::Stream, &context).is_none());
    }

    #[test]
    fn a_missing_field_fails_the_rendering_and_defaults_still_work() {
        let t = Templates::compile(
            Some("{% set p = body.parameters | default({}) %}{{ body.inputs | tojson }} {{ p.max_new_tokens | default(64) }}"),
            None,
            None,
        )
        .unwrap();
        let ok = Value::from(Serde(serde_json::json!({"body": {"inputs": "x"}})));
        assert_eq!(t.render(Stage::Pre, &ok).unwrap().unwrap(), "\"x\" 64");
        let lacking = Value::from(Serde(serde_json::json!({"body": {"other": 1}})));
        let e = t.render(Stage::Pre, &lacking).unwrap().unwrap_err();
        assert_eq!(e.kind(), minijinja::ErrorKind::UndefinedError);
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let t = Templates::compile(
            Some("{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"),
            None,
            None,
        )
        .unwrap();
        let e = t.render(Stage::Pre, &Value::from(())).unwrap().unwrap_err();
        assert_eq!(e.kind(), minijinja::ErrorKind::OutOfFuel);
    }

    #[test]
    fn every_problem_names_the_endpoint_and_field() {
        let mut problems = Vec::new();
        let (all, _) = check_endpoints(
            &written(
                "- {name: bad_name, model: llama}\n- {name: ok, model: nope}\n- {name: t, model: llama, post_process: '{{ response.x '}\n- {name: c, model: llama, content_type: json}\n- {name: ok2, model: llama}\n- {name: ok2, model: llama}\n",
            ),
            &models(),
            &mut problems,
        );
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems[0].starts_with("endpoints[0].name: 'bad_name'"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].starts_with("endpoints[1].model: unknown model 'nope'"),
            "{}",
            problems[1]
        );
        assert!(
            problems[2].starts_with("endpoints[2].post_process (endpoint 't'): the template does not compile"),
            "{}",
            problems[2]
        );
        assert!(problems[3].starts_with("endpoints[3].content_type"), "{}", problems[3]);
        assert!(
            problems[4].starts_with("endpoints[5].name: 'ok2' is used twice"),
            "{}",
            problems[4]
        );
        assert!(all.iter().all(|e| e.name != "t" && e.name != "c"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_saphyr::from_str::<Vec<EndpointConfig>>("- {name: a, model: b, pre_proces: x}\n").is_err());
        assert!(serde_saphyr::from_str::<Vec<EndpointConfig>>("- {name: a, model: b, request: chat}\n").is_err());
    }
}
