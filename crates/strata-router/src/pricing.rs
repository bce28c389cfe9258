//! What a request cost: per-token prices by foundation model and [`Layer`], and the cost of real
//! usage in integer nano-USD.
//!
//! Prices are held as nano-USD per million tokens. AWS publishes prices per 1,000 tokens with up
//! to eight decimals of a dollar (Nova Micro's cache read is $0.00000875 / 1K), so a price per
//! token is not a whole number of nano-USD but a price per million tokens always is; a cost is
//! summed exactly in `u128` and divided once, so the only rounding is to the nearest nano-USD of
//! the whole request — no float drift, however many requests are added up.
//!
//! The built-in table ([`PriceTable::builtin`], data in `pricing/builtin.rs`) covers the models
//! AWS prices per token whose price is published; anything else has no price, and its cost is
//! unknown (`None`) rather than guessed. Operators correct or extend it with
//! [`PriceTable::with_override`].

mod builtin;

use std::collections::HashMap;

use strata_core::ModelRef;

use crate::compile::Layer;

/// Nano-USD (10⁻⁹ US dollars) per million tokens.
pub type Nanos = u64;

/// The per-token prices of one model in one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    pub input: Nanos,
    pub output: Nanos,
    /// Input tokens read from the prompt cache; `None` when the model has no prompt caching.
    pub cache_read: Option<Nanos>,
    /// Input tokens written to the prompt cache; `None` when the model has no prompt caching.
    pub cache_write: Option<Nanos>,
}

/// Tokens of one request, as the upstream reported them (cache tokens are not also counted as
/// input, as Bedrock reports them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// One model's prices: per layer, and for every layer without its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ModelPrices {
    by_layer: [Option<Price>; 3],
    all_layers: Option<Price>,
}

fn slot(layer: Layer) -> usize {
    match layer {
        Layer::InRegion => 0,
        Layer::Geography => 1,
        Layer::Global => 2,
    }
}

impl ModelPrices {
    fn set(&mut self, layer: Option<Layer>, price: Price) {
        match layer {
            Some(l) => self.by_layer[slot(l)] = Some(price),
            // A price for every layer replaces whatever the model had.
            None => {
                *self = ModelPrices {
                    by_layer: [None; 3],
                    all_layers: Some(price),
                }
            }
        }
    }

    fn get(&self, layer: Layer) -> Option<Price> {
        self.by_layer[slot(layer)].or(self.all_layers)
    }
}

/// Prices by foundation model ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    models: HashMap<String, ModelPrices>,
}

/// The foundation model an ID runs: itself, a profile's model (`eu.anthropic…` →
/// `anthropic…`), or an ARN's. Imported models and malformed IDs have none.
fn base_model(model_id: &str) -> Option<String> {
    ModelRef::parse(model_id)
        .ok()
        .and_then(|m| m.foundation_model_id().map(str::to_string))
}

impl PriceTable {
    /// An empty table: every cost unknown.
    pub fn empty() -> PriceTable {
        PriceTable::default()
    }

    /// The built-in prices (see `pricing/builtin.rs` for the source and date).
    pub fn builtin() -> PriceTable {
        let mut table = PriceTable::default();
        // Rows for every layer first, so a layer's own row is never replaced by one.
        let all_layers = builtin::ROWS.iter().filter(|row| row.1.is_none());
        let per_layer = builtin::ROWS.iter().filter(|row| row.1.is_some());
        for &(model, layer, price) in all_layers.chain(per_layer) {
            table.models.entry(model.to_string()).or_default().set(layer, price);
        }
        table
    }

    /// This table with `price` for `model_id` (any spelling: model ID, profile ID, ARN) in
    /// `layer`, or in every layer when `layer` is `None` (replacing all the model's prices). An
    /// ID naming no foundation model is ignored.
    pub fn with_override(mut self, model_id: &str, layer: Option<Layer>, price: Price) -> PriceTable {
        if let Some(base) = base_model(model_id) {
            self.models.entry(base).or_default().set(layer, price);
        }
        self
    }

    /// The price of `model_id` (model ID, profile ID or ARN) called in `layer`.
    pub fn price(&self, model_id: &str, layer: Layer) -> Option<Price> {
        let prices = match self.models.get(model_id) {
            Some(p) => p,
            None => self.models.get(&base_model(model_id)?)?,
        };
        prices.get(layer)
    }

    /// What `tokens` of `model_id` called in `layer` cost, in nano-USD (rounded once, to the
    /// nearest). `None` when the model has no price, or reports cache tokens it has no cache
    /// price for.
    pub fn cost(&self, model_id: &str, layer: Layer, tokens: TokenCounts) -> Option<u64> {
        self.price(model_id, layer)?.cost(tokens)
    }
}

impl Price {
    /// The cost of `tokens` at this price, in nano-USD; `None` when a kind of token used has no
    /// price here.
    pub fn cost(&self, tokens: TokenCounts) -> Option<u64> {
        let price = self;
        let part = |count: u64, per_million: Option<Nanos>| -> Option<u128> {
            match (count, per_million) {
                (0, _) => Some(0),
                (n, Some(p)) => Some(u128::from(n) * u128::from(p)),
                (_, None) => None,
            }
        };
        let total = part(tokens.input, Some(price.input))?
            + part(tokens.output, Some(price.output))?
            + part(tokens.cache_read, price.cache_read)?
            + part(tokens.cache_write, price.cache_write)?;
        u64::try_from((total + 500_000) / 1_000_000).ok()
    }
}

#[cfg(test)]
mod tests;
