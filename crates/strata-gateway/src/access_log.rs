//! The access log: one line per request, written by the account layer from a [`Line`] — in the
//! shape of the other log lines (`text`) or as one JSON object (`json`), never with the key or
//! prompt text. With `cloudwatch_emf`, JSON lines also carry CloudWatch Embedded Metric Format
//! directives (CloudWatch Logs turns them into metrics with no agent), and every catalog
//! publication writes EMF documents of availability ([`catalog`]).
//!
//! Lines go through a channel to one thread that writes what has queued every 50 ms, so a
//! request never waits on (or pays for) a write of its own.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::config::access_log::{AccessLogConfig, AccessLogFormat};

/// The log target of access lines (`RUST_LOG=strata_usage=info` keeps only these).
pub const TARGET: &str = "strata_usage";

/// What one request was and how it ended, with names (never indexes, keys or text).
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_region: Option<&'a str>,
    pub dialect: &'static str,
    /// The model as the client named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    /// The logical model it resolved to, and the one that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_model: Option<&'a str>,
    /// The target that answered (`account/region/model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing_layer: Option<&'static str>,
    pub status: u16,
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_source: Option<&'static str>,
    pub attempts: usize,
    /// Every attempt as `route=outcome`, comma-separated.
    pub targets: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// In nano-USD (`cost_usd` in JSON).
    #[serde(rename = "cost_usd", serialize_with = "usd", skip_serializing_if = "Option::is_none")]
    pub cost_nanos: Option<u64>,
    #[serde(rename = "ttft_ms", serialize_with = "ms", skip_serializing_if = "Option::is_none")]
    pub first_token: Option<Duration>,
    #[serde(rename = "ttlt_ms", serialize_with = "ms", skip_serializing_if = "Option::is_none")]
    pub last_token: Option<Duration>,
    #[serde(rename = "duration_ms", serialize_with = "ms_always")]
    pub duration: Duration,
    #[serde(
        rename = "cold_start_ms",
        serialize_with = "ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub cold_start: Option<Duration>,
    pub fallback: bool,
    pub baseline: bool,
    pub usage_estimated: bool,
    pub disconnected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<&'static str>,
}

/// Writes a request's line as the config says (nothing with `format: off`, or when the log
/// filter leaves out [`TARGET`]).
pub fn request(config: &AccessLogConfig, line: &Line<'_>) {
    if config.format == AccessLogFormat::Off || !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    let text = match (config.format, &config.cloudwatch_emf) {
        (AccessLogFormat::Json, Some(emf)) => json(&with_emf(line, &emf.namespace)),
        (AccessLogFormat::Json, None) => json(line),
        _ => text(line),
    };
    writer::write(config.output(), text);
}

/// One JSON object and a newline, `time` first.
fn json(value: &impl Serialize) -> String {
    let mut out = String::with_capacity(768);
    out.push_str("{\"time\":\"");
    timestamp(&mut out);
    out.push_str("\",\"level\":\"INFO\",\"target\":\"");
    out.push_str(TARGET);
    out.push_str("\",\"message\":\"request done\",");
    match serde_json::to_string(value) {
        // The value's own object without its opening brace continues ours.
        Ok(body) if body.len() > 2 => out.push_str(&body[1..]),
        _ => {
            out.pop();
            out.push('}');
        }
    }
    out.push('\n');
    out
}

/// The line in the shape of the other log lines (`time  INFO target: message key=value…`,
/// strings quoted), written by hand: the generic field formatting cost more than the rest of a
/// relayed request.
fn text(l: &Line<'_>) -> String {
    let mut line = String::with_capacity(512);
    timestamp(&mut line);
    line.push_str("  INFO ");
    line.push_str(TARGET);
    line.push_str(": request done request_id=");
    line.push_str(l.request_id);
    field(&mut line, "tenant", l.tenant);
    field(&mut line, "key_id", l.key_id);
    field(&mut line, "signed_region", l.signed_region);
    field(&mut line, "dialect", Some(l.dialect));
    field(&mut line, "model", l.model);
    field(&mut line, "served_model", l.served_model);
    // Numbers through itoa, not write!: the formatting machinery cost ~2.5k instructions a line.
    number(&mut line, " status=", l.status);
    field(&mut line, "outcome", Some(l.outcome));
    field(&mut line, "error_class", l.error_class);
    field(&mut line, "error_source", l.error_source);
    number(&mut line, " attempts=", l.attempts);
    line.push_str(" targets=");
    line.push_str(l.targets);
    if let (Some(i), Some(o)) = (l.input_tokens, l.output_tokens) {
        number(&mut line, " tokens_in=", i);
        number(&mut line, " tokens_out=", o);
    }
    for (name, d) in [
        (" ttft_ms=", l.first_token),
        (" ttlt_ms=", l.last_token),
        (" duration_ms=", Some(l.duration)),
    ] {
        if let Some(d) = d {
            // Milliseconds with three decimals, from whole microseconds (no float formatting).
            let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            number(&mut line, name, us / 1000);
            line.push('.');
            strata_core::clock::push_digits(&mut line, us % 1000, 3);
        }
    }
    let flag = |b: bool| if b { "true" } else { "false" };
    for (name, value) in [
        (" fallback=", l.fallback),
        (" baseline=", l.baseline),
        (" usage_estimated=", l.usage_estimated),
        (" disconnected=", l.disconnected),
    ] {
        line.push_str(name);
        line.push_str(flag(value));
    }
    line.push('\n');
    line
}

/// `name` (with its leading blank and `=`) and the number.
fn number(line: &mut String, name: &str, n: impl itoa::Integer) {
    line.push_str(name);
    line.push_str(itoa::Buffer::new().format(n));
}

/// ` name="value"`, when there is a value.
fn field(line: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        line.push(' ');
        line.push_str(name);
        line.push('=');
        quoted(line, v);
    }
}

/// A string value in double quotes, escaped as `{:?}` would (the common case, plain printable
/// ASCII, copied as it is).
fn quoted(line: &mut String, value: &str) {
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        line.push('"');
        line.push_str(value);
        line.push('"');
    } else {
        let _ = write!(line, "{value:?}");
    }
}

fn ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms_always(d, s),
        None => s.serialize_none(),
    }
}

/// Milliseconds, to the microsecond.
fn ms_always<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_micros() as f64 / 1000.0)
}

fn usd<S: Serializer>(nanos: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match nanos {
        Some(n) => s.serialize_f64(*n as f64 / 1e9),
        None => s.serialize_none(),
    }
}

// ---- CloudWatch Embedded Metric Format --------------------------------------------------------

/// The `_aws` member: when, and which of the document's members are metrics under which
/// dimensions.
#[derive(Debug, Serialize)]
struct Aws<'a> {
    #[serde(rename = "Timestamp")]
    timestamp: i64,
    #[serde(rename = "CloudWatchMetrics")]
    metrics: [Directive<'a>; 1],
}

#[derive(Debug, Serialize)]
struct Directive<'a> {
    #[serde(rename = "Namespace")]
    namespace: &'a str,
    #[serde(rename = "Dimensions")]
    dimensions: &'static [&'static [&'static str]],
    #[serde(rename = "Metrics")]
    metrics: Vec<Metric>,
}

#[derive(Debug, Serialize)]
struct Metric {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Unit")]
    unit: &'static str,
}

/// A request line with EMF: requests, errors, latency, time to first token, tokens, cost and
/// fallbacks by model, and by model and tenant.
#[derive(Debug, Serialize)]
struct EmfRequest<'a, 'l> {
    #[serde(flatten)]
    line: &'a Line<'l>,
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    #[serde(rename = "Model")]
    model_dimension: &'a str,
    #[serde(rename = "Tenant")]
    tenant_dimension: &'a str,
    #[serde(rename = "Requests")]
    requests: u8,
    #[serde(rename = "Errors")]
    errors: u8,
    #[serde(rename = "Fallbacks")]
    fallbacks: u8,
    #[serde(rename = "Latency")]
    latency: f64,
    #[serde(rename = "TimeToFirstToken", skip_serializing_if = "Option::is_none")]
    first_token: Option<f64>,
    #[serde(rename = "InputTokens", skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(rename = "OutputTokens", skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    #[serde(rename = "CostUSD", skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
}

/// The dimension sets request metrics are published under.
const REQUEST_DIMENSIONS: &[&[&str]] = &[&["Model"], &["Model", "Tenant"]];

fn with_emf<'a, 'l>(line: &'a Line<'l>, namespace: &'a str) -> EmfRequest<'a, 'l> {
    let millis = |d: Duration| d.as_micros() as f64 / 1000.0;
    let mut doc = EmfRequest {
        line,
        aws: Aws {
            timestamp: crate::tenants::keys::now_ms(),
            metrics: [Directive {
                namespace,
                dimensions: REQUEST_DIMENSIONS,
                metrics: Vec::new(),
            }],
        },
        model_dimension: line.logical_model.or(line.model).unwrap_or("-"),
        tenant_dimension: line.tenant.unwrap_or("-"),
        requests: 1,
        errors: u8::from(line.error_class.is_some()),
        fallbacks: u8::from(line.fallback || line.baseline),
        latency: millis(line.duration),
        first_token: line.first_token.map(millis),
        input_tokens: line.input_tokens,
        output_tokens: line.output_tokens,
        cost: line.cost_nanos.map(|n| n as f64 / 1e9),
    };
    // Only members the document has are named as metrics.
    let mut metrics = vec![
        Metric {
            name: "Requests",
            unit: "Count",
        },
        Metric {
            name: "Errors",
            unit: "Count",
        },
        Metric {
            name: "Fallbacks",
            unit: "Count",
        },
        Metric {
            name: "Latency",
            unit: "Milliseconds",
        },
    ];
    if doc.first_token.is_some() {
        metrics.push(Metric {
            name: "TimeToFirstToken",
            unit: "Milliseconds",
        });
    }
    if doc.input_tokens.is_some() {
        metrics.push(Metric {
            name: "InputTokens",
            unit: "Count",
        });
        metrics.push(Metric {
            name: "OutputTokens",
            unit: "Count",
        });
    }
    if doc.cost.is_some() {
        metrics.push(Metric {
            name: "CostUSD",
            unit: "None",
        });
    }
    doc.aws.metrics[0].metrics = metrics;
    doc
}

/// One account × region of a catalog publication.
#[derive(Debug, Serialize)]
struct EmfScan<'a> {
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    #[serde(rename = "Account")]
    account: &'a str,
    #[serde(rename = "Region")]
    region: &'a str,
    #[serde(rename = "ModelsAvailable")]
    models: usize,
    #[serde(rename = "ProfilesAvailable")]
    profiles: usize,
    #[serde(rename = "ImportedModels")]
    imported: usize,
    #[serde(rename = "CatalogAgeSeconds")]
    age: u64,
    #[serde(rename = "ScanStale")]
    stale: u8,
}

/// One model in one region, merged across accounts.
#[derive(Debug, Serialize)]
struct EmfModel<'a> {
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    #[serde(rename = "Region")]
    region: &'a str,
    #[serde(rename = "Model")]
    model: &'a str,
    #[serde(rename = "ModelAvailable")]
    available: u8,
    #[serde(rename = "AccountsAvailable")]
    accounts: usize,
}

/// A catalog was published: with `cloudwatch_emf`, one EMF document per account × region
/// (models, profiles and imported models available, the catalog's age, whether the scan is
/// stale) and one per region × model id (available to any account, and to how many).
pub fn catalog(config: &AccessLogConfig, catalog: &strata_core::Catalog) {
    let Some(emf) = &config.cloudwatch_emf else {
        return;
    };
    let now = strata_discovery::unix_now();
    let timestamp = crate::tenants::keys::now_ms();
    let directive = |dimensions, metrics| Aws {
        timestamp,
        metrics: [Directive {
            namespace: &emf.namespace,
            dimensions,
            metrics,
        }],
    };
    let mut out = String::new();
    let mut merged: std::collections::BTreeMap<(String, &str), usize> = Default::default();
    for scan in catalog.scans() {
        let region = scan.region.to_string();
        let models = scan
            .models
            .keys()
            .filter(|id| scan.availability(id).invocable())
            .inspect(|id| *merged.entry((region.clone(), id.as_str())).or_default() += 1)
            .count();
        for id in scan.models.keys() {
            merged.entry((region.clone(), id.as_str())).or_default();
        }
        let doc = EmfScan {
            aws: directive(
                &[&["Account", "Region"]],
                vec![
                    Metric {
                        name: "ModelsAvailable",
                        unit: "Count",
                    },
                    Metric {
                        name: "ProfilesAvailable",
                        unit: "Count",
                    },
                    Metric {
                        name: "ImportedModels",
                        unit: "Count",
                    },
                    Metric {
                        name: "CatalogAgeSeconds",
                        unit: "Seconds",
                    },
                    Metric {
                        name: "ScanStale",
                        unit: "Count",
                    },
                ],
            ),
            account: &scan.account,
            region: &region,
            models,
            profiles: scan.profiles.values().filter(|p| p.status == "ACTIVE").count(),
            imported: scan.imported.models().map_or(0, |m| m.len()),
            age: if scan.has_data() {
                now.saturating_sub(scan.scanned_at)
            } else {
                0
            },
            stale: u8::from(!matches!(scan.freshness, strata_core::Freshness::Fresh)),
        };
        push_json(&mut out, &doc);
    }
    for ((region, model), accounts) in &merged {
        let doc = EmfModel {
            aws: directive(
                &[&["Region", "Model"]],
                vec![
                    Metric {
                        name: "ModelAvailable",
                        unit: "Count",
                    },
                    Metric {
                        name: "AccountsAvailable",
                        unit: "Count",
                    },
                ],
            ),
            region,
            model,
            available: u8::from(*accounts > 0),
            accounts: *accounts,
        };
        push_json(&mut out, &doc);
    }
    if !out.is_empty() {
        writer::write(config.output(), out);
    }
}

fn push_json(out: &mut String, value: &impl Serialize) {
    if let Ok(s) = serde_json::to_string(value) {
        out.push_str(&s);
        out.push('\n');
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC), like the other log lines.
fn timestamp(out: &mut String) {
    use std::cell::RefCell;
    use strata_core::clock::push_digits;
    thread_local! {
        /// The last second written on this thread, and its `YYYY-MM-DDTHH:MM:SS`: the calendar
        /// is worked out once a second, not once a line (~1.2k instructions of every request).
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != since.as_secs() {
            let (year, month, day, hour, minute, sec) = strata_core::clock::utc_parts(now);
            text.clear();
            // Digit by digit: through write! this was ~2k instructions per line.
            push_digits(text, year.unsigned_abs(), 4);
            for (sep, part) in [('-', month.unsigned_abs()), ('-', day.unsigned_abs())] {
                text.push(sep);
                push_digits(text, part, 2);
            }
            for (sep, part) in [('T', hour), (':', minute), (':', sec)] {
                text.push(sep);
                push_digits(text, part, 2);
            }
            *second = since.as_secs();
        }
        out.push_str(text);
    });
    out.push('.');
    push_digits(out, u64::from(since.subsec_micros()), 6);
    out.push('Z');
}

/// Writes out the lines still queued (at shutdown: the writer thread only wakes every 50 ms, and
/// the process must not exit with the last requests' lines unwritten). Blocks for at most
/// `deadline`.
pub fn flush(deadline: std::time::Duration) {
    writer::flush(deadline);
}

/// The one writer thread. Its output is the first one asked for (the config at start).
mod writer {
    use std::io::Write;
    use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender, TryRecvError};
    use std::sync::OnceLock;
    use std::time::Duration;

    use crate::config::access_log::Output;

    /// How often queued lines are written.
    const FLUSH_EVERY: Duration = Duration::from_millis(50);

    /// What the writer thread is handed.
    enum Message {
        Line(String),
        /// Write out everything queued before this, then answer.
        Flush(SyncSender<()>),
    }

    static SENDER: OnceLock<Option<Sender<Message>>> = OnceLock::new();

    fn open(output: &Output) -> Box<dyn Write + Send> {
        match output {
            Output::Stderr => Box::new(std::io::stderr()),
            Output::Stdout => Box::new(std::io::stdout()),
            Output::File(path) => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "access log: cannot open the file; writing to stderr");
                    Box::new(std::io::stderr())
                }
            },
        }
    }

    /// Queues a line (written at once if the writer thread could not start).
    pub fn write(output: Output, line: String) {
        let sender = SENDER.get_or_init(|| {
            let (tx, rx) = channel::<Message>();
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, open(&output));
            std::thread::Builder::new()
                .name("strata-access-log".into())
                .spawn(move || loop {
                    // Woken by a timer, never by a sender: a send then costs no system call,
                    // and a batch of lines is one write.
                    std::thread::sleep(FLUSH_EVERY);
                    let mut wrote = false;
                    loop {
                        match rx.try_recv() {
                            Ok(Message::Line(line)) => {
                                let _ = out.write_all(line.as_bytes());
                                wrote = true;
                            }
                            Ok(Message::Flush(done)) => {
                                let _ = out.flush();
                                let _ = done.send(());
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => {
                                let _ = out.flush();
                                return;
                            }
                        }
                    }
                    if wrote {
                        let _ = out.flush();
                    }
                })
                .ok()
                .map(|_| tx)
        });
        let line = match sender {
            Some(tx) => match tx.send(Message::Line(line)) {
                Ok(()) => return,
                Err(unsent) => match unsent.0 {
                    Message::Line(line) => line,
                    Message::Flush(_) => return,
                },
            },
            None => line,
        };
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// Waits until the writer thread has written what was queued before this call.
    pub fn flush(deadline: Duration) {
        let Some(Some(tx)) = SENDER.get() else {
            return;
        };
        let (done, written) = sync_channel(1);
        if tx.send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line<'static> {
        Line {
            request_id: "req-1",
            tenant: Some("eu-bank"),
            key_id: Some("eu-bank/key-1"),
            signed_region: None,
            dialect: "openai",
            model: Some("claude"),
            logical_model: Some("claude"),
            served_model: Some("claude"),
            route: Some("prod-eu/eu-west-1/eu.anthropic.x"),
            pricing_layer: Some("geography"),
            status: 200,
            outcome: "ok",
            error_class: None,
            error_source: None,
            attempts: 1,
            targets: "prod-eu/eu-west-1/eu.anthropic.x=ok",
            input_tokens: Some(12),
            output_tokens: Some(5),
            cache_read_tokens: Some(0),
            cache_write_tokens: Some(0),
            cost_nanos: Some(90_000),
            first_token: Some(Duration::from_micros(12_345)),
            last_token: Some(Duration::from_micros(20_000)),
            duration: Duration::from_micros(20_500),
            cold_start: None,
            fallback: false,
            baseline: false,
            usage_estimated: false,
            disconnected: false,
            guardrail: None,
        }
    }

    #[test]
    fn values_are_quoted_like_debug() {
        for v in ["plain", "with \"quote\"", "new\nline", "é"] {
            let mut s = String::new();
            quoted(&mut s, v);
            assert_eq!(s, format!("{v:?}"));
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut s = String::new();
        timestamp(&mut s);
        assert_eq!(s.len(), 27, "{s}");
        assert!(
            s.starts_with("20") && s.ends_with('Z') && s.as_bytes()[10] == b'T',
            "{s}"
        );
        // The second's text is kept between lines: the next line's agrees with the clock.
        let date = || {
            let (year, month, day, ..) = strata_core::clock::utc_parts(std::time::SystemTime::now());
            format!("{year:04}-{month:02}-{day:02}T")
        };
        let before = date();
        let mut again = String::new();
        timestamp(&mut again);
        let after = date();
        assert!(again.starts_with(&before) || again.starts_with(&after), "{again}");
        assert!(again.as_str() >= s.as_str(), "{again} after {s}");
    }

    #[test]
    fn text_lines_keep_their_key_value_shape() {
        let t = text(&line());
        assert!(
            t.contains("INFO strata_usage: request done request_id=req-1 tenant=\"eu-bank\""),
            "{t}"
        );
        assert!(
            t.contains(" tokens_in=12 tokens_out=5 ttft_ms=12.345 ttlt_ms=20.000 duration_ms=20.500"),
            "{t}"
        );
        assert!(t.ends_with("disconnected=false\n"), "{t}");
    }

    #[test]
    fn json_lines_are_one_object_with_time_first() {
        let j = json(&line());
        assert!(j.starts_with("{\"time\":\"20") && j.ends_with("}\n"), "{j}");
        let v: serde_json::Value = serde_json::from_str(&j).expect("json");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["tenant"], "eu-bank");
        assert_eq!(v["route"], "prod-eu/eu-west-1/eu.anthropic.x");
        assert_eq!(v["ttft_ms"], 12.345);
        assert_eq!(v["cost_usd"], 0.00009);
        assert_eq!(v["input_tokens"], 12);
        assert!(v.get("error_class").is_none() && v.get("cold_start_ms").is_none());
    }

    #[test]
    fn emf_names_only_members_the_document_has() {
        let mut l = line();
        l.first_token = None;
        l.cost_nanos = None;
        let j = json(&with_emf(&l, "Strata"));
        let v: serde_json::Value = serde_json::from_str(&j).expect("json");
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Strata");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Model"], ["Model", "Tenant"]])
        );
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        for name in &names {
            assert!(v.get(*name).is_some_and(serde_json::Value::is_number), "{name} in {j}");
        }
        assert!(
            !names.contains(&"TimeToFirstToken") && !names.contains(&"CostUSD"),
            "{names:?}"
        );
        assert_eq!(
            (v["Model"].as_str(), v["Tenant"].as_str()),
            (Some("claude"), Some("eu-bank"))
        );
        assert!(v["_aws"]["Timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000));
    }
}
