//! Route compilation: examples, then properties over random catalogs, policies and failed scans —
//! every compiled candidate and every configured (pinned/baseline) choice obeys the access and
//! residency rules, and nothing that obeys them is left out.

use std::collections::BTreeSet;

use proptest::prelude::*;
use strata_core::residency::Place;
use strata_core::{Access, Freshness, InferenceType, Lifecycle, ModelEntry};

use super::*;

pub(super) const BASE: &str = "anthropic.claude-test-v1:0";
const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "eu-south-2",
    "ap-northeast-1",
    "ap-southeast-2",
    "ap-south-1",
];
const ACCOUNTS: [&str; 2] = ["prod", "shard"];

pub(super) fn region(name: &str) -> Region {
    Region::parse(name).unwrap()
}

pub(super) fn model(on_demand: bool, access: Option<Access>) -> ModelEntry {
    ModelEntry {
        id: BASE.into(),
        name: String::new(),
        provider: String::new(),
        lifecycle: Lifecycle::Active,
        inference_types: if on_demand {
            BTreeSet::from([InferenceType::OnDemand])
        } else {
            BTreeSet::from([InferenceType::InferenceProfile])
        },
        streaming: true,
        access,
    }
}

fn profile(prefix: &str, destinations: &[&str]) -> ProfileEntry {
    ProfileEntry::system(
        &format!("{prefix}.{BASE}"),
        BASE,
        destinations.iter().map(|r| region(r)),
    )
}

fn scan(account: &str, r: &str, models: Vec<ModelEntry>, profiles: Vec<ProfileEntry>) -> RegionScan {
    RegionScan {
        quotas: Default::default(),
        account: account.into(),
        region: region(r),
        scanned_at: 1,
        freshness: Freshness::Fresh,
        models: models.into_iter().map(|m| (m.id.clone(), m)).collect(),
        profiles: profiles.into_iter().map(|p| (p.id.to_string(), p)).collect(),
        imported: strata_core::ImportedModels::listed([]),
    }
}

fn intent(layers: &[Layer]) -> Intent {
    Intent {
        model: IntentModel::Foundation(BASE.into()),
        layers: layers.to_vec(),
        accounts: ACCOUNTS
            .iter()
            .map(|a| AccountShare {
                account: a.to_string(),
                weight: 1,
            })
            .collect(),
        regions: None,
    }
}

fn compile(catalog: &Catalog, layers: &[Layer]) -> Compiled {
    compile_intent(&intent(layers), catalog, &ProfileIndex::build(catalog))
}

fn all_regions() -> Vec<Region> {
    REGIONS.iter().map(|r| region(r)).collect()
}

/// A configured target as route compilation takes it.
fn configured(
    catalog: &Catalog,
    account: &str,
    region: &Region,
    model_id: &str,
    origin: Origin,
) -> Result<Candidate, Exclusion> {
    verify_configured(catalog, &all_regions(), account, region, model_id).into_candidate(origin)
}

#[test]
fn a_profile_needs_access_in_every_destination() {
    let eu = profile("eu", &["eu-west-1", "eu-central-1", "eu-south-2"]);
    let mut catalog = Catalog::default();
    catalog.insert(scan(
        "prod",
        "eu-west-1",
        vec![model(true, Some(Access::GRANTED))],
        vec![eu.clone()],
    ));
    catalog.insert(scan(
        "prod",
        "eu-central-1",
        vec![model(true, Some(Access::GRANTED))],
        vec![eu.clone()],
    ));
    let denied = Access {
        authorized: false,
        ..Access::GRANTED
    };
    catalog.insert(scan("prod", "eu-south-2", vec![model(false, Some(denied))], vec![eu]));
    let all = [Layer::InRegion, Layer::Geography, Layer::Global];
    let compiled = compile(&catalog, &all);
    let ids: Vec<(&str, &str)> = compiled
        .candidates
        .iter()
        .map(|c| (c.region.as_str(), &*c.model_id))
        .collect();
    assert_eq!(ids, vec![("eu-central-1", BASE), ("eu-west-1", BASE)]);
    let reasons: Vec<String> = compiled.excluded.iter().map(|e| e.reason.clone()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("destination eu-south-2") && r.contains("not authorized")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("only through a profile")),
        "{reasons:?}"
    );
    // Grant it, and the profile appears from all three source regions with its destinations.
    catalog.insert(scan(
        "prod",
        "eu-south-2",
        vec![model(false, Some(Access::GRANTED))],
        vec![profile("eu", &["eu-west-1", "eu-central-1", "eu-south-2"])],
    ));
    let compiled = compile(&catalog, &all);
    let profiles: Vec<&Candidate> = compiled
        .candidates
        .iter()
        .filter(|c| c.layer == Layer::Geography)
        .collect();
    assert_eq!(profiles.len(), 3);
    assert_eq!(profiles[0].priority, 1);
    assert_eq!(profiles[0].reach.regions().unwrap().regions().count(), 3);
}

#[test]
fn layers_not_asked_for_are_not_compiled_and_unscanned_destinations_are_unknown() {
    let mut catalog = Catalog::default();
    catalog.insert(scan(
        "prod",
        "us-east-1",
        vec![model(true, Some(Access::GRANTED))],
        vec![
            profile("us", &["us-east-1", "us-west-2"]),
            profile("global", &["us-east-1", "eu-west-1"]),
        ],
    ));
    let compiled = compile(&catalog, &[Layer::Global]);
    assert!(compiled.candidates.is_empty());
    assert_eq!(compiled.excluded.len(), 1);
    assert!(
        compiled.excluded[0].reason.contains("access unknown"),
        "{:?}",
        compiled.excluded
    );
}

#[test]
fn residency_admits_by_reach() {
    let mut catalog = Catalog::default();
    for r in ["us-east-1", "eu-west-1"] {
        catalog.insert(scan(
            "prod",
            r,
            vec![model(true, Some(Access::GRANTED))],
            vec![profile("global", &["us-east-1", "eu-west-1"])],
        ));
    }
    let compiled = compile(&catalog, &[Layer::InRegion, Layer::Global]);
    let eu = ResidencyPolicy::parse(&["eu"]).unwrap();
    let (allowed, excluded) = admit(&compiled.candidates, &eu, DestinationTrust::Geography);
    assert_eq!(allowed.len(), 1);
    assert_eq!(compiled.candidates[allowed[0]].region.as_str(), "eu-west-1");
    assert_eq!(compiled.candidates[allowed[0]].layer, Layer::InRegion);
    assert_eq!(excluded.len(), 3);
    assert!(excluded.iter().all(|&i| compiled.candidates[i]
        .reach
        .check(&eu, DestinationTrust::Catalog)
        .unwrap_err()
        .to_string()
        .contains("us-east-1")));
}

#[test]
fn configured_targets_fall_back_to_geography_and_refuse_known_denials() {
    let mut catalog = Catalog::default();
    let unknown = configured(&catalog, "prod", &region("eu-west-1"), "eu.x.y-v1:0", Origin::Baseline).unwrap();
    assert_eq!(unknown.reach, Reach::Zone(Geography::Eu));
    let denied = Access {
        authorized: false,
        ..Access::GRANTED
    };
    catalog.insert(scan("prod", "eu-west-1", vec![model(true, Some(denied))], vec![]));
    assert!(configured(&catalog, "prod", &region("eu-west-1"), BASE, Origin::Baseline).is_err());
    assert!(configured(&catalog, "prod", &region("eu-central-1"), BASE, Origin::Pinned).is_ok());
}

// ---- properties ----

#[derive(Debug, Clone)]
struct ScanSpec {
    account: usize,
    region: usize,
    state: u8,
    listed: bool,
    on_demand: bool,
    access: u8,
    profiles: Vec<(u8, Vec<usize>)>,
}

fn scan_spec() -> impl Strategy<Value = ScanSpec> {
    (
        0..ACCOUNTS.len(),
        0..REGIONS.len(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        0u8..4,
        proptest::collection::vec((0u8..4, proptest::collection::vec(0..REGIONS.len(), 0..5)), 0..3),
    )
        .prop_map(
            |(account, region, state, listed, on_demand, access, profiles)| ScanSpec {
                account,
                region,
                state,
                listed,
                on_demand,
                access,
                profiles,
            },
        )
}

fn build(specs: &[ScanSpec]) -> Catalog {
    let mut catalog = Catalog::default();
    for s in specs {
        let access = match s.access {
            0 => None,
            1 => Some(Access {
                authorized: false,
                ..Access::GRANTED
            }),
            2 => Some(Access {
                agreement: false,
                ..Access::GRANTED
            }),
            _ => Some(Access::GRANTED),
        };
        let models = if s.listed {
            vec![model(s.on_demand, access)]
        } else {
            vec![]
        };
        let profiles = s
            .profiles
            .iter()
            .map(|(g, dests)| {
                let prefix = ["us", "eu", "apac", "global"][*g as usize];
                let names: Vec<&str> = dests.iter().map(|d| REGIONS[*d]).collect();
                profile(prefix, &names)
            })
            .collect();
        let mut sc = scan(ACCOUNTS[s.account], REGIONS[s.region], models, profiles);
        match s.state {
            0 => {}
            1 => sc = sc.into_stale(9, "throttled".into()),
            _ => sc = RegionScan::missing(ACCOUNTS[s.account], region(REGIONS[s.region]), 9, "down".into()),
        }
        catalog.insert(sc);
    }
    catalog
}

fn policy() -> impl Strategy<Value = ResidencyPolicy> {
    prop_oneof![
        Just(ResidencyPolicy::Any),
        proptest::collection::btree_set(
            prop_oneof![
                Just(Place::Zone(Geography::Us)),
                Just(Place::Zone(Geography::Eu)),
                Just(Place::Zone(Geography::Apac)),
                Just(Place::Zone(Geography::Jp)),
                (0..REGIONS.len()).prop_map(|i| Place::Region(region(REGIONS[i]))),
            ],
            0..4
        )
        .prop_map(ResidencyPolicy::Only),
    ]
}

fn trust() -> impl Strategy<Value = DestinationTrust> {
    prop_oneof![Just(DestinationTrust::Geography), Just(DestinationTrust::Catalog)]
}

fn granted(catalog: &Catalog, account: &str, r: &Region) -> bool {
    catalog.access(account, r, BASE) == AccessState::Granted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_candidate_obeys_access_and_residency(
        specs in proptest::collection::vec(scan_spec(), 0..24),
        policy in policy(),
        trust in trust(),
    ) {
        let catalog = build(&specs);
        let compiled = compile(&catalog, &[Layer::InRegion, Layer::Geography, Layer::Global]);
        for c in &compiled.candidates {
            let regions = c.reach.regions().expect("discovered candidates have exact regions");
            prop_assert!(!regions.is_empty());
            prop_assert!(granted(&catalog, &c.account, &c.region), "no access in the called region: {c:?}");
            for r in regions.regions() {
                prop_assert!(granted(&catalog, &c.account, r), "no access in {r}: {c:?}");
            }
        }
        let (allowed, excluded) = admit(&compiled.candidates, &policy, trust);
        prop_assert_eq!(allowed.len() + excluded.len(), compiled.candidates.len());
        for &i in &allowed {
            for r in compiled.candidates[i].reach.regions().unwrap().regions() {
                prop_assert!(policy.allows_region(r), "{r} outside policy {policy:?}");
            }
        }
        // Exactly the rule, written out independently: every destination allowed, and for a
        // profile either trust or its whole geography inside the policy.
        let allowed: BTreeSet<usize> = allowed.into_iter().collect();
        for (i, c) in compiled.candidates.iter().enumerate() {
            let destinations_in = c.reach.regions().unwrap().regions().all(|r| policy.allows_region(r));
            let geography_in = match strata_core::ids::profile_geography(&c.model_id).and_then(Geography::covered_regions) {
                Some(whole) => whole.iter().all(|r| policy.allows_region(r)),
                None => false,
            };
            let expected = policy == ResidencyPolicy::Any
                || (destinations_in
                    && (c.layer == Layer::InRegion || trust == DestinationTrust::Catalog || geography_in));
            prop_assert_eq!(allowed.contains(&i), expected, "{:?} under {:?} ({:?})", c, policy, trust);
        }
    }

    #[test]
    fn nothing_that_obeys_the_rules_is_left_out(specs in proptest::collection::vec(scan_spec(), 0..24)) {
        let catalog = build(&specs);
        let compiled = compile(&catalog, &[Layer::InRegion, Layer::Geography, Layer::Global]);
        let kept: BTreeSet<(String, Region, String)> = compiled
            .candidates
            .iter()
            .map(|c| (c.account.to_string(), c.region.clone(), c.model_id.to_string()))
            .collect();
        for scan in catalog.scans().filter(|s| s.has_data()) {
            if let Some(m) = scan.models.get(BASE) {
                if m.on_demand() && granted(&catalog, &scan.account, &scan.region) {
                    prop_assert!(kept.contains(&(scan.account.clone(), scan.region.clone(), BASE.to_string())));
                }
            }
            for p in scan.profiles.values() {
                let ok = !p.destinations.is_empty()
                    && granted(&catalog, &scan.account, &scan.region)
                    && p.destinations.iter().all(|r| granted(&catalog, &scan.account, r));
                prop_assert_eq!(ok, kept.contains(&(scan.account.clone(), scan.region.clone(), p.id.to_string())));
            }
        }
    }

    #[test]
    fn configured_choices_obey_residency_and_known_access(
        specs in proptest::collection::vec(scan_spec(), 0..24),
        policy in policy(),
        account in 0..ACCOUNTS.len(),
        r in 0..REGIONS.len(),
        kind in 0u8..4,
    ) {
        let catalog = build(&specs);
        let id = match kind {
            0 => BASE.to_string(),
            1 => format!("us.{BASE}"),
            2 => format!("eu.{BASE}"),
            _ => format!("global.{BASE}"),
        };
        let called = region(REGIONS[r]);
        if let Ok(c) = configured(&catalog, ACCOUNTS[account], &called, &id, Origin::Baseline) {
            if let Some(regions) = c.reach.regions() {
                for x in std::iter::once(&called).chain(regions.regions()) {
                    let known_denied = matches!(catalog.access(ACCOUNTS[account], x, BASE), AccessState::Denied(_))
                        && catalog.scan(ACCOUNTS[account], x).is_some_and(|s| s.has_data());
                    prop_assert!(!known_denied, "catalog knows {x} is denied: {c:?}");
                }
            }
            let (allowed, _) = admit(std::slice::from_ref(&c), &policy, DestinationTrust::Geography);
            if !allowed.is_empty() {
                match &c.reach {
                    Reach::Regions(set) => for x in set.regions() { prop_assert!(policy.allows_region(x)); },
                    Reach::Profile { destinations, geography } => {
                        for x in destinations.regions() { prop_assert!(policy.allows_region(x)); }
                        if policy != ResidencyPolicy::Any {
                            let whole = geography.and_then(Geography::covered_regions);
                            prop_assert!(whole.is_some_and(|w| w.iter().all(|x| policy.allows_region(x))));
                        }
                    }
                    Reach::Zone(zone) => {
                        let inside = match &policy {
                            ResidencyPolicy::Any => true,
                            ResidencyPolicy::Only(_) => zone
                                .covered_regions()
                                .is_some_and(|w| w.iter().all(|x| policy.allows_region(x))),
                        };
                        prop_assert!(inside, "zone {zone:?} admitted under {policy:?}");
                    }
                    Reach::Anywhere => prop_assert_eq!(&policy, &ResidencyPolicy::Any),
                }
            }
        }
    }
}

fn configured_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(BASE.to_string()),
        Just(format!("us.{BASE}")),
        Just(format!("eu.{BASE}")),
        Just(format!("apac.{BASE}")),
        Just(format!("global.{BASE}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Routing and `strata check` read one verdict: a target routing leaves out is always an
    /// error for `strata check`, and one it keeps is never refused for access the catalog
    /// cannot confirm is missing.
    #[test]
    fn what_routing_leaves_out_check_reports_as_an_error(
        specs in proptest::collection::vec(scan_spec(), 0..24),
        scanned in proptest::collection::btree_set(0..REGIONS.len(), 0..REGIONS.len()),
        account in 0..ACCOUNTS.len(),
        r in 0..REGIONS.len(),
        id in configured_id(),
    ) {
        let catalog = build(&specs);
        let scanned: Vec<Region> = scanned.into_iter().map(|i| region(REGIONS[i])).collect();
        let verdict = verify_configured(&catalog, &scanned, ACCOUNTS[account], &region(REGIONS[r]), &id);
        if let Some(p) = verdict.exclusion() {
            prop_assert!(
                verdict.findings().any(|f| f.severity() == Severity::Error),
                "{p:?} excludes but check reports no error: {verdict:?}"
            );
            let kind_excludes = matches!(p.kind, ProblemKind::NotOffered | ProblemKind::AccessDenied { .. });
            prop_assert!(kind_excludes, "{:?}", p);
        }
        for p in &verdict.problems {
            if p.excludes() {
                let denied_region = match &p.kind {
                    ProblemKind::AccessDenied { region, .. } => region.clone(),
                    _ => verdict.region.clone(),
                };
                prop_assert!(matches!(catalog.access(ACCOUNTS[account], &denied_region, BASE), AccessState::Denied(_)));
            }
        }
    }
}

#[test]
fn unknown_zone_membership_is_never_assumed() {
    // A pinned eu. profile without catalog data passes an `eu` policy (the profile cannot leave
    // the EU) but not a policy of EU regions listed one by one.
    let c = configured(
        &Catalog::default(),
        "prod",
        &region("eu-west-1"),
        &format!("eu.{BASE}"),
        Origin::Pinned,
    )
    .unwrap();
    let by_region = ResidencyPolicy::Only(BTreeSet::from([
        Place::Region(region("eu-west-1")),
        Place::Region(region("eu-central-1")),
    ]));
    for trust in [DestinationTrust::Geography, DestinationTrust::Catalog] {
        assert!(admit(std::slice::from_ref(&c), &by_region, trust).0.is_empty());
    }
}
