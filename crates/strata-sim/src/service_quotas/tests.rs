use std::collections::BTreeSet;

use super::*;
use crate::fleet::FleetFile;
use crate::state::SimOptions;

#[test]
fn codes_are_l_dash_eight_hex_digits_from_the_name() {
    let name = "On-demand InvokeModel requests per minute for Anthropic Claude Sonnet 4";
    let code = quota_code(name);
    assert_eq!(code.len(), 10, "{code}");
    assert!(code.starts_with("L-"), "{code}");
    assert!(
        code[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "{code}"
    );
    assert_eq!(code, quota_code(name), "deterministic");
    assert_ne!(code, quota_code(&name.replace("requests", "tokens")));
    // SHA-256("abc") starts ba7816bf.
    assert_eq!(quota_code("abc"), "L-BA7816BF");
}

#[test]
fn builtin_catalog_names_and_codes_are_unique_per_region_and_follow_aws() {
    let fleet = Fleet::builtin().expect("built-in fleet");
    let mut codes_everywhere: std::collections::HashMap<String, String> = Default::default();
    for region in &fleet.regions {
        let list = quotas_with(&fleet, region.as_str(), |_, cross| {
            if cross {
                fleet.quotas.cross_region
            } else {
                fleet.quotas.on_demand
            }
        });
        let names: BTreeSet<_> = list.iter().map(|q| q.name.clone()).collect();
        let codes: BTreeSet<_> = list.iter().map(|q| q.code.clone()).collect();
        assert_eq!(names.len(), list.len(), "{region}: names repeat");
        assert_eq!(codes.len(), list.len(), "{region}: codes repeat");
        for q in &list {
            // One name, one code, whatever the region.
            let prev = codes_everywhere.insert(q.code.clone(), q.name.clone());
            assert!(prev.is_none_or(|n| n == q.name), "{} names two quotas", q.code);
            assert!(
                !q.name.ends_with(&format!("({})", q.subject)),
                "built-in names need no ID: {}",
                q.name
            );
            let prefix = match q.inference {
                Inference::OnDemand => "On-demand InvokeModel ",
                Inference::CrossRegion => "Cross-Region InvokeModel ",
                Inference::GlobalCrossRegion => "Global cross-Region InvokeModel ",
            };
            assert!(q.name.starts_with(prefix), "{}", q.name);
            let model = fleet.model(&q.model).expect("model");
            assert!(
                q.name.ends_with(&format!(" per minute for {}", display_name(model))),
                "{}",
                q.name
            );
        }
    }
    let us = quotas_with(&fleet, "us-east-1", |_, _| fleet.quotas.on_demand);
    assert!(us.iter().any(|q| q.inference == Inference::OnDemand));
    assert!(us.iter().any(|q| q.inference == Inference::CrossRegion));
    assert!(us.iter().any(|q| q.inference == Inference::GlobalCrossRegion));
    let names: Vec<&str> = us.iter().map(|q| q.name.as_str()).collect();
    assert!(
        names.contains(&"Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5"),
        "{names:?}"
    );
    // A name that starts with the provider's first word is not prefixed again.
    let mistral = Fleet::builtin().expect("fleet");
    let m = mistral
        .models
        .iter()
        .find(|m| m.provider == "Mistral AI")
        .expect("a Mistral AI model");
    assert!(display_name(m).starts_with("Mistral "), "{}", display_name(m));
    assert!(!display_name(m).starts_with("Mistral AI"), "{}", display_name(m));
    assert!(
        us.iter().any(|q| q.name.ends_with(" for Amazon Nova Pro")),
        "{:?}",
        us.iter().map(|q| &q.name).collect::<Vec<_>>()
    );
}

const TWINS: &str = r#"
regions: [us-east-1]
models:
  - {id: acme.alpha-v1:0, name: Twin, provider: Acme, body: nova, hosted_in: [us-east-1], on_demand_in: [us-east-1]}
  - {id: acme.beta-v1:0, name: Twin, provider: Acme, body: nova, hosted_in: [us-east-1], on_demand_in: [us-east-1]}
  - {id: acme.gamma-v1:0, name: Acme Gamma, provider: Acme, body: nova, hosted_in: [us-east-1], on_demand_in: [us-east-1]}
profiles:
  - {id: us.acme.gamma-v1:0, name: US Gamma, model: acme.gamma-v1:0, destinations: [us-east-1]}
  - {id: global.acme.gamma-v1:0, name: Global Gamma, model: acme.gamma-v1:0, destinations: [us-east-1]}
  - {id: jp.acme.gamma-v1:0, name: JP Gamma, model: acme.gamma-v1:0, destinations: [us-east-1]}
accounts:
  - {id: "123456789012", name: one, access_key_id: AKIAONE0000000000001, secret_access_key: secret,
     quotas: [{model: "*", region: "*", rpm: 1, tpm: 1}, {model: acme.beta-v1:0, rpm: 7, tpm: 700}]}
"#;

fn twins() -> Fleet {
    let file: FleetFile = serde_saphyr::from_str(TWINS).expect("fleet yaml");
    Fleet::from_file(file).expect("fleet")
}

#[test]
fn one_display_name_for_two_models_gets_the_ids_and_names_stay_unique() {
    let fleet = twins();
    let state = SimState::new(fleet.clone(), SimOptions::default());
    let list = quotas(&state, &fleet, 0, "us-east-1");
    let names: Vec<&str> = list.iter().map(|q| q.name.as_str()).collect();
    assert!(
        names.contains(&"On-demand InvokeModel requests per minute for Acme Twin (acme.alpha-v1:0)"),
        "{names:?}"
    );
    assert!(
        names.contains(&"On-demand InvokeModel tokens per minute for Acme Twin (acme.beta-v1:0)"),
        "{names:?}"
    );
    // A name that already starts with the provider is not doubled; a geographic and a global
    // profile of one model are told apart by kind, two geographic ones by their IDs.
    for name in [
        "On-demand InvokeModel requests per minute for Acme Gamma",
        "Cross-Region InvokeModel requests per minute for Acme Gamma (us.acme.gamma-v1:0)",
        "Cross-Region InvokeModel tokens per minute for Acme Gamma (jp.acme.gamma-v1:0)",
        "Global cross-Region InvokeModel tokens per minute for Acme Gamma",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    assert_eq!(list.len(), 12);
    let unique: BTreeSet<_> = list.iter().map(|q| &q.code).collect();
    assert_eq!(unique.len(), list.len());
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "listed by name");
}

#[test]
fn values_are_what_the_runtime_enforces_and_follow_run_time_changes() {
    let fleet = twins();
    let state = SimState::new(fleet.clone(), SimOptions::default());
    let value = |subject: &str, measure: Measure| {
        quotas(&state, &state.fleet(), 0, "us-east-1")
            .into_iter()
            .find(|q| q.subject == subject && q.measure == measure)
            .map(|q| q.value)
    };
    // The fleet's rules: the later matching rule wins, as in `Fleet::quota_for`.
    for (subject, cross) in [
        ("acme.beta-v1:0", false),
        ("acme.alpha-v1:0", false),
        ("us.acme.gamma-v1:0", true),
    ] {
        let enforced = state.quota_for(0, "us-east-1", subject, cross);
        assert_eq!(value(subject, Measure::Requests), Some(enforced.rpm), "{subject}");
        assert_eq!(value(subject, Measure::Tokens), Some(enforced.tpm), "{subject}");
    }
    assert_eq!(value("acme.beta-v1:0", Measure::Requests), Some(7));
    state.set_quota(0, "us-east-1", "us.acme.gamma-v1:0", Quota { rpm: 3, tpm: 300 });
    assert_eq!(value("us.acme.gamma-v1:0", Measure::Requests), Some(3));
    assert_eq!(value("us.acme.gamma-v1:0", Measure::Tokens), Some(300));
    assert_ne!(
        value("global.acme.gamma-v1:0", Measure::Requests),
        Some(3),
        "profiles apart"
    );
    let defaults = quotas(&state, &state.fleet(), 0, "us-east-1");
    let d = defaults
        .iter()
        .find(|q| q.subject == "us.acme.gamma-v1:0")
        .expect("quota");
    assert_eq!(d.default_value, fleet.quotas.cross_region.rpm);
}
