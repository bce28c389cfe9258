use super::*;

const GOOD: &str = r#"
aws:
  endpoint_url: http://127.0.0.1:4566
accounts:
  - name: prod-us
    credentials: {type: static, access_key_id: "${AKID}", secret_access_key: "${SECRET:-dev}"}
providers:
  - {name: local-vllm, type: openai, base_url: "http://127.0.0.1:8000/v1"}
models:
  - name: claude
    strategy: priority
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-sonnet-4-20250514-v1:0, priority: 0}
      - {provider: local-vllm, model: llama, priority: 1}
    fallbacks: [small]
  - name: small
    deployments:
      - {account: prod-us, region: us-east-1, model: amazon.nova-micro-v1:0}
tenants:
  - {name: us-apps, keys: [sk-test-us-0001], residency: [us], models: [claude]}
admin:
  keys: [sk-test-admin-01]
"#;

fn env(name: &str) -> Option<String> {
    (name == "AKID").then(|| "AKIAEXAMPLE".to_string())
}

#[test]
fn a_good_config_validates_with_references_resolved() {
    let config = from_text(GOOD, "good.yaml", env).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    let claude = &config.models[config.model_by_name["claude"]];
    assert_eq!(claude.strategy, file::Strategy::Priority);
    assert_eq!(claude.fallbacks, vec![config.model_by_name["small"]]);
    assert!(matches!(
        claude.deployments[1].target,
        Target::OpenAi { provider: 0, .. }
    ));
    let tenant = &config.tenants[config.tenant_keys[&crate::config::KeyHash::of("sk-test-us-0001")].tenant];
    assert!(tenant.may_use(config.model_by_name["claude"]));
    assert!(!tenant.may_use(config.model_by_name["small"]));
    let strata_aws::CredentialSource::Static {
        access_key_id,
        secret_access_key,
        ..
    } = &config.accounts[0].credentials
    else {
        panic!("static credentials")
    };
    assert_eq!(
        (access_key_id.as_str(), secret_access_key.as_str()),
        ("AKIAEXAMPLE", "dev")
    );
}

#[test]
fn unknown_keys_are_rejected_with_line() {
    let text = GOOD.replace(
        "    strategy: priority",
        "    strategy: priority\n    stratgey: weighted",
    );
    let err = from_text(&text, "bad.yaml", env).unwrap_err().to_string();
    assert!(
        err.contains("bad.yaml") && err.contains("stratgey") && err.contains("line"),
        "{err}"
    );
}

#[test]
fn bad_values_are_rejected_with_a_plain_explanation() {
    let text = GOOD.replace("strategy: priority", "strategy: fastest");
    let err = from_text(&text, "bad.yaml", env).unwrap_err().to_string();
    assert!(err.contains("fastest"), "{err}");
    let text = GOOD.replace("region: us-east-1, model: us.", "region: Moon-1, model: us.");
    assert!(from_text(&text, "bad.yaml", env).is_err());
}

#[test]
fn missing_env_names_the_variable() {
    let err = from_text(GOOD, "good.yaml", |_| None).unwrap_err().to_string();
    assert!(err.contains("AKID") && err.contains("line 6"), "{err}");
}

#[test]
fn cross_reference_problems_are_all_reported() {
    let text = GOOD
        .replace(
            "account: prod-us, region: us-east-1, model: us.",
            "account: prod-xx, region: us-east-1, model: us.",
        )
        .replace("fallbacks: [small]", "fallbacks: [nope]")
        .replace("models: [claude]", "models: [claude, ghost]")
        .replace("provider: local-vllm, model: llama", "provider: other, model: llama");
    let err = from_text(&text, "x.yaml", env).unwrap_err().to_string();
    for needle in ["prod-xx", "nope", "ghost", "other"] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
}

#[test]
fn aws_defaults_are_applied_when_validating() {
    let config = from_text(GOOD, "good.yaml", env).unwrap();
    assert_eq!(config.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
    // STS goes where Bedrock goes unless told otherwise, in us-east-1 unless told otherwise.
    assert_eq!(config.aws.sts_endpoint.as_deref(), Some("http://127.0.0.1:4566"));
    assert_eq!(config.aws.sts_region.as_str(), "us-east-1");
    let text = GOOD.replace(
        "  endpoint_url: http://127.0.0.1:4566",
        "  endpoint_url: http://127.0.0.1:4566\n  sts_endpoint: http://127.0.0.1:4567\n  region: eu-west-1",
    );
    let config = from_text(&text, "good.yaml", env).unwrap();
    assert_eq!(config.aws.sts_endpoint.as_deref(), Some("http://127.0.0.1:4567"));
    assert_eq!(config.aws.sts_region.as_str(), "eu-west-1");
}

#[test]
fn a_shared_redis_url_is_checked_with_the_config() {
    let with = |url: &str| format!("{GOOD}shared: {{redis_url: \"{url}\", namespace: gw}}\n");
    let config = from_text(&with("redis://127.0.0.1:6379/1"), "shared.yaml", env).unwrap();
    assert_eq!(config.shared.map(|s| s.namespace).as_deref(), Some("gw"));
    let Err(ConfigError::Invalid { problems, .. }) = from_text(&with("redis://127.0.0.1:notaport"), "bad.yaml", env)
    else {
        panic!("a Redis URL that cannot be read must be refused");
    };
    assert!(
        problems.iter().any(|p| p.starts_with("shared.redis_url:")),
        "{problems:?}"
    );
}
