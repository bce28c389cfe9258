//! `access_log:`: the one line per request the account layer writes — its format, where it
//! goes, and whether it carries CloudWatch Embedded Metric Format directives.

use serde::{Deserialize, Serialize};

/// The access log as written in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// `text` (the default: `key=value` like the other log lines), `json` (one object per
    /// line) or `off`.
    #[serde(default)]
    pub format: AccessLogFormat,
    /// `stderr` (the default), `stdout`, or a file path appended to. Read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Also CloudWatch metrics: each JSON line carries EMF directives (requests, errors,
    /// latency, tokens, cost by model and tenant), and each catalog publication writes EMF
    /// documents of availability (per account × region, and per region × model). Needs
    /// `format: json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch_emf: Option<EmfConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    #[default]
    Text,
    Json,
    Off,
}

/// Where EMF metrics land in CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmfConfig {
    /// The CloudWatch namespace (default `Strata`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_namespace() -> String {
    "Strata".to_string()
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stderr,
    Stdout,
    File(std::path::PathBuf),
}

impl AccessLogConfig {
    /// Where the lines go.
    pub fn output(&self) -> Output {
        match self.output.as_deref() {
            None | Some("stderr") => Output::Stderr,
            Some("stdout") => Output::Stdout,
            Some(path) => Output::File(path.into()),
        }
    }

    /// What is wrong with it, for the config's problems list.
    pub fn check(&self, problems: &mut Vec<String>) {
        if self.cloudwatch_emf.is_some() && self.format != AccessLogFormat::Json {
            problems.push(
                "access_log.cloudwatch_emf: needs access_log.format: json (EMF directives ride on JSON lines)".into(),
            );
        }
        if let Some(emf) = &self.cloudwatch_emf {
            let ns = emf.namespace.trim();
            if ns.is_empty() || ns.len() > 255 || ns.starts_with(':') {
                problems.push("access_log.cloudwatch_emf.namespace: 1 to 255 characters, not starting with ':'".into());
            }
        }
        if self.output.as_deref().is_some_and(|o| o.trim().is_empty()) {
            problems.push("access_log.output: stderr, stdout or a file path".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> AccessLogConfig {
        serde_saphyr::from_str(yaml).expect("parses")
    }

    #[test]
    fn defaults_are_text_on_stderr_without_emf() {
        let c = parse("{}");
        assert_eq!(c.format, AccessLogFormat::Text);
        assert_eq!(c.output(), Output::Stderr);
        let mut problems = Vec::new();
        c.check(&mut problems);
        assert!(problems.is_empty());
    }

    #[test]
    fn emf_needs_json_and_a_namespace() {
        let mut problems = Vec::new();
        parse("cloudwatch_emf: {}").check(&mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let c = parse("format: json\ncloudwatch_emf: {}\noutput: /tmp/x.log");
        assert_eq!(c.cloudwatch_emf.as_ref().map(|e| e.namespace.as_str()), Some("Strata"));
        assert_eq!(c.output(), Output::File("/tmp/x.log".into()));
        let mut problems = Vec::new();
        c.check(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let mut problems = Vec::new();
        parse("format: json\ncloudwatch_emf: {namespace: ''}").check(&mut problems);
        assert_eq!(problems.len(), 1);
    }
}
