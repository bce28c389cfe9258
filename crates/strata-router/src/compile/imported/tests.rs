//! Imported-model intents: found by name wherever a scan lists them, in-region only, held to
//! residency like any in-region target, and said to be unknown where they could not be listed.

use std::collections::BTreeMap;

use strata_core::{Freshness, ImportedModelEntry, ImportedModels, RegionScan, ResidencyPolicy};

use crate::{Origin, Reach};

use super::super::tests::region;
use super::super::{admit, compile_intent, AccountShare, DestinationTrust, IntentModel};
use super::*;

const QWEN: &str = "apexguru-qwen";
const LLAMA: &str = "llama-8b-ft";

fn arn(r: &str, account_id: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{r}:{account_id}:imported-model/{id}")
}

fn entry(name: &str, arn: String) -> ImportedModelEntry {
    ImportedModelEntry {
        arn,
        name: name.into(),
        architecture: Some("qwen2".into()),
        created_at: 1,
        instruct_supported: Some(true),
        model_units_per_copy: Some(1),
    }
}

fn scan(account: &str, r: &str, imported: ImportedModels) -> RegionScan {
    RegionScan {
        quotas: Default::default(),
        account: account.into(),
        region: region(r),
        scanned_at: 1,
        freshness: Freshness::Fresh,
        models: BTreeMap::new(),
        profiles: BTreeMap::new(),
        imported,
    }
}

/// The fleet the emulator seeds: apexguru-qwen in us-east-1 and us-west-2 of prod-us, a Llama
/// 8B fine-tune (also called apexguru-qwen here, to test residency) in eu-central-1 of prod-eu;
/// prod-eu may not list its imported models in eu-west-1.
fn fleet() -> Catalog {
    let mut c = Catalog::default();
    for (r, id) in [("us-east-1", "qwenuseast01"), ("us-west-2", "qwenuswest02")] {
        c.insert(scan(
            "prod-us",
            r,
            ImportedModels::listed([entry(QWEN, arn(r, "111111111111", id))]),
        ));
    }
    c.insert(scan(
        "prod-eu",
        "eu-central-1",
        ImportedModels::listed([
            entry(QWEN, arn("eu-central-1", "222222222222", "qweneucent03")),
            entry(LLAMA, arn("eu-central-1", "222222222222", "llamaeucent4")),
        ]),
    ));
    c.insert(scan(
        "prod-eu",
        "eu-west-1",
        ImportedModels::Unknown {
            reason: "ListImportedModels was refused (AccessDeniedException: no)".into(),
        },
    ));
    c.insert(scan("prod-us", "eu-west-1", ImportedModels::listed([])));
    c
}

fn intent(name: &str) -> Intent {
    Intent {
        model: IntentModel::Imported(name.into()),
        layers: vec![Layer::InRegion],
        accounts: ["prod-us", "prod-eu"]
            .iter()
            .map(|a| AccountShare {
                account: a.to_string(),
                weight: 1,
            })
            .collect(),
        regions: None,
    }
}

fn expand(catalog: &Catalog, intent: &Intent) -> Compiled {
    compile_intent(intent, catalog, &ProfileIndex::build(catalog))
}

fn targets(compiled: &Compiled, allowed: &[usize]) -> Vec<String> {
    allowed.iter().map(|&i| compiled.candidates[i].label()).collect()
}

#[test]
fn every_region_that_lists_the_name_is_a_candidate_called_by_its_arn() {
    let catalog = fleet();
    let compiled = expand(&catalog, &intent(QWEN));
    let labels: Vec<String> = compiled.candidates.iter().map(Candidate::label).collect();
    assert_eq!(
        labels,
        vec![
            format!("prod-us/us-east-1/{}", arn("us-east-1", "111111111111", "qwenuseast01")),
            format!("prod-us/us-west-2/{}", arn("us-west-2", "111111111111", "qwenuswest02")),
            format!(
                "prod-eu/eu-central-1/{}",
                arn("eu-central-1", "222222222222", "qweneucent03")
            ),
        ]
    );
    for c in &compiled.candidates {
        assert_eq!(c.layer, Layer::InRegion);
        assert_eq!(
            c.reach,
            Reach::Regions(strata_core::ExecutionSet::single(c.region.clone()))
        );
        assert_eq!((c.origin, c.priority, c.stale), (Origin::Discovered, 0, false));
    }
    // The region whose listing was refused is said so, with the reason.
    assert_eq!(compiled.excluded.len(), 1, "{:?}", compiled.excluded);
    let e = &compiled.excluded[0];
    assert_eq!(e.target(), format!("prod-eu/eu-west-1/{QWEN}"));
    assert!(
        e.reason.contains("unknown") && e.reason.contains("AccessDenied"),
        "{}",
        e.reason
    );
}

#[test]
fn residency_keeps_an_eu_only_tenant_on_the_eu_copy() {
    let catalog = fleet();
    let compiled = expand(&catalog, &intent(QWEN));
    let eu = ResidencyPolicy::parse(&["eu"]).unwrap();
    let (allowed, refused) = admit(&compiled.candidates, &eu, DestinationTrust::Geography);
    assert_eq!(
        targets(&compiled, &allowed),
        vec![format!(
            "prod-eu/eu-central-1/{}",
            arn("eu-central-1", "222222222222", "qweneucent03")
        )]
    );
    assert_eq!(refused.len(), 2);
    for i in refused {
        let why = compiled.candidates[i]
            .reach
            .check(&eu, DestinationTrust::Geography)
            .unwrap_err();
        assert!(why.to_string().contains("outside the tenant's residency"), "{why}");
    }
    let us = ResidencyPolicy::parse(&["us-east-1"]).unwrap();
    let (allowed, _) = admit(&compiled.candidates, &us, DestinationTrust::Geography);
    assert_eq!(targets(&compiled, &allowed).len(), 1);
    assert!(targets(&compiled, &allowed)[0].starts_with("prod-us/us-east-1/"));
}

#[test]
fn the_intent_follows_the_catalog_and_its_regions_and_accounts() {
    let mut catalog = fleet();
    // Imported in another region: a new candidate; deleted: gone.
    catalog.insert(scan(
        "prod-us",
        "eu-west-1",
        ImportedModels::listed([entry(QWEN, arn("eu-west-1", "111111111111", "qweneuwest05"))]),
    ));
    catalog.insert(scan("prod-us", "us-west-2", ImportedModels::listed([])));
    let regions: Vec<String> = expand(&catalog, &intent(QWEN))
        .candidates
        .iter()
        .map(|c| c.region.to_string())
        .collect();
    assert_eq!(regions, vec!["eu-west-1", "us-east-1", "eu-central-1"]);
    let mut narrow = intent(QWEN);
    narrow.regions = Some([region("us-east-1")].into());
    narrow.accounts.truncate(1);
    let compiled = expand(&catalog, &narrow);
    assert_eq!(compiled.candidates.len(), 1);
    assert!(compiled.excluded.is_empty());
    // Names are matched exactly; the other imported model is its own intent.
    let llama = expand(&catalog, &intent(LLAMA));
    assert_eq!(llama.candidates.len(), 1);
    assert_eq!(&*llama.candidates[0].account, "prod-eu");
}

#[test]
fn a_name_listed_nowhere_has_no_candidate_and_a_stale_scan_marks_its_candidate() {
    let catalog = fleet();
    let compiled = expand(&catalog, &intent("no-such-model"));
    assert!(compiled.candidates.is_empty());
    assert_eq!(compiled.excluded.len(), 1, "only the region that could not list");
    let stale = catalog.merged(vec![RegionScan::missing(
        "prod-us",
        region("us-east-1"),
        9,
        "throttled".into(),
    )]);
    let compiled = expand(&stale, &intent(QWEN));
    let east = compiled
        .candidates
        .iter()
        .find(|c| c.region.as_str() == "us-east-1")
        .unwrap();
    assert!(east.stale, "the last good listing still routes, marked stale");
}

#[test]
fn an_arn_naming_another_region_is_left_out_with_a_reason() {
    let mut catalog = Catalog::default();
    catalog.insert(scan(
        "prod-us",
        "us-east-1",
        ImportedModels::listed([entry(QWEN, arn("us-west-2", "111111111111", "qwenuswest02"))]),
    ));
    let compiled = expand(&catalog, &intent(QWEN));
    assert!(compiled.candidates.is_empty());
    assert!(compiled.excluded[0].reason.contains("another region"));
}
