//! Custom models: cold start and keep-warm. Two imported models, made cold: apexguru (Qwen 13B,
//! us-east-1) with `keep_warm`, eu-support (Llama 8B, eu-central-1) without. The emulator runs
//! 100 × faster than real time (`time_scale: 0.01`: a 13B load takes 0.72 s) and evicts a model
//! idle for 1 s. Promised: requests meeting a cold model wait for its load and all succeed; over
//! an idle period longer than the eviction window keep-warm keeps apexguru warm (the next
//! requests meet no cold start) while eu-support is evicted and cold-starts again.

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{expect_eq, staged, table, Outcome, Stage};

const KEY: &str = "sk-scenario-coldstart";
const REQUESTS: usize = 5;
/// The emulator's imported-model IDs (built-in fleet).
const KEPT_WARM: (&str, &str) = ("apexguru", "apxqwenuse01");
const NOT_KEPT: (&str, &str) = ("eu-support", "llama8beuc01");
/// Longer than the eviction window (100 s × time_scale 0.01 = 1 s).
const IDLE: Duration = Duration::from_millis(2500);

const CONFIG: &str = r#"
models:
  - name: apexguru
    keep_warm: {interval_ms: 300}
    discover: {imported_model: apexguru-qwen, regions: [us-east-1]}
  - name: eu-support
    discover: {imported_model: eu-support-llama-8b}
tenants:
  - name: lab
    keys: [sk-scenario-coldstart]
    residency: [any]
    route_detail: full
routing:
  cold_start: {budget_ms: 30000, base_delay_ms: 50, max_delay_ms: 200}
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    let settings = json!({"time_scale": 0.01, "eviction_idle_seconds": 100});
    staged(CONFIG, Some(settings), experiment).await
}

/// One imported model's row in `/_sim/stats`.
async fn model_row(stage: &Stage, id: &str) -> anyhow::Result<Value> {
    let stats = stage.sim_get("/_sim/stats").await?;
    stats["imported_models"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == id).cloned())
        .ok_or_else(|| anyhow::anyhow!("the emulator's stats have no imported model {id}"))
}

fn refusals(row: &Value) -> u64 {
    row["cold_start_refusals"].as_u64().unwrap_or(0)
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let body = json!({"prompt": "Say hello.", "max_gen_len": 8});
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    let mut models = serde_json::Map::new();
    for (name, id) in [KEPT_WARM, NOT_KEPT] {
        stage
            .sim_post("/_sim/custom-models/evict", json!({"model": id}))
            .await?;
        let before = refusals(&model_row(stage, id).await?);
        let cold = stage.invoke_together(KEY, name, REQUESTS, body.clone()).await?;
        let after_cold = model_row(stage, id).await?;
        let cold_ok = cold.iter().filter(|r| r.ok()).count();
        expect_eq(
            &mut problems,
            &format!("{name}: requests through the cold start that succeeded"),
            cold_ok,
            REQUESTS,
        );
        if refusals(&after_cold) == before {
            problems.push(format!("{name}: evicted, yet no call met a cold start"));
        }
        models.insert(
            name.to_string(),
            json!({"cold_start": {"total": REQUESTS, "succeeded": cold_ok, "cold_start_refusals": refusals(&after_cold) - before}}),
        );
    }

    // The idle period: nobody calls; keep-warm may.
    tokio::time::sleep(IDLE).await;

    for (name, id) in [KEPT_WARM, NOT_KEPT] {
        let idle_row = model_row(stage, id).await?;
        let state_after_idle = idle_row["state"].as_str().unwrap_or("?").to_string();
        let before = refusals(&idle_row);
        let warm = stage.invoke_together(KEY, name, REQUESTS, body.clone()).await?;
        let after = model_row(stage, id).await?;
        let ok = warm.iter().filter(|r| r.ok()).count();
        let new_refusals = refusals(&after) - before;
        let kept = name == KEPT_WARM.0;
        expect_eq(
            &mut problems,
            &format!("{name}: requests after the idle period that succeeded"),
            ok,
            REQUESTS,
        );
        if kept {
            expect_eq(
                &mut problems,
                &format!("{name} (keep-warm): state after the idle period"),
                state_after_idle.as_str(),
                "warm",
            );
            expect_eq(
                &mut problems,
                &format!("{name} (keep-warm): cold starts met after the idle period"),
                new_refusals,
                0,
            );
        } else {
            expect_eq(
                &mut problems,
                &format!("{name} (no keep-warm): state after the idle period"),
                state_after_idle.as_str(),
                "cold",
            );
            if new_refusals == 0 {
                problems.push(format!("{name} (no keep-warm): evicted, yet no call met a cold start"));
            }
        }
        let cold = &models[name]["cold_start"];
        rows.push(vec![
            name.to_string(),
            if kept { "every 300 ms" } else { "off" }.to_string(),
            format!("{}/{REQUESTS}", cold["succeeded"]),
            cold["cold_start_refusals"].to_string(),
            state_after_idle.clone(),
            format!("{ok}/{REQUESTS}"),
            new_refusals.to_string(),
        ]);
        if let Some(entry) = models.get_mut(name).and_then(Value::as_object_mut) {
            entry.insert("keep_warm".into(), kept.into());
            entry.insert("state_after_idle".into(), state_after_idle.into());
            entry.insert(
                "after_idle".into(),
                json!({"total": REQUESTS, "succeeded": ok, "cold_start_refusals": new_refusals}),
            );
            entry.insert("invocations".into(), after["invocations"].clone());
        }
    }

    let mut text = format!(
        "Custom models: cold start and keep-warm ({REQUESTS} concurrent InvokeModel calls per step;\n\
         emulator at time_scale 0.01: 13B load 0.72 s, eviction after 1 s idle; idle period {} ms)\n\n",
        IDLE.as_millis()
    );
    text.push_str(&table(
        "Evicted, then called; idle; called again",
        &[
            "Model",
            "Keep-warm",
            "Cold: ok",
            "Cold starts met",
            "After idle",
            "Then: ok",
            "Cold starts met",
        ],
        &rows,
    ));
    Ok(Outcome {
        json: json!({"models": models, "idle_ms": IDLE.as_millis() as u64}),
        table: text,
        problems,
    })
}
