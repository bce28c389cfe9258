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
fn bedrock_streams_go_over_http2_unless_configured_otherwise() {
    use strata_aws::transport::{Http2Calls, Protocol};
    let config = from_text(GOOD, "good.yaml", env).unwrap();
    let http2 = |max_streams, calls| Protocol::Http2 { max_streams, calls };
    assert_eq!(config.aws.protocol, http2(100, Http2Calls::Streams));
    let with = |http2: &str| {
        let text = GOOD.replace(
            "  endpoint_url: http://127.0.0.1:4566",
            &format!("  endpoint_url: http://127.0.0.1:4566\n  http2: {http2}"),
        );
        from_text(&text, "good.yaml", env).map(|c| c.aws.protocol)
    };
    assert_eq!(with("{}").unwrap(), http2(100, Http2Calls::Streams));
    assert_eq!(with("{calls: all}").unwrap(), http2(100, Http2Calls::All));
    assert_eq!(with("{calls: none}").unwrap(), Protocol::Http1);
    assert_eq!(with("{max_streams: 250}").unwrap(), http2(250, Http2Calls::Streams));
    for bad in [
        "{max_streams: 0}",
        "{max_streams: 1001}",
        "{calls: none, max_streams: 0}",
    ] {
        let err = with(bad).unwrap_err().to_string();
        assert!(err.contains("aws.http2.max_streams"), "{err}");
    }
    let err = with("{calls: some}").unwrap_err().to_string();
    assert!(err.contains("calls"), "{err}");
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

/// `GOOD` with a second tenant whose keys are `keys` (YAML flow list items).
fn with_keys(keys: &str) -> String {
    GOOD.replace(
        "  - {name: us-apps, keys: [sk-test-us-0001]",
        &format!("  - {{name: lab, keys: [{keys}]}}\n  - {{name: us-apps, keys: [sk-test-us-0001]"),
    )
}

#[test]
fn a_tenant_key_may_be_a_sigv4_pair_whose_secret_never_shows() {
    let secret = "lab-sigv4-secret-000000000000000000000001";
    let text =
        with_keys("sk-test-lab-001, {access_key_id: AKIASTRATATESTLAB001, secret_access_key: \"${LAB_SECRET}\"}");
    let config = from_text(&text, "sigv4.yaml", |name| match name {
        "LAB_SECRET" => Some(secret.to_string()),
        other => env(other),
    })
    .unwrap();
    let key = &config.tenant_sigv4_keys["AKIASTRATATESTLAB001"];
    assert_eq!((key.tenant, &*key.id), (0, "AKIASTRATATESTLAB001"));
    assert_eq!(key.secret.expose(), secret);
    assert_eq!(config.tenant_keys.len(), 2, "the API keys are kept beside the pair");
    assert!(!format!("{config:?}").contains(secret), "Debug shows the secret");
}

#[test]
fn sigv4_pairs_are_checked_with_clear_errors() {
    let pair = |id: &str, secret: &str| format!("{{access_key_id: {id}, secret_access_key: {secret}}}");
    let good_secret = "a-secret-of-forty-characters-0000000000";
    let problems = |keys: &str| match from_text(&with_keys(keys), "x.yaml", env) {
        Err(ConfigError::Invalid { problems, .. }) => problems.join("\n"),
        other => panic!("{keys}: expected problems, got {other:?}"),
    };
    let twice = problems(&format!(
        "{}, {}",
        pair("AKIASTRATATEST000001", good_secret),
        pair("AKIASTRATATEST000001", good_secret)
    ));
    assert!(
        twice.contains(
            "tenants[0] (lab).keys[1]: access_key_id 'AKIASTRATATEST000001' is already a key of tenants[0] (lab)"
        ),
        "{twice}"
    );
    // Unique across tenants too.
    let text = with_keys(&pair("AKIASTRATATEST000001", good_secret)).replace(
        "keys: [sk-test-us-0001]",
        &format!("keys: [sk-test-us-0001, {}]", pair("AKIASTRATATEST000001", good_secret)),
    );
    let Err(ConfigError::Invalid { problems: across, .. }) = from_text(&text, "x.yaml", env) else {
        panic!("an access key id of two tenants must be refused");
    };
    assert!(
        across[0].contains("tenants[1] (us-apps).keys[1]") && across[0].contains("tenants[0] (lab)"),
        "{across:?}"
    );
    for (id, secret, needle) in [
        ("AKIA/SLASH/00000001", good_secret, "letters and digits"),
        ("AKIASHORT", good_secret, "16 to 128"),
        ("AKIASTRATATEST000001", "short", "at least 16 characters"),
    ] {
        let p = problems(&pair(id, secret));
        assert!(
            p.contains("tenants[0] (lab).keys[0]") && p.contains(needle),
            "{id}: {p}"
        );
    }
    // A misspelt field is a parse error naming it, never a key silently ignored.
    let typo = from_text(
        &with_keys(&format!(
            "{{access_key_id: AKIASTRATATEST000001, secret_key: {good_secret}}}"
        )),
        "x.yaml",
        env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        typo.contains("unknown field `secret_key`") && typo.contains("line 20"),
        "{typo}"
    );
}

#[test]
fn keep_warm_and_cold_start_settings_are_read_and_checked() {
    let on = GOOD.replace("    fallbacks: [small]", "    fallbacks: [small]\n    keep_warm: true");
    let config = from_text(&on, "kw.yaml", env).unwrap();
    let claude = &config.models[config.model_by_name["claude"]];
    assert_eq!(
        claude.keep_warm.as_ref().map(|k| k.interval),
        Some(std::time::Duration::from_secs(14 * 60))
    );
    assert!(config.models[config.model_by_name["small"]].keep_warm.is_none());
    let routing = crate::request::execute::Policy::from_config(&config.routing);
    assert_eq!(routing.cold_start.budget, std::time::Duration::from_secs(300));

    let set = GOOD.replace(
        "    fallbacks: [small]",
        "    fallbacks: [small]\n    keep_warm: {interval_ms: 2500, body: {prompt: ping, max_tokens: 1}}",
    );
    let config = from_text(&set, "kw.yaml", env).unwrap();
    let kw = config.models[config.model_by_name["claude"]].keep_warm.clone().unwrap();
    assert_eq!(kw.interval, std::time::Duration::from_millis(2500));
    let body: serde_json::Value = serde_json::from_slice(&kw.body.unwrap()).unwrap();
    assert_eq!(body["prompt"], "ping");

    let off = GOOD.replace("    fallbacks: [small]", "    fallbacks: [small]\n    keep_warm: false");
    assert!(from_text(&off, "kw.yaml", env).unwrap().models[0].keep_warm.is_none());

    for (bad, needle) in [
        ("keep_warm: {interval_ms: 0}", "keep_warm.interval_ms"),
        ("keep_warm: {body: [1]}", "keep_warm.body"),
        ("keep_warm: {intervall_ms: 5}", "intervall_ms"),
        ("keep_warm: often", "true, false or"),
    ] {
        let text = GOOD.replace("    fallbacks: [small]", &format!("    fallbacks: [small]\n    {bad}"));
        let err = from_text(&text, "kw.yaml", env).unwrap_err().to_string();
        assert!(err.contains(needle), "{bad}: {err}");
    }
    let text = format!("{GOOD}routing:\n  cold_start: {{base_delay_ms: 5000, max_delay_ms: 100}}\n");
    let err = from_text(&text, "cs.yaml", env).unwrap_err().to_string();
    assert!(err.contains("routing.cold_start"), "{err}");
}

const INTENTS: &str = r#"
accounts:
  - {name: prod-us, credentials: {type: static, access_key_id: A, secret_access_key: S}}
models:
  - name: m
    discover: DISCOVER
"#;

fn intent_problem(discover: &str) -> Result<Config, String> {
    from_text(&INTENTS.replace("DISCOVER", discover), "intents.yaml", |_| None).map_err(|e| e.to_string())
}

#[test]
fn an_intent_names_a_foundation_model_or_an_imported_model_by_name() {
    use strata_router::{IntentModel, Layer};
    let config = intent_problem("{imported_model: apexguru-qwen, regions: [us-east-1]}").unwrap();
    let intent = &config.models[0].intent.as_ref().unwrap().intent;
    assert_eq!(intent.model, IntentModel::Imported("apexguru-qwen".into()));
    assert_eq!(
        intent.layers,
        vec![Layer::InRegion],
        "an imported model runs only in its region"
    );
    assert_eq!(intent.accounts.len(), 1);
    assert!(config.models[0].foundation_models().is_empty());
    let config = intent_problem("{imported_model: llama_8b-ft, layers: [in_region]}").unwrap();
    assert!(config.models[0].intent.is_some());
    let config = intent_problem("{model: amazon.nova-pro-v1:0}").unwrap();
    let intent = &config.models[0].intent.as_ref().unwrap().intent;
    assert_eq!(intent.model, IntentModel::Foundation("amazon.nova-pro-v1:0".into()));
    assert_eq!(intent.layers.len(), 3);

    for (discover, says) in [
        (
            "{model: amazon.nova-pro-v1:0, imported_model: apexguru-qwen}",
            "models[0].discover: give either model",
        ),
        ("{layers: [in_region]}", "models[0].discover: needs model"),
        (
            "{imported_model: apexguru-qwen, layers: [in_region, geography]}",
            "models[0].discover.layers: an imported model runs only in its own region",
        ),
        (
            "{imported_model: 'arn:aws:bedrock:us-east-1:111111111111:imported-model/abcdefghij12'}",
            "models[0].discover.imported_model: 'arn:aws:bedrock",
        ),
        ("{imported_model: ''}", "is not an imported model's name"),
        ("{imported_model: apex--guru}", "is not an imported model's name"),
        (
            "{model: 'arn:aws:bedrock:us-east-1:111111111111:imported-model/abcdefghij12'}",
            "for an imported model use imported_model: NAME",
        ),
        ("{model: amazon.nova-pro-v1:0, layers: []}", "list at least one of"),
    ] {
        let err = intent_problem(discover).unwrap_err();
        assert!(err.contains(says), "{discover}: {err}");
    }
}
