//! What changed between two catalogs, as events: models added or removed, lifecycle changes,
//! access gained or lost, profiles added or removed or re-pointed, imported models added or
//! removed (or no longer listable), Service Quotas raised, cut, added or removed (or listed, or
//! no longer listable), scans gone stale or back.
//! Pure: the refresh loop logs, counts and keeps them.

use std::collections::BTreeMap;

use serde::Serialize;
use strata_core::{Catalog, Freshness, ImportedModels, QuotaEntry, Quotas, Region, RegionScan};

/// One change, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEvent {
    /// Unix seconds when the change was seen.
    pub at: u64,
    pub account: String,
    pub region: Region,
    #[serde(flatten)]
    pub change: Change,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    ModelAdded {
        model: String,
    },
    ModelRemoved {
        model: String,
    },
    LifecycleChanged {
        model: String,
        from: String,
        to: String,
    },
    AccessGained {
        model: String,
    },
    AccessLost {
        model: String,
        reason: String,
    },
    ProfileAdded {
        profile: String,
    },
    ProfileRemoved {
        profile: String,
    },
    ProfileDestinationsChanged {
        profile: String,
        added: Vec<Region>,
        removed: Vec<Region>,
    },
    /// An imported model appeared (or became visible again).
    ImportedModelAdded {
        model: String,
        arn: String,
    },
    ImportedModelRemoved {
        model: String,
        arn: String,
    },
    /// The account's imported models can no longer be listed; what was known is dropped.
    ImportedModelsUnknown {
        reason: String,
    },
    /// A quota raised, cut, added (`from: null`) or removed (`to: null`): `subject` is the model
    /// ID (on demand) or profile ID (cross-region), `measure` `rpm` or `tpm`.
    QuotaChanged {
        subject: String,
        measure: &'static str,
        from: Option<u32>,
        to: Option<u32>,
        /// The quota's code, when listed.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Service Quotas were listed where they were unknown (the first scan of them, or allowed
    /// again): one event for the lot, `count` models and profiles with a quota.
    QuotasListed {
        count: usize,
    },
    /// Service Quotas can no longer be listed; what was known is dropped.
    QuotasUnknown {
        reason: String,
    },
    ScanStale {
        error: String,
    },
    ScanRecovered,
}

impl Change {
    /// The metric label of this kind of change.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::ModelAdded { .. } => "model_added",
            Change::ModelRemoved { .. } => "model_removed",
            Change::LifecycleChanged { .. } => "lifecycle_changed",
            Change::AccessGained { .. } => "access_gained",
            Change::AccessLost { .. } => "access_lost",
            Change::ProfileAdded { .. } => "profile_added",
            Change::ProfileRemoved { .. } => "profile_removed",
            Change::ProfileDestinationsChanged { .. } => "profile_destinations_changed",
            Change::ImportedModelAdded { .. } => "imported_model_added",
            Change::ImportedModelRemoved { .. } => "imported_model_removed",
            Change::ImportedModelsUnknown { .. } => "imported_models_unknown",
            Change::QuotaChanged { .. } => "quota_changed",
            Change::QuotasListed { .. } => "quotas_listed",
            Change::QuotasUnknown { .. } => "quotas_unknown",
            Change::ScanStale { .. } => "scan_stale",
            Change::ScanRecovered => "scan_recovered",
        }
    }
}

/// The events that turn `old` into `new`. Stale data is not compared (it did not change); only
/// the staleness itself is reported.
pub fn diff(old: &Catalog, new: &Catalog, at: u64) -> Vec<CatalogEvent> {
    let mut events = Vec::new();
    let empty = |s: &RegionScan| RegionScan::missing(&s.account, s.region.clone(), 0, String::new());
    for scan in new.scans() {
        let mut push = |change: Change| {
            events.push(CatalogEvent {
                at,
                account: scan.account.clone(),
                region: scan.region.clone(),
                change,
            })
        };
        let before = old
            .scan(&scan.account, &scan.region)
            .cloned()
            .unwrap_or_else(|| empty(scan));
        match (&before.freshness, &scan.freshness) {
            (Freshness::Fresh, Freshness::Stale { error, .. } | Freshness::Missing { error, .. }) => {
                push(Change::ScanStale { error: error.clone() })
            }
            (Freshness::Stale { .. }, Freshness::Fresh) => push(Change::ScanRecovered),
            _ => {}
        }
        if !matches!(scan.freshness, Freshness::Fresh) {
            continue;
        }
        for (id, m) in &scan.models {
            match before.models.get(id) {
                None => {
                    push(Change::ModelAdded { model: id.clone() });
                    if m.access.as_ref().is_some_and(|a| a.granted()) {
                        push(Change::AccessGained { model: id.clone() });
                    }
                }
                Some(was) => {
                    if was.lifecycle != m.lifecycle {
                        push(Change::LifecycleChanged {
                            model: id.clone(),
                            from: was.lifecycle.as_str().to_string(),
                            to: m.lifecycle.as_str().to_string(),
                        });
                    }
                    match (&was.access, &m.access) {
                        (Some(a), Some(b)) if !a.granted() && b.granted() => {
                            push(Change::AccessGained { model: id.clone() })
                        }
                        (None, Some(b)) if b.granted() => push(Change::AccessGained { model: id.clone() }),
                        (Some(a), Some(b)) if a.granted() && !b.granted() => push(Change::AccessLost {
                            model: id.clone(),
                            reason: b.missing().unwrap_or("unknown").to_string(),
                        }),
                        _ => {}
                    }
                }
            }
        }
        for id in before.models.keys().filter(|id| !scan.models.contains_key(*id)) {
            push(Change::ModelRemoved { model: id.clone() });
        }
        for (id, p) in &scan.profiles {
            match before.profiles.get(id) {
                None => push(Change::ProfileAdded { profile: id.clone() }),
                Some(was) if was.destinations != p.destinations => push(Change::ProfileDestinationsChanged {
                    profile: id.clone(),
                    added: p.destinations.difference(&was.destinations).cloned().collect(),
                    removed: was.destinations.difference(&p.destinations).cloned().collect(),
                }),
                Some(_) => {}
            }
        }
        for id in before.profiles.keys().filter(|id| !scan.profiles.contains_key(*id)) {
            push(Change::ProfileRemoved { profile: id.clone() });
        }
        imported_changes(&before.imported, &scan.imported, &mut push);
        quota_changes(&before.quotas, &scan.quotas, &mut push);
    }
    events
}

/// Quotas raised, cut, added and removed, one event per model or profile and measure. Quotas
/// that became unknown are one event, not a removal of each; listed where they were unknown
/// (a first scan lists hundreds), one event too.
fn quota_changes(before: &Quotas, now: &Quotas, push: &mut impl FnMut(Change)) {
    let (was, is) = match (before.by_id(), now.by_id()) {
        (Some(was), Some(is)) => (was, is),
        (Some(_), None) => {
            push(Change::QuotasUnknown {
                reason: now.unknown().unwrap_or_default().to_string(),
            });
            return;
        }
        (None, Some(is)) => {
            push(Change::QuotasListed { count: is.len() });
            return;
        }
        (None, None) => return,
    };
    let none = QuotaEntry::default();
    let subjects: std::collections::BTreeSet<&String> = was.keys().chain(is.keys()).collect();
    for id in subjects {
        let (a, b) = (was.get(id).unwrap_or(&none), is.get(id).unwrap_or(&none));
        for (measure, from, to, code) in [
            ("rpm", a.rpm, b.rpm, b.rpm_code.as_ref().or(a.rpm_code.as_ref())),
            ("tpm", a.tpm, b.tpm, b.tpm_code.as_ref().or(a.tpm_code.as_ref())),
        ] {
            if from != to {
                push(Change::QuotaChanged {
                    subject: id.clone(),
                    measure,
                    from,
                    to,
                    code: code.cloned(),
                });
            }
        }
    }
}

/// Imported models added and removed. A listing that became unknown is one event, not a removal
/// of each model; one that became known again adds each model it lists.
fn imported_changes(before: &ImportedModels, now: &ImportedModels, push: &mut impl FnMut(Change)) {
    let empty = BTreeMap::new();
    let was = before.models().unwrap_or(&empty);
    let Some(is) = now.models() else {
        if let (Some(_), Some(reason)) = (before.models(), now.unknown()) {
            push(Change::ImportedModelsUnknown {
                reason: reason.to_string(),
            });
        }
        return;
    };
    for (arn, m) in is.iter().filter(|(arn, _)| !was.contains_key(*arn)) {
        push(Change::ImportedModelAdded {
            model: m.name.clone(),
            arn: arn.clone(),
        });
    }
    for (arn, m) in was.iter().filter(|(arn, _)| !is.contains_key(*arn)) {
        push(Change::ImportedModelRemoved {
            model: m.name.clone(),
            arn: arn.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strata_core::{Access, ImportedModelEntry, InferenceType, Lifecycle, ModelEntry, ProfileEntry};

    use super::*;

    fn region(r: &str) -> Region {
        Region::parse(r).unwrap()
    }

    fn scan(models: &[(&str, bool, &str)], profiles: &[(&str, &[&str])]) -> RegionScan {
        RegionScan {
            quotas: Default::default(),
            account: "prod".into(),
            region: region("eu-west-1"),
            scanned_at: 1,
            freshness: Freshness::Fresh,
            models: models
                .iter()
                .map(|(id, granted, lifecycle)| {
                    (
                        id.to_string(),
                        ModelEntry {
                            id: id.to_string(),
                            name: String::new(),
                            provider: String::new(),
                            lifecycle: Lifecycle::parse(lifecycle),
                            inference_types: BTreeSet::from([InferenceType::OnDemand]),
                            streaming: true,
                            access: Some(Access {
                                authorized: *granted,
                                ..Access::GRANTED
                            }),
                        },
                    )
                })
                .collect(),
            profiles: profiles
                .iter()
                .map(|(id, dests)| {
                    (
                        id.to_string(),
                        ProfileEntry::system(id, "m.a", dests.iter().map(|r| region(r))),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            imported: ImportedModels::listed([]),
        }
    }

    fn imported(names: &[&str]) -> ImportedModels {
        ImportedModels::listed(names.iter().enumerate().map(|(i, name)| ImportedModelEntry {
            arn: format!("arn:aws:bedrock:eu-west-1:222222222222:imported-model/abcdefghij{i:02}"),
            name: name.to_string(),
            architecture: None,
            created_at: 0,
            instruct_supported: None,
            model_units_per_copy: None,
        }))
    }

    fn with_imported(mut s: RegionScan, listing: ImportedModels) -> RegionScan {
        s.imported = listing;
        s
    }

    #[test]
    fn imported_models_added_removed_and_no_longer_listable() {
        let none = catalog(scan(&[], &[]));
        let two = catalog(with_imported(scan(&[], &[]), imported(&["qwen-ft", "llama-ft"])));
        let events = diff(&none, &two, 1);
        assert_eq!(kinds(&events), vec!["imported_model_added", "imported_model_added"]);
        assert!(events.iter().any(|e| matches!(&e.change,
            Change::ImportedModelAdded { model, arn } if model == "qwen-ft" && arn.ends_with("/abcdefghij00"))));
        // llama-ft deleted: index 0 is qwen-ft again, so only the second ARN goes.
        let one = catalog(with_imported(scan(&[], &[]), imported(&["qwen-ft"])));
        let events = diff(&two, &one, 2);
        assert_eq!(kinds(&events), vec!["imported_model_removed"]);
        assert!(matches!(&events[0].change, Change::ImportedModelRemoved { model, .. } if model == "llama-ft"));
        assert!(diff(&one, &one, 3).is_empty());
        // Listing refused: one event, no removals; allowed again: each model is added.
        let refused = ImportedModels::Unknown {
            reason: "ListImportedModels was refused".into(),
        };
        let unknown = catalog(with_imported(scan(&[], &[]), refused));
        assert_eq!(kinds(&diff(&one, &unknown, 4)), vec!["imported_models_unknown"]);
        assert!(diff(&unknown, &unknown, 5).is_empty());
        assert_eq!(kinds(&diff(&unknown, &one, 6)), vec!["imported_model_added"]);
        // A failed scan keeps them: only the staleness is reported.
        let stale = one.merged(vec![RegionScan::missing("prod", region("eu-west-1"), 7, "boom".into())]);
        assert_eq!(kinds(&diff(&one, &stale, 7)), vec!["scan_stale"]);
    }

    fn catalog(s: RegionScan) -> Catalog {
        let mut c = Catalog::default();
        c.insert(s);
        c
    }

    fn kinds(events: &[CatalogEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.change.kind()).collect()
    }

    #[test]
    fn every_kind_of_change_is_reported() {
        let old = catalog(scan(
            &[
                ("m.a", true, "ACTIVE"),
                ("m.b", true, "ACTIVE"),
                ("m.c", false, "ACTIVE"),
            ],
            &[("eu.m.a", &["eu-west-1"]), ("eu.m.old", &["eu-west-1"])],
        ));
        let new = catalog(scan(
            &[
                ("m.a", false, "ACTIVE"),
                ("m.c", true, "LEGACY"),
                ("m.d", true, "ACTIVE"),
            ],
            &[("eu.m.a", &["eu-west-1", "eu-west-3"]), ("eu.m.new", &["eu-west-1"])],
        ));
        let events = diff(&old, &new, 7);
        let mut got = kinds(&events);
        got.sort();
        assert_eq!(
            got,
            vec![
                "access_gained",
                "access_gained",
                "access_lost",
                "lifecycle_changed",
                "model_added",
                "model_removed",
                "profile_added",
                "profile_destinations_changed",
                "profile_removed",
            ]
        );
        assert!(diff(&new, &new, 8).is_empty());
    }

    fn with_quotas(mut s: RegionScan, quotas: &[(&str, Option<u32>, Option<u32>)]) -> RegionScan {
        s.quotas = Quotas::Listed {
            by_id: quotas
                .iter()
                .map(|(id, rpm, tpm)| {
                    let entry = QuotaEntry {
                        rpm: *rpm,
                        tpm: *tpm,
                        rpm_code: rpm.map(|_| "L-R".to_string()),
                        tpm_code: tpm.map(|_| "L-T".to_string()),
                    };
                    (id.to_string(), entry)
                })
                .collect(),
            unmatched: BTreeMap::new(),
        };
        s
    }

    #[test]
    fn quotas_raised_cut_added_removed_and_no_longer_listable() {
        let base = || scan(&[("m.a", true, "ACTIVE")], &[]);
        let old = catalog(with_quotas(
            base(),
            &[("m.a", Some(100), Some(1000)), ("eu.m.a", Some(5), None)],
        ));
        let new = catalog(with_quotas(
            base(),
            &[("m.a", Some(50), Some(1000)), ("eu.m.b", None, Some(9))],
        ));
        let events = diff(&old, &new, 1);
        let changes: Vec<_> = events
            .iter()
            .map(|e| match &e.change {
                Change::QuotaChanged {
                    subject,
                    measure,
                    from,
                    to,
                    ..
                } => (subject.as_str(), *measure, *from, *to),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                ("eu.m.a", "rpm", Some(5), None),
                ("eu.m.b", "tpm", None, Some(9)),
                ("m.a", "rpm", Some(100), Some(50)),
            ]
        );
        let json = serde_json::to_value(&events[2]).unwrap();
        assert_eq!(json["event"], "quota_changed");
        assert_eq!((json["from"].as_u64(), json["to"].as_u64()), (Some(100), Some(50)));
        assert_eq!(json["code"], "L-R");
        assert!(diff(&new, &new, 2).is_empty());
        // Listing refused: one event; listed again: one event.
        let refused = catalog(base());
        assert_eq!(kinds(&diff(&new, &refused, 3)), vec!["quotas_unknown"]);
        assert!(diff(&refused, &refused, 4).is_empty());
        let events = diff(&refused, &new, 5);
        assert_eq!(
            events.iter().map(|e| &e.change).collect::<Vec<_>>(),
            vec![&Change::QuotasListed { count: 2 }]
        );
    }

    #[test]
    fn a_failed_scan_reports_staleness_not_removals() {
        let old = catalog(scan(&[("m.a", true, "ACTIVE")], &[]));
        let failed = RegionScan::missing("prod", region("eu-west-1"), 9, "throttled".into());
        let new = old.merged(vec![failed]);
        assert_eq!(kinds(&diff(&old, &new, 9)), vec!["scan_stale"]);
        let back = new.merged(vec![scan(&[("m.a", true, "ACTIVE")], &[])]);
        assert_eq!(kinds(&diff(&new, &back, 10)), vec!["scan_recovered"]);
    }
}
