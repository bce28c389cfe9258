//! Each kind of problem a configured target can have, and what routing and `strata check` make
//! of it.

use strata_core::{Access, ModelEntry, ProfileEntry, RegionScan};

use super::*;
use crate::compile::tests::{model, region, BASE};

fn regions(names: &[&str]) -> Vec<Region> {
    names.iter().map(|r| region(r)).collect()
}

fn denied() -> Option<Access> {
    Some(Access {
        authorized: false,
        ..Access::GRANTED
    })
}

fn scan(r: &str, models: Vec<ModelEntry>, profiles: Vec<ProfileEntry>) -> RegionScan {
    RegionScan {
        quotas: Default::default(),
        account: "prod".into(),
        region: region(r),
        scanned_at: 1,
        freshness: Freshness::Fresh,
        models: models.into_iter().map(|m| (m.id.clone(), m)).collect(),
        profiles: profiles.into_iter().map(|p| (p.id.to_string(), p)).collect(),
        imported: strata_core::ImportedModels::listed([]),
    }
}

fn eu_profile(destinations: &[&str]) -> ProfileEntry {
    ProfileEntry::system(&format!("eu.{BASE}"), BASE, regions(destinations))
}

fn verify(catalog: &Catalog, scanned: &[&str], r: &str, model_id: &str) -> TargetVerdict {
    verify_configured(catalog, &regions(scanned), "prod", &region(r), model_id)
}

fn kinds(verdict: &TargetVerdict) -> Vec<ProblemKind> {
    verdict.problems.iter().map(|p| p.kind.clone()).collect()
}

fn findings(verdict: &TargetVerdict) -> Vec<(Severity, String)> {
    verdict.findings().map(|p| (p.severity(), p.to_string())).collect()
}

#[test]
fn a_granted_target_has_no_problem_and_keeps_the_catalogs_reach() {
    let mut catalog = Catalog::default();
    let eu = eu_profile(&["eu-west-1", "eu-central-1"]);
    for r in ["eu-west-1", "eu-central-1"] {
        catalog.insert(scan(r, vec![model(true, Some(Access::GRANTED))], vec![eu.clone()]));
    }
    let verdict = verify(
        &catalog,
        &["eu-west-1", "eu-central-1"],
        "eu-west-1",
        &format!("eu.{BASE}"),
    );
    assert!(verdict.problems.is_empty(), "{verdict:?}");
    assert_eq!(verdict.layer, Layer::Geography);
    assert_eq!(
        verdict.reach,
        Reach::Profile {
            destinations: eu.destinations.clone(),
            geography: Some(strata_core::Geography::Eu),
        }
    );
    let c = verdict.into_candidate(Origin::Pinned).unwrap();
    assert_eq!((c.weight, c.priority, c.origin, c.stale), (1, 0, Origin::Pinned, false));
}

#[test]
fn a_region_discovery_does_not_scan_is_an_error_that_ends_the_check_but_does_not_exclude() {
    let catalog = Catalog::default();
    let verdict = verify(&catalog, &["us-east-1"], "eu-west-1", BASE);
    assert_eq!(verdict.problems[0].kind, ProblemKind::RegionNotScanned);
    assert_eq!(
        findings(&verdict),
        vec![(
            Severity::Error,
            "eu-west-1 is not in discovery.regions: add it so the target can be verified".to_string()
        )]
    );
    assert!(verdict.exclusion().is_none());
}

#[test]
fn no_scan_yet_is_a_warning() {
    let mut catalog = Catalog::default();
    catalog.insert(RegionScan::missing("prod", region("eu-west-1"), 9, "down".into()));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", BASE);
    assert_eq!(
        findings(&verdict),
        vec![(
            Severity::Warning,
            "no successful scan of prod/eu-west-1 yet: cannot verify".to_string()
        )]
    );
    assert!(verdict.exclusion().is_none());
    assert!(verdict.stale, "a scan that failed marks the target stale");
}

#[test]
fn an_unlisted_profile_is_an_error_and_routes_on_its_geography() {
    let mut catalog = Catalog::default();
    catalog.insert(scan("eu-west-1", vec![model(true, Some(Access::GRANTED))], vec![]));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", &format!("eu.{BASE}"));
    assert_eq!(kinds(&verdict), vec![ProblemKind::ProfileNotListed]);
    assert_eq!(verdict.problems[0].severity(), Severity::Error);
    assert!(verdict.problems[0]
        .message
        .contains("not listed by ListInferenceProfiles"));
    let c = verdict.into_candidate(Origin::Baseline).unwrap();
    assert_eq!(c.reach, Reach::Zone(strata_core::Geography::Eu));
}

#[test]
fn a_model_not_offered_is_an_error_and_excluded() {
    let mut catalog = Catalog::default();
    catalog.insert(scan("eu-west-1", vec![], vec![]));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", BASE);
    assert_eq!(kinds(&verdict), vec![ProblemKind::NotOffered]);
    assert_eq!(
        findings(&verdict),
        vec![(Severity::Error, format!("{BASE} is not offered in eu-west-1"))]
    );
    let excluded = verdict.into_candidate(Origin::Pinned).unwrap_err();
    assert_eq!(
        excluded.reason,
        format!("catalog says: {BASE} is not offered in eu-west-1")
    );
}

#[test]
fn a_model_not_on_demand_is_an_error_and_a_known_denial_behind_it_still_excludes() {
    let mut catalog = Catalog::default();
    catalog.insert(scan("eu-west-1", vec![model(false, Some(Access::GRANTED))], vec![]));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", BASE);
    assert_eq!(kinds(&verdict), vec![ProblemKind::NotOnDemand]);
    assert!(findings(&verdict)[0].1.contains("use an inference profile ID"));
    assert!(verdict.exclusion().is_none(), "routing lets the operator's word stand");

    catalog.insert(scan("eu-west-1", vec![model(false, denied())], vec![]));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", BASE);
    assert!(matches!(
        kinds(&verdict)[..],
        [
            ProblemKind::NotOnDemand,
            ProblemKind::AccessDenied { in_reach: true, .. }
        ]
    ));
    assert_eq!(
        verdict.findings().count(),
        1,
        "check stops at the first it cannot get past"
    );
    assert!(verdict.exclusion().is_some());
}

#[test]
fn access_denied_in_a_destination_is_an_error_for_each_region_and_excludes() {
    let eu = eu_profile(&["eu-west-1", "eu-south-2"]);
    let mut catalog = Catalog::default();
    catalog.insert(scan(
        "eu-west-1",
        vec![model(true, Some(Access::GRANTED))],
        vec![eu.clone()],
    ));
    catalog.insert(scan("eu-south-2", vec![model(false, denied())], vec![eu]));
    let verdict = verify(
        &catalog,
        &["eu-west-1", "eu-south-2"],
        "eu-west-1",
        &format!("eu.{BASE}"),
    );
    assert_eq!(
        kinds(&verdict),
        vec![ProblemKind::AccessDenied {
            region: region("eu-south-2"),
            in_reach: true
        }]
    );
    let (severity, text) = &findings(&verdict)[0];
    assert_eq!(*severity, Severity::Error);
    assert!(
        text.contains("eu-south-2") && text.contains("grant model access there"),
        "{text}"
    );
    let excluded = verdict.into_candidate(Origin::Pinned).unwrap_err();
    assert!(
        excluded.reason.starts_with("catalog says: prod has no access"),
        "{}",
        excluded.reason
    );
}

#[test]
fn a_denial_outside_a_known_reach_is_reported_but_not_excluded() {
    // Listed without destinations: where it runs is a guess, so routing does not refuse it.
    let mut catalog = Catalog::default();
    catalog.insert(scan("eu-west-1", vec![model(true, denied())], vec![eu_profile(&[])]));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", &format!("eu.{BASE}"));
    assert_eq!(
        kinds(&verdict),
        vec![ProblemKind::AccessDenied {
            region: region("eu-west-1"),
            in_reach: false
        }]
    );
    assert_eq!(findings(&verdict)[0].0, Severity::Error);
    assert!(verdict.exclusion().is_none());
}

#[test]
fn access_unknown_in_a_destination_is_a_warning() {
    let eu = eu_profile(&["eu-west-1", "eu-central-1"]);
    let mut catalog = Catalog::default();
    catalog.insert(scan("eu-west-1", vec![model(true, Some(Access::GRANTED))], vec![eu]));
    let verdict = verify(&catalog, &["eu-west-1"], "eu-west-1", &format!("eu.{BASE}"));
    assert_eq!(
        kinds(&verdict),
        vec![ProblemKind::AccessUnknown {
            region: region("eu-central-1")
        }]
    );
    assert_eq!(
        findings(&verdict),
        vec![(
            Severity::Warning,
            "cannot verify access in eu-central-1: eu-central-1 is not scanned for account prod".to_string()
        )]
    );
    assert!(verdict.exclusion().is_none());
}

#[test]
fn an_imported_model_must_be_listed_in_its_own_region() {
    use strata_core::{ImportedModelEntry, ImportedModels};
    let imported = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123abc123";
    let listed = |arns: &[&str]| {
        ImportedModels::listed(arns.iter().map(|arn| ImportedModelEntry {
            arn: arn.to_string(),
            name: "apexguru-qwen".into(),
            architecture: None,
            created_at: 0,
            instruct_supported: None,
            model_units_per_copy: None,
        }))
    };
    let mut catalog = Catalog::default();
    let mut east = scan("us-east-1", vec![], vec![]);
    east.imported = listed(&[imported]);
    catalog.insert(east.clone());
    catalog.insert(scan("us-west-2", vec![], vec![]));
    // Listed where it is called: no problem, it runs only there.
    let verdict = verify(&catalog, &["us-east-1", "us-west-2"], "us-east-1", imported);
    assert!(verdict.problems.is_empty(), "{verdict:?}");
    assert_eq!(
        verdict.reach,
        Reach::Regions(strata_core::ExecutionSet::single(region("us-east-1")))
    );
    assert!(verdict.into_candidate(Origin::Pinned).is_ok());
    // Called in another region: an error, and routing leaves it out.
    let verdict = verify(&catalog, &["us-east-1", "us-west-2"], "us-west-2", imported);
    assert_eq!(
        kinds(&verdict),
        vec![ProblemKind::ImportedElsewhere {
            home: region("us-east-1")
        }]
    );
    assert!(verdict.into_candidate(Origin::Pinned).is_err());
    // Deleted: not listed any more.
    east.imported = listed(&[]);
    catalog.insert(east.clone());
    let verdict = verify(&catalog, &["us-east-1"], "us-east-1", imported);
    assert_eq!(kinds(&verdict), vec![ProblemKind::ImportedNotListed]);
    let (severity, text) = findings(&verdict).remove(0);
    assert_eq!(severity, Severity::Error);
    assert!(text.contains("is not listed in prod/us-east-1"), "{text}");
    let excluded = verdict.into_candidate(Origin::Pinned).unwrap_err();
    assert!(excluded.reason.contains("not listed"), "{}", excluded.reason);
    // Listing refused: a warning; the operator's word stands for routing.
    east.imported = ImportedModels::Unknown {
        reason: "ListImportedModels was refused".into(),
    };
    catalog.insert(east);
    let verdict = verify(&catalog, &["us-east-1"], "us-east-1", imported);
    assert_eq!(kinds(&verdict), vec![ProblemKind::ImportedUnknown]);
    assert_eq!(findings(&verdict)[0].0, Severity::Warning);
    assert!(findings(&verdict)[0].1.contains("refused"));
    assert!(verdict.into_candidate(Origin::Pinned).is_ok());
}
