//! The `telemetry:` section: OpenTelemetry traces over OTLP/HTTP (off unless the section or the
//! standard `OTEL_EXPORTER_OTLP_*` variables ask for them; see [`crate::traces`]). Read at start
//! only: a change takes effect at restart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `telemetry:` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Traces over OTLP; absent: off (unless `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TracesConfig>,
}

/// `telemetry.traces:` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// `false` turns traces off even when the `OTEL_*` variables are set (default: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The collector's base URL (`http://127.0.0.1:4318`); spans go to `{it}/v1/traces`.
    /// Absent: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (+ `/v1/traces`), else `http://localhost:4318/v1/traces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Only `http/protobuf` is built in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The `service.name` resource attribute (absent: `OTEL_SERVICE_NAME`, else `strata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The share of new traces kept, 0.0 to 1.0 (default 1.0); a caller's sampled
    /// `traceparent` is followed either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_ratio: Option<f64>,
    /// Headers sent with every export (an API key for a hosted collector, say).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// The only OTLP protocol built in.
pub const HTTP_PROTOBUF: &str = "http/protobuf";

/// The checked `telemetry.traces` section.
#[derive(Debug, Clone, PartialEq)]
pub struct TracesSettings {
    /// `false`: off, whatever the `OTEL_*` variables say.
    pub enabled: bool,
    /// Where spans are posted (the full URL, `/v1/traces` included); `None`: from the
    /// environment, else the OTLP default.
    pub endpoint: Option<String>,
    pub service_name: Option<String>,
    pub sample_ratio: f64,
    pub headers: Vec<(String, String)>,
}

impl Default for TracesSettings {
    fn default() -> Self {
        TracesSettings {
            enabled: true,
            endpoint: None,
            service_name: None,
            sample_ratio: 1.0,
            headers: Vec::new(),
        }
    }
}

/// Checks `telemetry:` (every problem named by its path): `None` when the section has no
/// `traces`.
pub(super) fn check(telemetry: &TelemetryConfig, problems: &mut Vec<String>) -> Option<TracesSettings> {
    let traces = telemetry.traces.as_ref()?;
    let mut settings = TracesSettings::default();
    if let Some(endpoint) = &traces.otlp_endpoint {
        match traces_url(endpoint) {
            Ok(url) => settings.endpoint = Some(url),
            Err(why) => problems.push(format!("telemetry.traces.otlp_endpoint: '{endpoint}' {why}")),
        }
    }
    if let Some(p) = traces.protocol.as_deref().filter(|p| *p != HTTP_PROTOBUF) {
        problems.push(format!(
            "telemetry.traces.protocol: '{p}' is not supported; only '{HTTP_PROTOBUF}' is built in"
        ));
    }
    match traces.sample_ratio {
        Some(r) if !(0.0..=1.0).contains(&r) => {
            problems.push(format!("telemetry.traces.sample_ratio: {r} must be from 0.0 to 1.0"));
        }
        Some(r) => settings.sample_ratio = r,
        None => {}
    }
    match traces.service_name.as_deref() {
        Some("") => problems.push("telemetry.traces.service_name: must not be empty".into()),
        name => settings.service_name = name.map(str::to_string),
    }
    for (name, value) in &traces.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push(format!("telemetry.traces.headers: '{name}' is not a header name"));
        } else if http::HeaderValue::from_str(value).is_err() {
            problems.push(format!(
                "telemetry.traces.headers.{name}: the value is not a valid header value"
            ));
        } else {
            settings.headers.push((name.clone(), value.clone()));
        }
    }
    settings.enabled = traces.enabled != Some(false);
    Some(settings)
}

/// The OTLP/HTTP traces URL for a collector's base URL: `http(s)://host[:port][/prefix]` +
/// `/v1/traces` (as `OTEL_EXPORTER_OTLP_ENDPOINT` is read); a URL already ending in
/// `/v1/traces` is kept.
pub fn traces_url(base: &str) -> Result<String, &'static str> {
    let uri: http::Uri = base.parse().map_err(|_| "is not a URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if uri.query().is_some() {
        return Err("must not have a query");
    }
    let base = base.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(section: &str) -> Result<crate::config::Config, String> {
        let text = format!("listen: 127.0.0.1:8080\n{section}");
        crate::config::from_text(&text, "t.yaml", |_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn traces_are_off_unless_configured() {
        assert_eq!(load("").unwrap().traces, None);
        assert_eq!(load("telemetry: {}\n").unwrap().traces, None);
        let off = "telemetry:\n  traces: {enabled: false, otlp_endpoint: 'http://c:4318'}\n";
        assert!(!load(off).unwrap().traces.unwrap().enabled);
        assert_eq!(
            load("telemetry: {traces: {}}\n").unwrap().traces,
            Some(TracesSettings::default())
        );
    }

    #[test]
    fn the_section_is_read() {
        let config = load(
            "telemetry:\n  traces:\n    otlp_endpoint: https://otel.example:4318/\n    protocol: http/protobuf\n    \
             service_name: gw\n    sample_ratio: 0.25\n    headers: {x-api-key: k}\n",
        )
        .unwrap();
        let t = config.traces.unwrap();
        assert_eq!(t.endpoint.as_deref(), Some("https://otel.example:4318/v1/traces"));
        assert_eq!(t.service_name.as_deref(), Some("gw"));
        assert_eq!(t.sample_ratio, 0.25);
        assert_eq!(t.headers, vec![("x-api-key".to_string(), "k".to_string())]);
    }

    #[test]
    fn problems_name_their_field() {
        let err = load(
            "telemetry:\n  traces:\n    otlp_endpoint: 'collector:4318'\n    protocol: grpc\n    \
             sample_ratio: 1.5\n    headers: {'bad name': v}\n",
        )
        .unwrap_err();
        for field in [
            "telemetry.traces.otlp_endpoint: 'collector:4318' must start with http:// or https://",
            "telemetry.traces.protocol: 'grpc'",
            "telemetry.traces.sample_ratio: 1.5",
            "telemetry.traces.headers: 'bad name'",
        ] {
            assert!(err.contains(field), "{field} in {err}");
        }
        let err = load("telemetry:\n  traces: {otlp_endpoint: 'http://'}\n").unwrap_err();
        assert!(err.contains("telemetry.traces.otlp_endpoint"), "{err}");
        let err = load("telemetry:\n  traces: {endpoint: 'http://c'}\n").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn a_full_traces_url_is_kept() {
        assert_eq!(
            traces_url("http://c:4318/v1/traces").as_deref(),
            Ok("http://c:4318/v1/traces")
        );
        assert_eq!(traces_url("http://c/otlp").as_deref(), Ok("http://c/otlp/v1/traces"));
    }
}
