//! `strata bench --concurrency 1,2 --json` against a real emulator: the sweep's JSON has the
//! seed's fields, and the output tokens it read match what the emulator answered. Nothing here
//! asserts on speed.

use std::process::Command;

use serde_json::{json, Value};

use crate::sim_process::Sim;

/// prod-us's Bedrock API key in the default fleet.
const API_KEY: &str = "ABSKcHJvZC11cy1hcGkta2V5LTAwMDE=";

fn bench(sim: &Sim, path: &str, body: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", &format!("{}{path}", sim.url)])
        .args(["--concurrency", "1,2", "--duration", "1", "--warmup", "0.2", "--json"])
        .args(["-H", &format!("authorization: Bearer {API_KEY}")])
        .args(["-H", "content-type: application/json", "--body", body])
        .output()
        .expect("run strata bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // stderr is not a terminal here: no progress bar may leak into it.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("concurrency"));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn sweep_json_has_the_seeds_fields() {
    let sim = Sim::start();
    sim.admin_post(
        "/_sim/quotas",
        &json!({"account": "prod-us", "region": "us-east-1", "model": "amazon.nova-pro-v1:0",
                "rpm": 100_000_000, "tpm": 2_000_000_000u64}),
    );
    let body = r#"{"messages":[{"role":"user","content":[{"text":"bench"}]}],"inferenceConfig":{"maxTokens":16}}"#;
    for path in ["converse", "converse-stream"] {
        let sweep = bench(&sim, &format!("/model/amazon.nova-pro-v1%3A0/{path}"), body);
        let steps = sweep["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 2, "{sweep}");
        for (step, concurrency) in steps.iter().zip([1, 2]) {
            assert_eq!(step["concurrency"], concurrency, "{step}");
            for field in [
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "ttft_p50_ms",
                "ttft_p95_ms",
                "ttlt_p50_ms",
                "rpm",
                "output_tokens_per_second",
            ] {
                assert!(step[field].as_f64().is_some_and(|v| v >= 0.0), "{field}: {step}");
            }
            let requests = step["requests"].as_u64().expect("requests");
            let errors = step["errors"].as_u64().expect("errors");
            let ok = step["report"]["ok"].as_u64().expect("ok");
            assert!(ok > 0, "{path}: nothing succeeded: {step}");
            assert_eq!(requests, ok + errors, "{step}");
            let by_class: u64 = step["errors_by_class"]
                .as_object()
                .expect("errors_by_class")
                .values()
                .map(|v| v.as_u64().expect("count"))
                .sum();
            assert_eq!(by_class, errors, "{step}");
            // Every answer is 16 synthetic tokens, read from the usage at the body's end.
            assert_eq!(step["report"]["counted_answers"], ok, "{path}: {step}");
            assert_eq!(step["output_tokens"].as_u64(), Some(ok * 16), "{path}: {step}");
            assert!(step["p50_ms"].as_f64() <= step["p99_ms"].as_f64(), "{step}");
            assert!(step["copies"].is_null(), "{step}");
        }
        assert!(
            sweep["time_scale"].is_null() && sweep["measured_seconds"] == 1.0,
            "{sweep}"
        );
    }
}

#[test]
fn errors_are_counted_by_class() {
    let sim = Sim::start();
    // An unknown model: every request is a 4xx, none is a success, and the run still reports.
    let sweep = bench(&sim, "/model/no.such-model-v1%3A0/converse", r#"{"messages":[]}"#);
    for step in sweep["steps"].as_array().expect("steps") {
        assert_eq!(step["report"]["ok"], 0, "{step}");
        let errors = step["errors"].as_u64().expect("errors");
        assert!(errors > 0, "{step}");
        assert_eq!(step["errors_by_class"]["client"].as_u64(), Some(errors), "{step}");
    }
}
