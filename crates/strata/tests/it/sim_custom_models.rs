//! Custom Model Import against the emulator with the typed clients: the control plane's job
//! lifecycle (create → InProgress → Completed → listed → get → invoke → delete → not found) and a
//! seeded model's cold start (ModelNotReadyException, then an answer once loaded).

use std::time::{Duration, Instant};

use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource};
use aws_sdk_bedrockruntime::primitives::Blob;
use serde_json::json;

use crate::sim_process::Sim;
use crate::sim_sdk_control_plane::bedrock_client;
use crate::sim_sdk_runtime::runtime_client;

const COLD_QWEN: &str = "arn:aws:bedrock:us-west-2:111111111111:imported-model/apxqwenusw02";

fn llama_body() -> Blob {
    Blob::new(json!({"prompt": "Summarise the release notes.", "max_gen_len": 64}).to_string())
}

#[tokio::test]
async fn an_import_job_completes_and_its_model_serves_until_deleted() {
    let sim = Sim::start();
    // Scaled time: the job's minutes pass in a fraction of a second.
    sim.admin_post("/_sim/custom-models", &json!({"time_scale": 0.001}));
    let bedrock = bedrock_client(&sim, "prod-us", "us-east-1");
    let runtime = runtime_client(&sim, "prod-us", "us-east-1");

    let created = bedrock
        .create_model_import_job()
        .job_name("import-llama-8b")
        .imported_model_name("support-llama")
        .role_arn("arn:aws:iam::111111111111:role/BedrockImport")
        .model_data_source(ModelDataSource::S3DataSource(
            S3DataSource::builder()
                .s3_uri("s3://models-bucket/support-llama-3.1-8b/")
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .expect("create job");
    let job_arn = created.job_arn().to_string();
    assert!(job_arn.starts_with("arn:aws:bedrock:us-east-1:111111111111:model-import-job/"));

    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let job = bedrock
            .get_model_import_job()
            .job_identifier(&job_arn)
            .send()
            .await
            .expect("get job");
        if job.status() == Some(&ModelImportJobStatus::Completed) {
            break job;
        }
        assert_eq!(job.status(), Some(&ModelImportJobStatus::InProgress));
        assert!(Instant::now() < deadline, "the job never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let model_arn = job.imported_model_arn().expect("model ARN").to_string();
    assert!(job.end_time().is_some());

    let listed = bedrock.list_imported_models().send().await.expect("list models");
    let summary = listed
        .model_summaries()
        .iter()
        .find(|m| m.model_arn() == model_arn)
        .expect("the imported model is listed");
    assert_eq!(summary.model_name(), "support-llama");
    assert_eq!(summary.model_architecture(), Some("llama"));
    assert_eq!(summary.instruct_supported(), Some(true));

    let got = bedrock
        .get_imported_model()
        .model_identifier("support-llama")
        .send()
        .await
        .expect("get model");
    assert_eq!(got.model_arn(), Some(model_arn.as_str()));
    assert_eq!(got.job_arn(), Some(job_arn.as_str()));
    assert_eq!(
        got.custom_model_units()
            .and_then(|u| u.custom_model_units_per_model_copy()),
        Some(1)
    );

    // A freshly imported model is preloaded: it answers at once.
    let answer = runtime
        .invoke_model()
        .model_id(&model_arn)
        .body(llama_body())
        .send()
        .await
        .expect("invoke the imported model");
    let body: serde_json::Value = serde_json::from_slice(answer.body().as_ref()).unwrap();
    assert!(body["generation"].as_str().is_some_and(|g| !g.is_empty()), "{body}");

    let jobs = bedrock.list_model_import_jobs().send().await.expect("list jobs");
    assert!(jobs.model_import_job_summaries().iter().any(|j| j.job_arn() == job_arn));

    bedrock
        .delete_imported_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .expect("delete");
    let gone = bedrock
        .get_imported_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .expect_err("deleted");
    assert!(gone.into_service_error().is_resource_not_found_exception());
    let gone = runtime
        .invoke_model()
        .model_id(&model_arn)
        .body(llama_body())
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(gone.raw_response().map(|r| r.status().as_u16()), Some(404));
}

#[tokio::test]
async fn a_cold_model_refuses_until_loaded() {
    let sim = Sim::start();
    sim.admin_post("/_sim/custom-models", &json!({"time_scale": 0.002}));
    let runtime = runtime_client(&sim, "prod-us", "us-west-2");
    let body = || Blob::new(json!({"prompt": "Find SOQL in loops.", "max_gen_len": 32}).to_string());
    let refused = runtime
        .invoke_model()
        .model_id(COLD_QWEN)
        .body(body())
        .send()
        .await
        .expect_err("cold");
    assert_eq!(refused.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert!(refused.into_service_error().is_model_not_ready_exception());
    // 13B loads in 20 + 4 × 13 = 72 emulated seconds: 0.144 s at this scale.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match runtime.invoke_model().model_id(COLD_QWEN).body(body()).send().await {
            Ok(_) => break,
            Err(e) => {
                assert!(e.into_service_error().is_model_not_ready_exception());
                assert!(Instant::now() < deadline, "the model never loaded");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let stats = sim.admin_get("/_sim/stats");
    let row = stats["imported_models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["arn"] == COLD_QWEN)
        .unwrap()
        .clone();
    assert_eq!(row["state"], "warm");
    assert_eq!(row["copies"], 1);
    assert_eq!(row["invocations"], 1);
    assert!(row["cold_start_refusals"].as_u64().unwrap() >= 1, "{row}");
}
