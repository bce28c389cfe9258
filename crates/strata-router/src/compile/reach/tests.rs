//! The residency rule over reaches: the catalog can be behind AWS, so a profile is held to its
//! whole geography unless the tenant trusts the catalog's destinations.

use super::*;

fn region(name: &str) -> Region {
    Region::parse(name).unwrap()
}

fn policy(places: &[&str]) -> ResidencyPolicy {
    ResidencyPolicy::parse(places).unwrap()
}

fn listed(profile_id: &str, destinations: &[&str]) -> Reach {
    Reach::profile(profile_id, ExecutionSet::of(destinations.iter().map(|r| region(r))))
}

const EU_SONNET: &str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0";
const TRUST: DestinationTrust = DestinationTrust::Catalog;
const DEFAULT: DestinationTrust = DestinationTrust::Geography;

/// `check` and the bit-mask fast path agree, for both trusts.
fn admitted(reach: &Reach, policy: &ResidencyPolicy, trust: DestinationTrust) -> bool {
    let slow = reach.check(policy, trust).is_ok();
    let fast = reach.admits(policy, crate::policy_mask(policy), trust);
    assert_eq!(
        slow, fast,
        "check and admits disagree on {reach:?} under {policy:?} ({trust:?})"
    );
    slow
}

#[test]
fn a_narrow_policy_loses_geography_profiles_unless_it_trusts_the_catalog() {
    let two = policy(&["eu-west-1", "eu-central-1"]);
    let inside = listed(EU_SONNET, &["eu-west-1", "eu-central-1"]);
    assert!(!admitted(&inside, &two, DEFAULT));
    let why = inside.check(&two, DEFAULT).unwrap_err();
    let text = why.to_string();
    assert!(
        text.starts_with("geography 'eu' includes eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-2, eu-west-3 outside the policy [eu-central-1, eu-west-1]"),
        "{text}"
    );
    assert!(text.contains("set trust_catalog_destinations"), "{text}");
    assert_eq!(inside.check(&two, TRUST), Ok(AdmittedBy::Catalog));
    assert!(admitted(&inside, &two, TRUST));
    // Trust never admits a destination the catalog itself lists outside the policy.
    let wider = listed(EU_SONNET, &["eu-west-1", "eu-central-1", "eu-west-3"]);
    assert!(!admitted(&wider, &two, TRUST));
    assert_eq!(wider.check(&two, TRUST), Err(Refusal::RunsIn(region("eu-west-3"))));
}

#[test]
fn a_zone_policy_keeps_its_own_geography_profiles() {
    let eu = policy(&["eu"]);
    let reach = listed(EU_SONNET, &["eu-west-1", "eu-central-1", "eu-west-3"]);
    for trust in [DEFAULT, TRUST] {
        assert_eq!(reach.check(&eu, trust), Ok(AdmittedBy::Geography));
        assert!(admitted(&reach, &eu, trust));
    }
    // jp. sits inside apac; apac. reaches the UAE, outside an `apac` policy.
    let apac = policy(&["apac"]);
    let jp = listed(
        "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
        &["ap-northeast-1", "ap-northeast-3"],
    );
    assert_eq!(jp.check(&apac, DEFAULT), Ok(AdmittedBy::Geography));
    let apac_profile = listed("apac.amazon.nova-pro-v1:0", &["ap-northeast-1", "ap-southeast-2"]);
    assert!(!admitted(&apac_profile, &apac, DEFAULT));
    assert!(apac_profile
        .check(&apac, DEFAULT)
        .unwrap_err()
        .to_string()
        .contains("me-central-1"));
    assert!(admitted(&apac_profile, &apac, TRUST));
}

#[test]
fn a_global_profile_needs_any() {
    let global = listed(
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        &["us-east-1", "eu-west-1"],
    );
    let broad = policy(&["us", "eu", "apac", "ca", "sa", "me", "af"]);
    assert!(!admitted(&global, &broad, DEFAULT));
    assert!(global
        .check(&broad, DEFAULT)
        .unwrap_err()
        .to_string()
        .contains("geography 'global' includes every commercial region"));
    assert_eq!(global.check(&ResidencyPolicy::Any, DEFAULT), Ok(AdmittedBy::Geography));
    assert!(admitted(&global, &ResidencyPolicy::Any, DEFAULT));
    // Trusted, its listed destinations decide.
    assert_eq!(global.check(&broad, TRUST), Ok(AdmittedBy::Catalog));
}

#[test]
fn catalog_drift_three_listed_destinations_are_not_the_whole_geography() {
    // The catalog lists three EU destinations, all allowed; the eu geography has more.
    let three = policy(&["eu-west-1", "eu-central-1", "eu-west-3"]);
    let reach = listed(EU_SONNET, &["eu-west-1", "eu-central-1", "eu-west-3"]);
    assert!(!admitted(&reach, &three, DEFAULT));
    match reach.check(&three, DEFAULT) {
        Err(Refusal::Geography { geography, outside, .. }) => {
            assert_eq!(geography, Geography::Eu);
            assert!(outside.contains(&region("eu-south-2")) && outside.contains(&region("eu-central-2")));
            assert!(!outside.contains(&region("eu-west-3")));
        }
        other => panic!("{other:?}"),
    }
    // Listing every EU region one by one is the whole geography.
    let all_eu: Vec<&str> = Geography::Eu
        .covered_regions()
        .unwrap()
        .iter()
        .map(Region::as_str)
        .collect();
    assert_eq!(reach.check(&policy(&all_eu), DEFAULT), Ok(AdmittedBy::Geography));
}

#[test]
fn an_unknown_geography_is_admitted_only_on_trusted_destinations() {
    let eu = policy(&["eu"]);
    let odd = listed("xx.anthropic.claude-test-v1:0", &["eu-west-1"]);
    assert_eq!(
        odd,
        Reach::Profile {
            destinations: ExecutionSet::single(region("eu-west-1")),
            geography: None
        }
    );
    assert!(!admitted(&odd, &eu, DEFAULT));
    assert!(odd
        .check(&eu, DEFAULT)
        .unwrap_err()
        .to_string()
        .contains("geography is unknown"));
    assert_eq!(odd.check(&eu, TRUST), Ok(AdmittedBy::Catalog));
    assert_eq!(odd.check(&ResidencyPolicy::Any, DEFAULT), Ok(AdmittedBy::Unrestricted));
    // A prefix AWS documents no profiles for counts as unknown too.
    assert!(!admitted(
        &listed("sa.x.y-v1:0", &["sa-east-1"]),
        &policy(&["sa"]),
        DEFAULT
    ));
}

#[test]
fn in_region_targets_are_unaffected() {
    let two = policy(&["eu-west-1", "eu-central-1"]);
    let r = region("eu-west-1");
    let in_region = Reach::guess(&r, "amazon.nova-pro-v1:0");
    for trust in [DEFAULT, TRUST] {
        assert_eq!(in_region.check(&two, trust), Ok(AdmittedBy::InRegion));
        assert!(admitted(&in_region, &two, trust));
        assert!(!admitted(
            &Reach::guess(&region("eu-west-2"), "amazon.nova-pro-v1:0"),
            &two,
            trust
        ));
    }
}

#[test]
fn residency_over_guessed_reach() {
    let eu = policy(&["eu"]);
    let apac = policy(&["apac"]);
    let jp_only = policy(&["jp"]);
    let west1 = policy(&["eu-west-1"]);
    let any = policy(&["any"]);
    let r = region("eu-west-1");
    let eu_profile = Reach::guess(&r, "eu.anthropic.claude-sonnet-4-20250514-v1:0");
    let in_region = Reach::guess(&r, "amazon.nova-pro-v1:0");
    let global = Reach::guess(&r, "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
    let jp = Reach::guess(&region("ap-northeast-1"), "jp.anthropic.claude-haiku-4-5-20251001-v1:0");
    for trust in [DEFAULT, TRUST] {
        assert!(admitted(&eu_profile, &eu, trust) && admitted(&in_region, &eu, trust));
        assert!(!admitted(&global, &eu, trust) && admitted(&global, &any, trust));
        assert!(admitted(&in_region, &west1, trust));
        assert!(
            !admitted(&eu_profile, &west1, trust),
            "destinations unknown: not provably inside eu-west-1, whatever the trust"
        );
        assert!(admitted(&jp, &apac, trust) && admitted(&jp, &jp_only, trust));
        assert!(!admitted(
            &Reach::guess(&region("us-east-1"), "us.amazon.nova-pro-v1:0"),
            &eu,
            trust
        ));
    }
    assert!(eu_profile
        .check(&west1, DEFAULT)
        .unwrap_err()
        .to_string()
        .contains("destinations not discovered"));
    assert_eq!(eu_profile.check(&eu, DEFAULT), Ok(AdmittedBy::Geography));
}
