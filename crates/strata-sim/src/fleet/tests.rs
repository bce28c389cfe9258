use super::*;

#[test]
fn builtin_fleet_is_consistent_and_rich_enough() {
    let fleet = Fleet::builtin().unwrap();
    assert!(fleet.accounts.len() >= 3);
    assert!(fleet.regions.len() >= 9);
    for p in &fleet.profiles {
        let m = fleet.model(&p.model).unwrap();
        assert!(p.destinations.iter().all(|d| m.hosted_in.contains(d)), "{}", p.id);
    }
    // Some account lacks access to a model in one destination region of one of its profiles.
    let gap = fleet.accounts.iter().enumerate().any(|(i, _)| {
        fleet.profiles.iter().any(|p| {
            p.destinations
                .iter()
                .any(|d| !fleet.configured_access(i, &p.model, d.as_str()))
        })
    });
    assert!(
        gap,
        "the built-in fleet must show an access gap in a profile destination"
    );
}

#[test]
fn unknown_keys_and_broken_references_are_rejected() {
    let err = serde_saphyr::from_str::<FleetFile>("accounts: []\nmystery: 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("mystery"), "{err}");
    let file: FleetFile = serde_saphyr::from_str(
        "profiles:\n  - {id: us.nope.model-v1:0, name: x, model: nope.model-v1:0, destinations: [us-east-1]}\n",
    )
    .unwrap();
    let err = Fleet::from_file(file).unwrap_err().to_string();
    assert!(err.contains("nope.model-v1:0"), "{err}");
}

#[test]
fn quota_overrides_win_over_defaults() {
    let fleet = Fleet::builtin().unwrap();
    let sandbox = fleet.account_by_id_or_name("sandbox").unwrap();
    assert_eq!(fleet.quota_for(sandbox, "us-east-1", "any", false).rpm, 20);
    let prod = fleet.account_by_id_or_name("prod-us").unwrap();
    assert_eq!(
        fleet.quota_for(prod, "us-east-1", "any", true),
        fleet.quotas.cross_region
    );
}

#[test]
fn parse_errors_name_the_line() {
    let err = serde_saphyr::from_str::<FleetFile>("accounts:\n  - id: \"111111111111\"\n    name: a\n    bogus: 1\n")
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains('4'), "{err}");
}

#[test]
fn builtin_capacities_skew_the_us_profiles_like_the_seed() {
    let fleet = Fleet::builtin().unwrap();
    let (east1, east2, west2) = (
        fleet.capacity("us-east-1"),
        fleet.capacity("us-east-2"),
        fleet.capacity("us-west-2"),
    );
    assert!(east2 > west2 && west2 > east1, "{east1} / {east2} / {west2}");
    assert_eq!(fleet.capacity("eu-west-1"), capacity::DEFAULT_REGION_CAPACITY);
    // the capacities round-trip through the fleet file `--print-fleet` writes
    let again = Fleet::from_file(fleet.to_file()).unwrap();
    assert_eq!(again.region_capacity, fleet.region_capacity);
}

#[test]
fn region_capacity_is_checked() {
    let file: FleetFile = serde_saphyr::from_str("region_capacity: {us-east-1: 5, mars-north-1: 3}\n").unwrap();
    let err = Fleet::from_file(file).unwrap_err().to_string();
    assert!(err.contains("mars-north-1"), "{err}");
    let file: FleetFile = serde_saphyr::from_str("region_capacity: {us-east-1: 5000000}\n").unwrap();
    let err = Fleet::from_file(file).unwrap_err().to_string();
    assert!(err.contains("us-east-1") && err.contains("at most"), "{err}");
    assert!(serde_saphyr::from_str::<FleetFile>("region_capacity: {us-east-1: -1}\n").is_err());
    // a file's own capacities replace the built-in ones
    let file: FleetFile = serde_saphyr::from_str("region_capacity: {us-east-1: 1}\n").unwrap();
    let fleet = Fleet::from_file(file).unwrap();
    assert_eq!(fleet.capacity("us-east-1"), 1);
    assert_eq!(fleet.capacity("us-east-2"), capacity::DEFAULT_REGION_CAPACITY);
}

#[test]
fn a_fleet_without_capacities_takes_the_builtin_ones_for_its_regions() {
    let file: FleetFile = serde_saphyr::from_str(
        "models:\n  - {id: a.model-v1:0, name: A, provider: A, body: nova, hosted_in: [us-east-2, eu-west-1], on_demand_in: [us-east-2]}\nprofiles: []\naccounts:\n  - {id: \"123456789012\", name: a, access_key_id: AKIAEXAMPLE000000001, secret_access_key: s}\n",
    )
    .unwrap();
    let fleet = Fleet::from_file(file).unwrap();
    let builtin = Fleet::builtin().unwrap();
    assert_eq!(fleet.capacity("us-east-2"), builtin.capacity("us-east-2"));
    assert_ne!(fleet.capacity("us-east-2"), capacity::DEFAULT_REGION_CAPACITY);
    assert!(fleet.region_capacity.keys().all(|r| fleet.has_region(r.as_str())));
}
