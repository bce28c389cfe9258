//! Guardrails: named Bedrock guardrails (`guardrails:`), referenced by tenants and logical
//! models (`guardrail: <name>`). The tenant's applies to all its calls, a model's to every call
//! of that model; when both are set the tenant's is the one used (Bedrock takes one guardrail
//! per call). See `docs/configuration.md`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_core::Region;

/// A guardrail as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConfig {
    /// What tenants and models call it.
    pub name: String,
    /// The Bedrock guardrail: its name (looked up in each account and region, where it has its
    /// own ID), its ID, or its ARN.
    pub guardrail: String,
    /// `DRAFT` or a version number (default `DRAFT`).
    #[serde(default = "draft")]
    pub version: String,
    #[serde(default)]
    pub trace: GuardrailTrace,
    /// Where the gateway runs `ApplyGuardrail` for upstreams without guardrails of their own
    /// (OpenAI-compatible providers). Without it, such upstreams never serve guarded calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_in: Option<ApplyIn>,
}

fn draft() -> String {
    "DRAFT".to_string()
}

/// Bedrock's guardrail trace setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailTrace {
    #[default]
    Disabled,
    Enabled,
    EnabledFull,
}

impl GuardrailTrace {
    /// Converse's spelling.
    pub fn converse(self) -> &'static str {
        match self {
            GuardrailTrace::Disabled => "disabled",
            GuardrailTrace::Enabled => "enabled",
            GuardrailTrace::EnabledFull => "enabled_full",
        }
    }

    /// InvokeModel's `X-Amzn-Bedrock-Trace`.
    pub fn header(self) -> &'static str {
        match self {
            GuardrailTrace::Disabled => "DISABLED",
            GuardrailTrace::Enabled | GuardrailTrace::EnabledFull => "ENABLED",
        }
    }
}

/// An account and region, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyIn {
    pub account: String,
    pub region: Region,
}

/// A checked guardrail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrail {
    pub name: String,
    /// Name, ID or ARN of the Bedrock guardrail.
    pub identifier: String,
    pub version: String,
    pub trace: GuardrailTrace,
    /// (account index, region) for `ApplyGuardrail`.
    pub apply_in: Option<(usize, Region)>,
}

fn valid_version(v: &str) -> bool {
    v == "DRAFT" || (!v.is_empty() && v.len() <= 8 && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks `guardrails:`; returns them with an index by name.
pub fn check_guardrails(
    written: &[GuardrailConfig],
    accounts: &HashMap<String, usize>,
    problems: &mut Vec<String>,
) -> (Vec<Arc<Guardrail>>, HashMap<String, usize>) {
    let mut out = Vec::new();
    let mut by_name = HashMap::new();
    for (i, g) in written.iter().enumerate() {
        let at = format!("guardrails[{i}]");
        if g.name.is_empty() {
            problems.push(format!("{at}.name: must not be empty"));
        }
        if by_name.insert(g.name.clone(), i).is_some() {
            problems.push(format!("{at}.name: '{}' is used twice", g.name));
        }
        if g.guardrail.is_empty() || g.guardrail.len() > 2048 {
            problems.push(format!("{at}.guardrail: a guardrail name, ID or ARN"));
        }
        if !valid_version(&g.version) {
            problems.push(format!(
                "{at}.version: '{}' must be DRAFT or a version number (1, 2, …)",
                g.version
            ));
        }
        let apply_in = g.apply_in.as_ref().and_then(|a| match accounts.get(&a.account) {
            Some(&account) => Some((account, a.region.clone())),
            None => {
                problems.push(format!(
                    "{at}.apply_in.account: unknown account '{}' (known: {})",
                    a.account,
                    super::known(accounts.keys().map(String::as_str))
                ));
                None
            }
        });
        out.push(Arc::new(Guardrail {
            name: g.name.clone(),
            identifier: g.guardrail.clone(),
            version: g.version.clone(),
            trace: g.trace,
            apply_in,
        }));
    }
    (out, by_name)
}

/// The guardrail a tenant or model names, as an index (a problem if it is unknown).
pub fn reference(
    name: Option<&str>,
    at: &str,
    by_name: &HashMap<String, usize>,
    problems: &mut Vec<String>,
) -> Option<usize> {
    let name = name?;
    match by_name.get(name) {
        Some(&i) => Some(i),
        None => {
            problems.push(format!(
                "{at}.guardrail: unknown guardrail '{name}' (known: {})",
                super::known(by_name.keys().map(String::as_str))
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrails_are_checked_and_indexed() {
        let accounts = HashMap::from([("prod-us".to_string(), 0usize)]);
        let written: Vec<GuardrailConfig> = serde_saphyr::from_str(
            "- {name: a, guardrail: demo, version: '1', trace: enabled, apply_in: {account: prod-us, region: us-east-1}}\n- {name: b, guardrail: x, version: '01'}\n- {name: a, guardrail: y, apply_in: {account: nope, region: us-east-1}}\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        let (all, by_name) = check_guardrails(&written, &accounts, &mut problems);
        assert_eq!(
            all[0].apply_in.as_ref().map(|(a, r)| (*a, r.as_str())),
            Some((0, "us-east-1"))
        );
        assert_eq!(all[0].trace.converse(), "enabled");
        assert_eq!(all[1].version, "01");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(reference(Some("a"), "tenants[0]", &by_name, &mut problems), Some(2));
        assert_eq!(reference(Some("zz"), "tenants[0]", &by_name, &mut problems), None);
        assert_eq!(reference(None, "tenants[0]", &by_name, &mut problems), None);
        assert_eq!(problems.len(), 4);
    }
}
