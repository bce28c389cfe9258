//! Route compilation and candidate picking at fleet scale: a generated catalog of 30 accounts ×
//! 20 regions × 100 models (each model on demand in every region, a geography profile and a
//! global profile callable everywhere), 100 intents over every account and layer.
//! Targets (issue "discovery"): a full compilation under 50 ms; picking a candidate under 2 µs.

use std::collections::{BTreeMap, BTreeSet};

/// The allocator the `strata` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use strata_core::{
    Access, Catalog, Freshness, ImportedModels, InferenceType, Lifecycle, ModelEntry, ProfileEntry, Region, RegionScan,
    ResidencyPolicy,
};
use strata_router::{
    admit, compile_intent, compile_intents, order_candidates, pick_first, AccountShare, CandidateView,
    DestinationTrust, Intent, IntentModel, Layer, ProfileIndex, Strategy,
};

/// The first 20 Bedrock regions.
const REGIONS: &[&str] = strata_core::region::BEDROCK_REGIONS.split_at(20).0;

fn model_id(i: usize) -> String {
    format!("vendor.model-{i:03}-v1:0")
}

fn catalog(accounts: usize, models: usize) -> Catalog {
    let regions: Vec<Region> = REGIONS.iter().filter_map(|r| Region::parse(r).ok()).collect();
    let geo = |r: &Region| r.geography().prefix();
    let mut catalog = Catalog::default();
    for a in 0..accounts {
        for region in &regions {
            let mut entries = BTreeMap::new();
            let mut profiles = BTreeMap::new();
            for m in 0..models {
                let id = model_id(m);
                entries.insert(
                    id.clone(),
                    ModelEntry {
                        id: id.clone(),
                        name: String::new(),
                        provider: String::new(),
                        lifecycle: Lifecycle::Active,
                        inference_types: BTreeSet::from([InferenceType::OnDemand]),
                        streaming: true,
                        access: Some(Access::GRANTED),
                    },
                );
                let geo_id = format!("{}.{id}", geo(region));
                profiles.insert(
                    geo_id.clone(),
                    ProfileEntry {
                        id: geo_id.into(),
                        name: String::new(),
                        status: "ACTIVE".into(),
                        models: BTreeSet::from([id.clone()]),
                        destinations: regions.iter().filter(|r| geo(r) == geo(region)).cloned().collect(),
                    },
                );
                let global = format!("global.{id}");
                profiles.insert(
                    global.clone(),
                    ProfileEntry {
                        id: global.into(),
                        name: String::new(),
                        status: "ACTIVE".into(),
                        models: BTreeSet::from([id]),
                        destinations: regions.iter().cloned().collect(),
                    },
                );
            }
            catalog.insert(RegionScan {
                quotas: Default::default(),
                account: format!("acct-{a:02}"),
                region: region.clone(),
                scanned_at: 1,
                freshness: Freshness::Fresh,
                models: entries,
                profiles,
                imported: ImportedModels::listed([]),
            });
        }
    }
    catalog
}

fn intents(accounts: usize, models: usize) -> Vec<Intent> {
    (0..models)
        .map(|m| Intent {
            model: IntentModel::Foundation(model_id(m)),
            layers: vec![Layer::InRegion, Layer::Geography, Layer::Global],
            accounts: (0..accounts)
                .map(|a| AccountShare {
                    account: format!("acct-{a:02}"),
                    weight: 1,
                })
                .collect(),
            regions: None,
        })
        .collect()
}

fn compile_all(catalog: &Catalog, intents: &[Intent], policies: &[ResidencyPolicy], parallel: bool) -> usize {
    let index = ProfileIndex::build(catalog);
    let refs: Vec<&Intent> = intents.iter().collect();
    let compiled = if parallel {
        compile_intents(&refs, catalog, &index)
    } else {
        refs.iter().map(|i| compile_intent(i, catalog, &index)).collect()
    };
    let mut kept = 0;
    for c in &compiled {
        for p in policies {
            kept += admit(&c.candidates, p, DestinationTrust::Geography).0.len();
        }
    }
    kept
}

fn bench(c: &mut Criterion) {
    let catalog = catalog(30, 100);
    let intents = intents(30, 100);
    let policies = [
        ResidencyPolicy::Any,
        ResidencyPolicy::parse(&["eu"]).unwrap_or(ResidencyPolicy::Any),
        ResidencyPolicy::parse(&["us"]).unwrap_or(ResidencyPolicy::Any),
    ];
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("30 accounts x 20 regions x 100 models, 3 tenants, one thread", |b| {
        b.iter(|| black_box(compile_all(&catalog, &intents, &policies, false)))
    });
    group.bench_function("30 accounts x 20 regions x 100 models, 3 tenants, all cores", |b| {
        b.iter(|| black_box(compile_all(&catalog, &intents, &policies, true)))
    });
    group.finish();

    // A tenant's candidate list of one model: every account's in-region and geography targets
    // in its geography (30 accounts x 8 EU regions x 2 layers = 480), some cooling down.
    let views: Vec<CandidateView> = (0..480)
        .map(|i| CandidateView {
            weight: 1 + (i % 3) as u32,
            priority: (i % 2) as u32,
            in_flight: (i % 7) as u32,
            latency: Some(std::time::Duration::from_millis(100 + (i % 50) as u64)),
            cooling_down: i % 11 == 0,
            headroom: None,
        })
        .collect();
    let small: Vec<CandidateView> = views[..24].to_vec();
    let mut rng = rand::rng();
    for (name, set) in [("24 candidates", &small), ("480 candidates", &views)] {
        for strategy in [Strategy::Priority, Strategy::Weighted, Strategy::LeastBusy] {
            c.bench_function(&format!("pick/{strategy:?}/{name}"), |b| {
                b.iter(|| black_box(pick_first(strategy, black_box(set), &mut rng)))
            });
            c.bench_function(&format!("order all/{strategy:?}/{name}"), |b| {
                b.iter(|| black_box(order_candidates(strategy, black_box(set), &mut rng)))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
