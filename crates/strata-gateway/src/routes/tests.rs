//! Route tables compiled from config and catalog: pinned and discovered candidates, baseline
//! residency per tenant, and live state carried across recompilation.

use std::collections::{BTreeMap, BTreeSet};

use strata_core::{Access, Freshness, InferenceType, Lifecycle, ModelEntry, ProfileEntry, RegionScan};

use super::*;

mod imported;

const YAML: &str = r#"
accounts:
  - {name: prod-eu, credentials: {type: static, access_key_id: A, secret_access_key: S}}
  - {name: prod-us, credentials: {type: static, access_key_id: A, secret_access_key: S}}
models:
  - name: sonnet
    discover: {model: anthropic.claude-sonnet-4-20250514-v1:0}
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-sonnet-4-20250514-v1:0}
baseline:
  eu: [{account: prod-eu, region: eu-central-1, model: eu.anthropic.claude-sonnet-4-20250514-v1:0}]
  us: [{account: prod-us, region: us-east-1, model: us.anthropic.claude-sonnet-4-20250514-v1:0}]
tenants:
  - {name: eu, keys: [sk-eu-000001], residency: [eu]}
  - {name: any, keys: [sk-any-00001]}
"#;

const BASE: &str = "anthropic.claude-sonnet-4-20250514-v1:0";

fn region(r: &str) -> Region {
    Region::parse(r).unwrap()
}

fn scan(account: &str, r: &str, profiles: &[(&str, &[&str])]) -> RegionScan {
    let model = ModelEntry {
        id: BASE.into(),
        name: String::new(),
        provider: String::new(),
        lifecycle: Lifecycle::Active,
        inference_types: BTreeSet::from([InferenceType::InferenceProfile]),
        streaming: true,
        access: Some(Access::GRANTED),
    };
    RegionScan {
        quotas: Default::default(),
        account: account.into(),
        region: region(r),
        scanned_at: 1,
        freshness: Freshness::Fresh,
        models: BTreeMap::from([(BASE.to_string(), model)]),
        profiles: profiles
            .iter()
            .map(|(id, dests)| {
                (
                    id.to_string(),
                    ProfileEntry::system(id, BASE, dests.iter().map(|d| region(d))),
                )
            })
            .collect(),
        imported: strata_core::ImportedModels::listed([]),
    }
}

fn catalog() -> Catalog {
    let eu: &[&str] = &["eu-central-1", "eu-west-1"];
    let us: &[&str] = &["us-east-1", "us-west-2"];
    let mut c = Catalog::default();
    for r in eu {
        for a in ["prod-eu", "prod-us"] {
            c.insert(scan(a, r, &[("eu.anthropic.claude-sonnet-4-20250514-v1:0", eu)]));
        }
    }
    for r in us {
        for a in ["prod-eu", "prod-us"] {
            c.insert(scan(a, r, &[("us.anthropic.claude-sonnet-4-20250514-v1:0", us)]));
        }
    }
    c
}

fn config() -> Config {
    crate::config::from_text(YAML, "test.yaml", |_| None).unwrap()
}

#[test]
fn intents_expand_pinned_wins_and_tenants_see_only_their_residency() {
    let config = config();
    let table = RouteTable::compile(&config, &catalog(), None);
    let m = &table.models[0];
    // 2 accounts x 4 source regions, one of them pinned (not duplicated).
    assert_eq!(m.routes.len(), 8);
    let pinned: Vec<&Arc<Route>> = m.routes.iter().filter(|r| r.origin == Origin::Pinned).collect();
    assert_eq!(pinned.len(), 1);
    assert_eq!(
        pinned[0].reach.regions().unwrap().regions().count(),
        2,
        "pinned profile reach from catalog"
    );
    let eu = &m.tenants[0];
    assert_eq!(eu.allowed.len(), 4);
    for r in &eu.allowed {
        assert!(r
            .reach
            .regions()
            .unwrap()
            .regions()
            .all(|x| x.as_str().starts_with("eu-")));
    }
    assert_eq!(eu.excluded().len(), 4);
    assert_eq!(eu.baseline.len(), 1);
    assert_eq!(
        eu.baseline[0].label,
        "prod-eu/eu-central-1/eu.anthropic.claude-sonnet-4-20250514-v1:0"
    );
    assert_eq!(m.tenants[1].allowed.len(), 8);
    assert_eq!(m.tenants[1].baseline.len(), 2);
}

#[test]
fn without_a_catalog_only_pinned_and_baseline_targets_remain() {
    let config = config();
    let table = RouteTable::compile(&config, &Catalog::default(), None);
    let m = &table.models[0];
    assert_eq!(m.routes.len(), 1);
    assert!(m.tenants[0].allowed.is_empty(), "a us. profile may leave the EU");
    assert_eq!(
        m.tenants[0].baseline.len(),
        1,
        "the eu. baseline is inside the EU by its geography"
    );
}

#[test]
fn health_survives_recompilation_and_revoked_targets_disappear() {
    let config = config();
    let first = RouteTable::compile(&config, &catalog(), None);
    let cooldown = strata_router::CooldownPolicy {
        failures: 1,
        window: std::time::Duration::from_secs(60),
        duration: std::time::Duration::from_secs(60),
    };
    let target = Arc::clone(
        first.models[0].tenants[0]
            .allowed
            .iter()
            .find(|r| r.label.starts_with("prod-us/"))
            .unwrap(),
    );
    target.health.record_failure(&cooldown, std::time::Instant::now());
    let mut changed = catalog();
    let mut revoked = scan(
        "prod-eu",
        "eu-west-1",
        &[(
            "eu.anthropic.claude-sonnet-4-20250514-v1:0",
            &["eu-central-1", "eu-west-1"],
        )],
    );
    if let Some(m) = revoked.models.get_mut(BASE) {
        m.access = Some(Access {
            authorized: false,
            ..Access::GRANTED
        });
    }
    changed.insert(revoked);
    let second = RouteTable::compile(&config, &changed, Some(&first));
    let same = second.models[0]
        .routes
        .iter()
        .find(|r| r.label == target.label)
        .unwrap();
    assert!(
        same.health.cooling_down(std::time::Instant::now()),
        "health carried over"
    );
    assert!(
        second.models[0]
            .routes
            .iter()
            .all(|r| !(r.label.starts_with("prod-eu/") && r.model_id().starts_with("eu."))),
        "prod-eu lost access in a destination: none of its eu. profiles remain"
    );
    assert!(second.models[0]
        .excluded
        .iter()
        .any(|e| e.reason.contains("not authorized")));
}

const NARROW_YAML: &str = r#"
accounts:
  - {name: prod-eu, credentials: {type: static, access_key_id: A, secret_access_key: S}}
models:
  - name: sonnet
    discover: {model: anthropic.claude-sonnet-4-20250514-v1:0, accounts: [prod-eu]}
tenants:
  - {name: zone, keys: [sk-zone-00001], residency: [eu]}
  - {name: narrow, keys: [sk-narrow-001], residency: [eu-west-1, eu-central-1]}
  - {name: trusting, keys: [sk-trust-0001], residency: [eu-west-1, eu-central-1], trust_catalog_destinations: true}
"#;

#[test]
fn a_narrow_tenant_keeps_geography_profiles_only_when_it_trusts_the_catalog() {
    let config = crate::config::from_text(NARROW_YAML, "test.yaml", |_| None).unwrap();
    let table = RouteTable::compile(&config, &catalog(), None);
    let m = &table.models[0];
    // prod-eu calls the eu. profile (destinations eu-central-1, eu-west-1) from both regions.
    let eu_profiles = m.routes.iter().filter(|r| r.model_id().starts_with("eu.")).count();
    assert_eq!(eu_profiles, 2);
    let (zone, narrow, trusting) = (&m.tenants[0], &m.tenants[1], &m.tenants[2]);
    let is_eu = |r: &&Arc<Route>| r.model_id().starts_with("eu.");
    assert_eq!(zone.allowed.iter().filter(is_eu).count(), 2);
    assert_eq!(narrow.allowed.iter().filter(is_eu).count(), 0);
    assert_eq!(trusting.allowed.iter().filter(is_eu).count(), 2);
    let reasons: Vec<String> = narrow
        .excluded()
        .into_iter()
        .filter(|e| e.target.contains("/eu."))
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons.len(), 2);
    for r in &reasons {
        assert!(
            r.starts_with("geography 'eu' includes eu-central-2, eu-north-1")
                && r.contains("outside the policy [eu-central-1, eu-west-1]")
                && r.ends_with("set trust_catalog_destinations to admit it on its catalog destinations"),
            "{r}"
        );
    }

    let report = report::routes_report(&config, &table, &report::RouteFilter::default()).unwrap();
    let sonnet = &report.models[0];
    for c in sonnet.candidates.iter().filter(|c| c.model_id.starts_with("eu.")) {
        assert_eq!(c.admitted_by.get("zone").copied(), Some("geography"), "{c:?}");
        assert_eq!(c.admitted_by.get("trusting").copied(), Some("catalog"), "{c:?}");
        assert!(!c.admitted_by.contains_key("narrow"), "{c:?}");
    }
    let trusting_view = sonnet.tenants.iter().find(|t| t.tenant == "trusting").unwrap();
    assert!(trusting_view.trust_catalog_destinations);
    assert!(!sonnet.tenants[0].trust_catalog_destinations);
}

#[test]
fn routes_carry_the_catalog_quota_with_the_config_override_winning() {
    const US: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    let mut c = catalog();
    for (account, rpm) in [("prod-us", 200), ("prod-eu", 300)] {
        let mut s = c.scan(account, &region("us-east-1")).unwrap().clone();
        s.quotas = strata_core::Quotas::Listed {
            by_id: BTreeMap::from([(
                US.to_string(),
                strata_core::QuotaEntry {
                    rpm: Some(rpm),
                    tpm: Some(1000),
                    ..Default::default()
                },
            )]),
            unmatched: BTreeMap::new(),
        };
        c.insert(s);
    }
    let yaml = format!(
        "{YAML}quotas:\n  - {{account: prod-us, region: us-east-1, model: {US}, rpm: 500}}\n  - {{account: prod-eu, region: us-west-2, model: {US}, tpm: 7}}\n"
    );
    let config = crate::config::from_text(&yaml, "test.yaml", |_| None).unwrap();
    let table = RouteTable::compile(&config, &c, None);
    let m = &table.models[0];
    let capacity = |label: &str| {
        m.routes
            .iter()
            .chain(&m.baseline)
            .find(|r| r.label == label)
            .unwrap()
            .capacity
            .clone()
    };
    // Pinned (and baseline): the override's rpm, the catalog's tpm.
    let pinned = capacity(&format!("prod-us/us-east-1/{US}")).unwrap();
    assert_eq!((pinned.rpm, pinned.tpm), (Some(500), Some(1000)));
    assert_eq!(&*pinned.key, format!("prod-us/us-east-1/{US}"));
    assert!(m
        .baseline
        .iter()
        .all(|r| r.capacity.as_ref().map(|c| c.rpm) == Some(Some(500)) || r.label.starts_with("prod-eu/eu-central-1")));
    // Discovered: the catalog's.
    let listed = capacity(&format!("prod-eu/us-east-1/{US}")).unwrap();
    assert_eq!((listed.rpm, listed.tpm), (Some(300), Some(1000)));
    // Added by config only.
    let added = capacity(&format!("prod-eu/us-west-2/{US}")).unwrap();
    assert_eq!((added.rpm, added.tpm), (None, Some(7)));
    // Neither: unknown.
    assert!(capacity(&format!("prod-us/us-west-2/{US}")).is_none());
    // The report shows it.
    let report = serde_json::to_value(super::report::candidate_report_for_tests(&m.routes[0])).unwrap();
    assert_eq!(report["capacity"]["rpm"], 500);
}

#[test]
fn a_quota_for_an_unknown_account_is_refused() {
    let yaml = format!("{YAML}quotas:\n  - {{account: nobody, region: us-east-1, model: {BASE}, rpm: 5}}\n");
    let err = crate::config::from_text(&yaml, "test.yaml", |_| None).unwrap_err();
    assert!(
        format!("{err:?}").contains("quotas[0].account: unknown account 'nobody'"),
        "{err:?}"
    );
    let yaml = format!("{YAML}quotas:\n  - {{account: prod-us, region: us-east-1, model: {BASE}}}\n");
    let err = crate::config::from_text(&yaml, "test.yaml", |_| None).unwrap_err();
    assert!(format!("{err:?}").contains("set rpm, tpm or both"), "{err:?}");
}
