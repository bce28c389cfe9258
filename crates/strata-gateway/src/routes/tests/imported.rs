//! Logical models over imported models: the `imported_model` intent compiled per tenant's
//! residency, recompiled as imports come and go, pinned ARNs checked, and the words a tenant
//! gets when there is nothing to route to.

use strata_core::{ImportedModelEntry, ImportedModels};

use super::*;
use crate::error::Class;
use crate::request::route::plan;
use crate::routes::check::{check, Severity};

const IMPORTED_YAML: &str = r#"
accounts:
  - {name: prod-us, credentials: {type: static, access_key_id: A, secret_access_key: S}}
  - {name: prod-eu, credentials: {type: static, access_key_id: A, secret_access_key: S}}
discovery:
  regions: [us-east-1, us-west-2, eu-central-1]
models:
  - name: apexguru
    discover: {imported_model: apexguru-qwen}
  - name: ghost
    discover: {imported_model: no-such-model, accounts: [prod-us]}
  - name: pinned
    deployments:
      - {account: prod-us, region: us-east-1, model: "arn:aws:bedrock:us-east-1:111111111111:imported-model/qwenuseast01"}
tenants:
  - {name: eu-bank, keys: [sk-eu-000001], residency: [eu], route_detail: full}
  - {name: lab, keys: [sk-any-00001], route_detail: full}
"#;

fn arn(r: &str, account_id: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{r}:{account_id}:imported-model/{id}")
}

fn listed(account: &str, r: &str, models: &[(&str, String)]) -> RegionScan {
    let mut s = scan(account, r, &[]);
    s.imported = ImportedModels::listed(models.iter().map(|(name, arn)| ImportedModelEntry {
        arn: arn.clone(),
        name: name.to_string(),
        architecture: Some("qwen2".into()),
        created_at: 1,
        instruct_supported: Some(true),
        model_units_per_copy: Some(1),
    }));
    s
}

/// apexguru-qwen in us-east-1 and us-west-2 of prod-us and in eu-central-1 of prod-eu.
fn fleet() -> Catalog {
    let mut c = Catalog::default();
    c.insert(listed(
        "prod-us",
        "us-east-1",
        &[("apexguru-qwen", arn("us-east-1", "111111111111", "qwenuseast01"))],
    ));
    c.insert(listed(
        "prod-us",
        "us-west-2",
        &[("apexguru-qwen", arn("us-west-2", "111111111111", "qwenuswest02"))],
    ));
    c.insert(listed("prod-us", "eu-central-1", &[]));
    c.insert(listed(
        "prod-eu",
        "eu-central-1",
        &[("apexguru-qwen", arn("eu-central-1", "222222222222", "qweneucent03"))],
    ));
    for r in ["us-east-1", "us-west-2"] {
        c.insert(listed("prod-eu", r, &[]));
    }
    c
}

fn imported_config() -> Config {
    crate::config::from_text(IMPORTED_YAML, "test.yaml", |_| None).unwrap()
}

fn labels(routes: &[Arc<Route>]) -> Vec<String> {
    routes.iter().map(|r| r.label.clone()).collect()
}

#[test]
fn an_eu_tenant_gets_only_the_eu_copy_and_imports_elsewhere_follow_the_catalog() {
    let config = imported_config();
    let table = RouteTable::compile(&config, &fleet(), None);
    let m = &table.models[config.model_by_name["apexguru"]];
    assert_eq!(m.routes.len(), 3, "{:?}", labels(&m.routes));
    for r in &m.routes {
        assert_eq!((r.origin, r.layer), (Origin::Discovered, Layer::InRegion));
        assert!(r.model_id().contains(":imported-model/"));
        assert_eq!(r.price, None, "imported models have no per-token price: cost 0");
    }
    let eu = &m.tenants[0];
    assert_eq!(
        labels(&eu.allowed),
        vec![format!(
            "prod-eu/eu-central-1/{}",
            arn("eu-central-1", "222222222222", "qweneucent03")
        )]
    );
    assert_eq!(eu.excluded().len(), 2);
    assert!(eu
        .excluded()
        .iter()
        .all(|e| e.reason.contains("outside the tenant's residency")));
    assert_eq!(m.tenants[1].allowed.len(), 3);

    // The EU copy deleted, a new import in us-west-2 of prod-eu: recompiled accordingly.
    let mut changed = fleet();
    changed.insert(listed("prod-eu", "eu-central-1", &[]));
    changed.insert(listed(
        "prod-eu",
        "us-west-2",
        &[("apexguru-qwen", arn("us-west-2", "222222222222", "qwenuswest06"))],
    ));
    let next = RouteTable::compile(&config, &changed, Some(&table));
    let m = &next.models[config.model_by_name["apexguru"]];
    assert_eq!(m.routes.len(), 3);
    assert!(m.routes.iter().any(|r| r.label.starts_with("prod-eu/us-west-2/")));
    assert!(m.tenants[0].allowed.is_empty());
    // The EU tenant is told why, in words.
    let e = plan(&config, &next, 0, "apexguru").unwrap_err();
    assert_eq!(e.class, Class::NoRoute);
    assert!(e.message.contains("outside this API key's residency"), "{}", e.message);
}

#[test]
fn an_imported_model_listed_nowhere_is_no_route_said_in_words() {
    let config = imported_config();
    let table = RouteTable::compile(&config, &fleet(), None);
    let e = plan(&config, &table, 1, "ghost").unwrap_err();
    assert_eq!(e.class, Class::NoRoute);
    assert!(
        e.message
            .contains("no imported model named 'no-such-model' is listed by discovery in any scanned region"),
        "{}",
        e.message
    );
    // Where the listing was refused, the reason is given too.
    let mut refused = fleet();
    let mut s = listed("prod-us", "us-east-1", &[]);
    s.imported = ImportedModels::Unknown {
        reason: "ListImportedModels was refused (AccessDeniedException: no)".into(),
    };
    refused.insert(s);
    let table = RouteTable::compile(&config, &refused, None);
    let e = plan(&config, &table, 1, "ghost").unwrap_err();
    assert!(e.message.contains("AccessDeniedException"), "{}", e.message);
}

#[test]
fn strata_check_verifies_imported_intents_and_pinned_arns() {
    let config = imported_config();
    let catalog = fleet();
    let table = RouteTable::compile(&config, &catalog, None);
    let findings = check(&config, &catalog, &table);
    let ghost: Vec<_> = findings.iter().filter(|f| f.at.contains("(ghost)")).collect();
    assert!(
        ghost.iter().any(|f| f.severity == Severity::Error
            && f.at.ends_with("discover.imported_model")
            && f.message.contains("no imported model named 'no-such-model'")),
        "{findings:?}"
    );
    assert!(
        !findings
            .iter()
            .any(|f| f.at.contains("(pinned)") || f.at.contains("(apexguru)")),
        "{findings:?}"
    );
    // The pinned import deleted: an error for `strata check`, and routing leaves it out.
    let mut deleted = fleet();
    deleted.insert(listed("prod-us", "us-east-1", &[]));
    let table = RouteTable::compile(&config, &deleted, None);
    let pinned = &table.models[config.model_by_name["pinned"]];
    assert!(pinned.routes.is_empty());
    assert!(pinned.excluded[0].reason.contains("is not listed in prod-us/us-east-1"));
    let findings = check(&config, &deleted, &table);
    assert!(
        findings.iter().any(|f| f.severity == Severity::Error
            && f.at.starts_with("models[2] (pinned).deployments[0]")
            && f.message.contains("not listed")),
        "{findings:?}"
    );
    // The report names the imported model the intent runs.
    let report = report::routes_report(&config, &table, &report::RouteFilter::default()).unwrap();
    assert_eq!(report.models[0].imported_model.as_deref(), Some("apexguru-qwen"));
    assert_eq!(report.models[2].imported_model, None);
}
