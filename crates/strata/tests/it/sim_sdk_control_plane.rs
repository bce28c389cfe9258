//! The typed `aws-sdk-bedrock` client against the emulator's control plane.

use aws_credential_types::Credentials;
use aws_sdk_bedrock::config::{BehaviorVersion, Region};
use aws_sdk_bedrock::types::{AuthorizationStatus, InferenceProfileType, InferenceType};

use crate::sim_process::Sim;

pub fn bedrock_client(sim: &Sim, account: &str, region: &str) -> aws_sdk_bedrock::Client {
    let (akid, secret) = sim.keys(account);
    let conf = aws_sdk_bedrock::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(&sim.url)
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .build();
    aws_sdk_bedrock::Client::from_conf(conf)
}

#[tokio::test]
async fn lists_models_and_paginates_profiles_like_aws() {
    let sim = Sim::start();
    let client = bedrock_client(&sim, "prod-us", "us-east-1");
    let models = client.list_foundation_models().send().await.expect("list models");
    let summaries = models.model_summaries();
    assert!(!summaries.is_empty());
    for m in summaries {
        assert!(m
            .model_arn()
            .starts_with("arn:aws:bedrock:us-east-1::foundation-model/"));
        assert!(m.model_lifecycle().is_some());
    }
    let on_demand = client
        .list_foundation_models()
        .by_inference_type(InferenceType::OnDemand)
        .send()
        .await
        .expect("filtered");
    assert!(
        on_demand.model_summaries().len() < summaries.len(),
        "some models are profile-only"
    );

    let all = client
        .list_inference_profiles()
        .type_equals(InferenceProfileType::SystemDefined)
        .send()
        .await
        .expect("profiles");
    let all_ids: Vec<String> = all
        .inference_profile_summaries()
        .iter()
        .map(|p| p.inference_profile_id().to_string())
        .collect();
    assert!(all_ids.len() > 2);
    assert!(
        all_ids
            .iter()
            .all(|id| id.starts_with("us.") || id.starts_with("global.")),
        "{all_ids:?}"
    );

    let mut paged = Vec::new();
    let mut pages = client.list_inference_profiles().max_results(2).into_paginator().send();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        page_count += 1;
        paged.extend(
            page.inference_profile_summaries()
                .iter()
                .map(|p| p.inference_profile_id().to_string()),
        );
    }
    assert_eq!(paged, all_ids);
    assert_eq!(page_count, all_ids.len().div_ceil(2));

    let first = &all.inference_profile_summaries()[0];
    let by_arn = client
        .get_inference_profile()
        .inference_profile_identifier(first.inference_profile_arn())
        .send()
        .await
        .expect("get by arn");
    assert_eq!(by_arn.inference_profile_id(), first.inference_profile_id());
    assert_eq!(by_arn.models().len(), first.models().len());
    assert!(by_arn
        .models()
        .iter()
        .all(|m| m.model_arn().unwrap_or_default().contains(":foundation-model/")));
}

#[tokio::test]
async fn availability_reflects_denied_access() {
    let sim = Sim::start();
    let denied = &sim.fleet["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "prod-eu")
        .unwrap()["denied"][0];
    let (model, region) = (denied["model"].as_str().unwrap(), denied["region"].as_str().unwrap());
    let eu = bedrock_client(&sim, "prod-eu", region);
    let out = eu
        .get_foundation_model_availability()
        .model_id(model)
        .send()
        .await
        .expect("availability");
    assert_eq!(out.authorization_status(), &AuthorizationStatus::NotAuthorized);
    let us = bedrock_client(&sim, "prod-us", region);
    let out = us
        .get_foundation_model_availability()
        .model_id(model)
        .send()
        .await
        .expect("availability");
    assert_eq!(out.authorization_status(), &AuthorizationStatus::Authorized);

    let missing = us
        .get_foundation_model_availability()
        .model_id("nope.model-v1:0")
        .send()
        .await;
    let err = missing.expect_err("unknown model").into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn wrong_secret_is_refused_with_aws_error() {
    let sim = Sim::start();
    let (akid, _) = sim.keys("prod-us");
    let conf = aws_sdk_bedrock::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&sim.url)
        .credentials_provider(Credentials::new(akid, "wrong", None, None, "test"))
        .build();
    let client = aws_sdk_bedrock::Client::from_conf(conf);
    let err = client.list_foundation_models().send().await.expect_err("bad signature");
    let raw = err.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 403);
    assert_eq!(raw.headers().get("x-amzn-errortype"), Some("InvalidSignatureException"));
}

/// What the discovery service will meet: a rate-limited, slow control plane. The typed client
/// with retries off sees AWS's ThrottlingException; with standard retries it rides it out.
#[tokio::test]
async fn throttled_and_slow_control_plane_through_the_sdk() {
    use aws_sdk_bedrock::error::ProvideErrorMetadata;
    let sim = Sim::start();
    sim.admin_post(
        "/_sim/control-plane",
        &serde_json::json!({"latency_ms": 50, "rps": 0.1, "burst": 1}),
    );
    let (akid, secret) = sim.keys("prod-us");
    let conf = aws_sdk_bedrock::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&sim.url)
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_bedrock::Client::from_conf(conf);
    let started = std::time::Instant::now();
    client
        .list_foundation_models()
        .send()
        .await
        .expect("first call fits the burst");
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    let err = client
        .list_foundation_models()
        .send()
        .await
        .expect_err("second call is over the rate");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(err.message(), Some("Rate exceeded"));
    // Another region has its own bucket.
    let other = bedrock_client(&sim, "prod-us", "us-west-2");
    other.list_foundation_models().send().await.expect("own bucket");
}
