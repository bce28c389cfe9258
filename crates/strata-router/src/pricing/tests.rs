//! Prices and costs: known models in each layer, every spelling of an ID, overrides, unknown
//! models, and integer arithmetic that does not drift.

use super::*;

const SONNET_45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

fn tokens(input: u64, output: u64, cache_read: u64, cache_write: u64) -> TokenCounts {
    TokenCounts {
        input,
        output,
        cache_read,
        cache_write,
    }
}

#[test]
fn a_known_models_cost_in_each_layer() {
    let table = PriceTable::builtin();
    let t = tokens(1_000_000, 100_000, 200_000, 10_000);
    // Global: $3 in, $15 out, $0.30 cache read, $3.75 cache write per 1M tokens:
    // 3.00 + 1.50 + 0.06 + 0.0375 = $4.5975.
    assert_eq!(table.cost(SONNET_45, Layer::Global, t), Some(4_597_500_000));
    // In-region and geography cost 10% more: $5.05725.
    assert_eq!(table.cost(SONNET_45, Layer::InRegion, t), Some(5_057_250_000));
    assert_eq!(table.cost(SONNET_45, Layer::Geography, t), Some(5_057_250_000));
    // A model with one price has it in every layer.
    let nova = "amazon.nova-pro-v1:0";
    let t = tokens(1_000, 500, 0, 0);
    // 1,000 × $0.80/1M + 500 × $3.20/1M = $0.0008 + $0.0016 = 2,400,000 nano-USD.
    for layer in [Layer::InRegion, Layer::Geography, Layer::Global] {
        assert_eq!(table.cost(nova, layer, t), Some(2_400_000));
    }
}

#[test]
fn profile_ids_and_arns_reduce_to_the_base_model() {
    let table = PriceTable::builtin();
    let base = table.price(SONNET_45, Layer::Geography).unwrap();
    for id in [
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ] {
        assert_eq!(table.price(id, Layer::Geography), Some(base), "{id}");
    }
    assert_eq!(
        table.price("global.anthropic.claude-sonnet-4-5-20250929-v1:0", Layer::Global),
        table.price(SONNET_45, Layer::Global)
    );
}

#[test]
fn overrides_win() {
    let negotiated = Price {
        input: 2_000_000_000,
        output: 10_000_000_000,
        cache_read: Some(200_000_000),
        cache_write: Some(2_500_000_000),
    };
    // An override for one layer, written with a profile ID, leaves the other layers alone.
    let table = PriceTable::builtin().with_override(
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        Some(Layer::Global),
        negotiated,
    );
    assert_eq!(table.price(SONNET_45, Layer::Global), Some(negotiated));
    assert_eq!(table.price(SONNET_45, Layer::InRegion).unwrap().input, 3_300_000_000);
    // An override for every layer replaces the model's layer prices too.
    let table = table.with_override(SONNET_45, None, negotiated);
    for layer in [Layer::InRegion, Layer::Geography, Layer::Global] {
        assert_eq!(table.price(SONNET_45, layer), Some(negotiated));
    }
    // An override adds a model the table lacks.
    let llama = "meta.llama3-3-70b-instruct-v1:0";
    assert_eq!(PriceTable::builtin().price(llama, Layer::InRegion), None);
    let table = PriceTable::builtin().with_override(llama, None, negotiated);
    assert_eq!(table.price(llama, Layer::InRegion), Some(negotiated));
}

#[test]
fn unknown_models_and_missing_cache_prices_have_no_cost() {
    let table = PriceTable::builtin();
    let t = tokens(10, 10, 0, 0);
    assert_eq!(table.cost("meta.llama3-1-8b-instruct-v1:0", Layer::InRegion, t), None);
    assert_eq!(table.cost("acme.unknown-v1:0", Layer::InRegion, t), None);
    assert_eq!(
        table.cost(
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefghij12",
            Layer::InRegion,
            t
        ),
        None
    );
    assert_eq!(PriceTable::empty().cost(SONNET_45, Layer::Global, t), None);
    // Mistral Large has no prompt caching: a cache token makes the cost unknown, not zero.
    let mistral = "mistral.mistral-large-2402-v1:0";
    assert_eq!(table.cost(mistral, Layer::InRegion, t), Some(160_000));
    assert_eq!(table.cost(mistral, Layer::InRegion, tokens(10, 10, 1, 0)), None);
}

#[test]
fn integer_costs_do_not_drift() {
    let table = PriceTable::builtin();
    let micro = "amazon.nova-micro-v1:0";
    // One cache-read token of Nova Micro costs 8.75 nano-USD: a million of them exactly $0.00875,
    // computed in one request or as the sum of whole-request costs of 1,000 tokens each.
    let one_request = table.cost(micro, Layer::InRegion, tokens(0, 0, 1_000_000, 0)).unwrap();
    assert_eq!(one_request, 8_750_000);
    let per_thousand = table.cost(micro, Layer::InRegion, tokens(0, 0, 1_000, 0)).unwrap();
    assert_eq!(per_thousand * 1_000, one_request);
    // Many requests add up to exactly what one big request costs.
    let sonnet = (0..1_000)
        .map(|_| table.cost(SONNET_45, Layer::Geography, tokens(333, 77, 0, 0)).unwrap())
        .sum::<u64>();
    assert_eq!(
        Some(sonnet),
        table.cost(SONNET_45, Layer::Geography, tokens(333_000, 77_000, 0, 0))
    );
    // Rounding happens once per request, to the nearest nano-USD: 1 token = 8.75 → 9.
    assert_eq!(table.cost(micro, Layer::InRegion, tokens(0, 0, 1, 0)), Some(9));
    // Huge counts do not overflow silently.
    let huge = tokens(u64::MAX, u64::MAX, 0, 0);
    assert_eq!(table.cost(SONNET_45, Layer::Global, huge), None);
}

#[test]
fn every_builtin_model_is_a_foundation_model_of_the_emulator_catalog() {
    let catalog = include_str!("../../../strata-sim/src/fleet/default_catalog.json");
    for (model, _, _) in builtin::ROWS {
        assert_eq!(
            base_model(model).as_deref(),
            Some(*model),
            "{model} is not a plain model ID"
        );
        assert!(
            catalog.contains(&format!("\"{model}\"")),
            "{model} not in the built-in catalog"
        );
    }
}
