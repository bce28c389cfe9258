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
