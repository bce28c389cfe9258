//! The built-in price table: on-demand prices of the foundation models in the emulator's built-in
//! catalog (`strata-sim`'s `default_catalog.json`) that AWS prices per token.
//!
//! Source: the Amazon Bedrock pricing page (aws.amazon.com/bedrock/pricing, on-demand, US East
//! (N. Virginia) as the source region), the Bedrock user guide on global cross-Region inference
//! ("approximately 10% savings on both input and output token pricing compared to geographic
//! cross-Region inference"), and Anthropic's Bedrock price list for prompt caching (5-minute
//! cache writes at 1.25× input, cache reads at 0.1× input). Checked 2026-11.
//!
//! Left out because no published price could be confirmed: Llama 3.3 70B, Llama 3.1 8B/70B and
//! Mistral Large (24.07); the gateway then records their cost as unknown. Add them by override.
//!
//! Prices are micro-USD per million tokens ($3.30 / 1M tokens = `3_300_000`), exact for every
//! price AWS publishes (per-1K prices with at most eight decimals).

use super::Price;
use crate::compile::Layer;

/// One row: the model, the layer it applies to (`None`: every layer without a row of its own)
/// and the price.
pub(super) type Row = (&'static str, Option<Layer>, Price);

/// A price in micro-USD per million tokens; `None` for a cache price the model does not have.
const fn price(input: u64, output: u64, cache_read: Option<u64>, cache_write: Option<u64>) -> Price {
    Price {
        input: input * 1000,
        output: output * 1000,
        cache_read: match cache_read {
            Some(p) => Some(p * 1000),
            None => None,
        },
        cache_write: match cache_write {
            Some(p) => Some(p * 1000),
            None => None,
        },
    }
}

pub(super) const ROWS: &[Row] = &[
    // Claude 4.5 generation: global profiles are the list price; in-region and geography
    // profiles cost 10% more.
    (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        Some(Layer::Global),
        price(3_000_000, 15_000_000, Some(300_000), Some(3_750_000)),
    ),
    (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        None,
        price(3_300_000, 16_500_000, Some(330_000), Some(4_125_000)),
    ),
    (
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        Some(Layer::Global),
        price(1_000_000, 5_000_000, Some(100_000), Some(1_250_000)),
    ),
    (
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        None,
        price(1_100_000, 5_500_000, Some(110_000), Some(1_375_000)),
    ),
    // Earlier Claude models: one price whatever the layer.
    (
        "anthropic.claude-sonnet-4-20250514-v1:0",
        None,
        price(3_000_000, 15_000_000, Some(300_000), Some(3_750_000)),
    ),
    (
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        None,
        price(3_000_000, 15_000_000, Some(300_000), Some(3_750_000)),
    ),
    (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        None,
        price(800_000, 4_000_000, Some(80_000), Some(1_000_000)),
    ),
    // Amazon Nova: cache reads at a 75% discount; cache writes cost no more than input.
    (
        "amazon.nova-pro-v1:0",
        None,
        price(800_000, 3_200_000, Some(200_000), Some(800_000)),
    ),
    (
        "amazon.nova-lite-v1:0",
        None,
        price(60_000, 240_000, Some(15_000), Some(60_000)),
    ),
    (
        "amazon.nova-micro-v1:0",
        None,
        price(35_000, 140_000, Some(8_750), Some(35_000)),
    ),
    // Mistral Large (24.02): no prompt caching.
    (
        "mistral.mistral-large-2402-v1:0",
        None,
        price(4_000_000, 12_000_000, None, None),
    ),
    // Embedding models: input tokens only (the pricing page, on-demand, checked 2026-11:
    // Titan Text Embeddings V2 $0.00002 / 1K, Cohere Embed English / Multilingual v3 $0.0001 / 1K).
    ("amazon.titan-embed-text-v2:0", None, price(20_000, 0, None, None)),
    ("cohere.embed-english-v3", None, price(100_000, 0, None, None)),
    ("cohere.embed-multilingual-v3", None, price(100_000, 0, None, None)),
];
