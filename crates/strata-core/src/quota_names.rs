//! How Service Quotas' names map back to the models and profiles of a scan (see
//! [`crate::quotas`] for the rules): apart from the quota types, so the catalog's types and
//! this mapping import in one direction.

use std::collections::BTreeMap;

use crate::catalog::{ModelEntry, ProfileEntry};
use crate::quotas::{ListedQuota, QuotaEntry, Quotas, UnmatchedQuota};

/// Which bucket a quota is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OnDemand,
    CrossRegion,
    Global,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Requests,
    Tokens,
}

/// The kind, measure and display name of a per-model Bedrock quota name, if it is one.
fn parse_name(name: &str) -> Option<(Kind, Measure, &str)> {
    let lower = name.to_ascii_lowercase();
    let kind = if lower.starts_with("on-demand ") {
        Kind::OnDemand
    } else if lower.starts_with("global cross-region ") {
        Kind::Global
    } else if lower.starts_with("cross-region ") {
        Kind::CrossRegion
    } else {
        return None;
    };
    let (measure, marker) = if let Some(at) = lower.find(" requests per minute for ") {
        (Measure::Requests, (at, " requests per minute for ".len()))
    } else if let Some(at) = lower.find(" tokens per minute for ") {
        (Measure::Tokens, (at, " tokens per minute for ".len()))
    } else {
        return None;
    };
    // ASCII lower-casing keeps byte offsets.
    let display = name.get(marker.0 + marker.1..)?.trim();
    (!display.is_empty()).then_some((kind, measure, display))
}

/// Letters and digits only, lower-cased: `Claude 3.5 Sonnet v2` and `claude-3.5 sonnet V2` agree.
fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The names a model may be called by in a quota name: its provider and name, and its name.
fn display_names(model: &ModelEntry) -> [String; 2] {
    [
        normalized(&format!("{} {}", model.provider, model.name)),
        normalized(&model.name),
    ]
}

/// A value as a whole number of requests or tokens (`None` when not a finite, non-negative one).
fn whole(value: f64) -> Option<u32> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let rounded = value.round();
    if rounded >= f64::from(u32::MAX) {
        Some(u32::MAX)
    } else {
        // In range and whole: the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(rounded as u32)
    }
}

impl Quotas {
    /// The catalog's quotas from a listing, mapped to the scan's `models` and `profiles`.
    pub fn from_listing(
        models: &BTreeMap<String, ModelEntry>,
        profiles: &BTreeMap<String, ProfileEntry>,
        listed: impl IntoIterator<Item = ListedQuota>,
    ) -> Quotas {
        let mut by_id: BTreeMap<String, QuotaEntry> = BTreeMap::new();
        let mut unmatched = BTreeMap::new();
        for q in listed {
            let target = parse_name(&q.name)
                .and_then(|(kind, measure, display)| Some((subject(models, profiles, kind, display)?, measure)));
            match (target, whole(q.value)) {
                (Some((id, measure)), Some(value)) => {
                    let entry = by_id.entry(id).or_default();
                    match measure {
                        Measure::Requests => {
                            entry.rpm = Some(value);
                            entry.rpm_code = Some(q.code);
                        }
                        Measure::Tokens => {
                            entry.tpm = Some(value);
                            entry.tpm_code = Some(q.code);
                        }
                    }
                }
                (_, value) => {
                    unmatched.insert(
                        q.name,
                        UnmatchedQuota {
                            code: q.code,
                            value: value.unwrap_or(0),
                        },
                    );
                }
            }
        }
        Quotas::Listed { by_id, unmatched }
    }

    /// The quotas by model or profile ID; `None` when unknown.
    pub fn by_id(&self) -> Option<&BTreeMap<String, QuotaEntry>> {
        match self {
            Quotas::Listed { by_id, .. } => Some(by_id),
            Quotas::Unknown { .. } => None,
        }
    }

    /// The quotas of one model ID (on demand) or profile ID.
    pub fn get(&self, id: &str) -> Option<&QuotaEntry> {
        self.by_id()?.get(id)
    }

    /// Why the quotas are unknown; `None` when listed.
    pub fn unknown(&self) -> Option<&str> {
        match self {
            Quotas::Listed { .. } => None,
            Quotas::Unknown { reason } => Some(reason),
        }
    }
}

/// The model or profile ID a quota of `kind` for `display` governs, when exactly one matches.
fn subject(
    models: &BTreeMap<String, ModelEntry>,
    profiles: &BTreeMap<String, ProfileEntry>,
    kind: Kind,
    display: &str,
) -> Option<String> {
    // `… for {model} ({ID})`: the emulator's (and a careful reader's) way out of ambiguity.
    if let Some(inner) = display.strip_suffix(')').and_then(|d| d.rsplit_once(" (")) {
        let id = inner.1;
        let fits = match kind {
            Kind::OnDemand => models.contains_key(id),
            Kind::CrossRegion | Kind::Global => profiles.get(id).is_some_and(|p| is_kind(p, kind)),
        };
        if fits {
            return Some(id.to_string());
        }
    }
    let wanted = normalized(display);
    let mut matching = models.values().filter(|m| display_names(m).contains(&wanted));
    let model = one(&mut matching)?;
    match kind {
        Kind::OnDemand => Some(model.id.clone()),
        Kind::CrossRegion | Kind::Global => {
            let mut matching = profiles
                .values()
                .filter(|p| is_kind(p, kind) && p.models.contains(&model.id));
            one(&mut matching).map(|p| p.id.to_string())
        }
    }
}

fn is_kind(profile: &ProfileEntry, kind: Kind) -> bool {
    profile.id.starts_with("global.") == (kind == Kind::Global)
}

/// The only item, if there is exactly one.
fn one<T>(items: &mut impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::catalog::{InferenceType, Lifecycle};
    use crate::region::Region;

    fn model(id: &str, provider: &str, name: &str) -> (String, ModelEntry) {
        (
            id.to_string(),
            ModelEntry {
                id: id.into(),
                name: name.into(),
                provider: provider.into(),
                lifecycle: Lifecycle::Active,
                inference_types: BTreeSet::from([InferenceType::OnDemand]),
                streaming: true,
                access: None,
            },
        )
    }

    fn profile(id: &str, model: &str) -> (String, ProfileEntry) {
        let regions = ["us-east-1", "us-west-2"].map(|r| Region::parse(r).unwrap());
        (id.to_string(), ProfileEntry::system(id, model, regions))
    }

    fn q(code: &str, name: &str, value: f64) -> ListedQuota {
        ListedQuota {
            code: code.into(),
            name: name.into(),
            value,
        }
    }

    fn scan() -> (BTreeMap<String, ModelEntry>, BTreeMap<String, ProfileEntry>) {
        let models = BTreeMap::from([
            model("anthropic.claude-sonnet-4-v1:0", "Anthropic", "Claude Sonnet 4"),
            model("mistral.mistral-large-2402-v1:0", "Mistral AI", "Mistral Large (24.02)"),
            model("amazon.nova-pro-v1:0", "Amazon", "Nova Pro"),
        ]);
        let profiles = BTreeMap::from([
            profile("us.anthropic.claude-sonnet-4-v1:0", "anthropic.claude-sonnet-4-v1:0"),
            profile(
                "global.anthropic.claude-sonnet-4-v1:0",
                "anthropic.claude-sonnet-4-v1:0",
            ),
            profile("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
            profile("us2.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ]);
        (models, profiles)
    }

    #[test]
    fn names_map_to_models_and_profiles_of_the_scan() {
        let (models, profiles) = scan();
        let quotas = Quotas::from_listing(
            &models,
            &profiles,
            [
                q(
                    "L-1",
                    "On-demand InvokeModel requests per minute for Anthropic Claude Sonnet 4",
                    200.0,
                ),
                q(
                    "L-2",
                    "On-demand InvokeModel tokens per minute for Anthropic Claude Sonnet 4",
                    400000.0,
                ),
                q(
                    "L-3",
                    "Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4",
                    400.0,
                ),
                q(
                    "L-4",
                    "Global cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4",
                    9e5,
                ),
                // The name alone when it starts with the provider's first word; case and
                // punctuation aside.
                q(
                    "L-5",
                    "On-demand InvokeModel tokens per minute for mistral large 24.02",
                    1000.0,
                ),
                // Two geographic profiles of one model: only the ID tells them apart.
                q(
                    "L-6",
                    "Cross-Region InvokeModel requests per minute for Amazon Nova Pro (us2.amazon.nova-pro-v1:0)",
                    7.0,
                ),
                q(
                    "L-7",
                    "Cross-Region InvokeModel requests per minute for Amazon Nova Pro",
                    8.0,
                ),
                q(
                    "L-8",
                    "Model units per provisioned model for Anthropic Claude Sonnet 4",
                    2.0,
                ),
                q(
                    "L-9",
                    "On-demand InvokeModel requests per minute for Meta Llama 3 8B",
                    100.0,
                ),
            ],
        );
        let s4 = quotas.get("anthropic.claude-sonnet-4-v1:0").unwrap();
        assert_eq!((s4.rpm, s4.tpm), (Some(200), Some(400_000)));
        assert_eq!(
            (s4.rpm_code.as_deref(), s4.tpm_code.as_deref()),
            (Some("L-1"), Some("L-2"))
        );
        assert_eq!(quotas.get("us.anthropic.claude-sonnet-4-v1:0").unwrap().rpm, Some(400));
        let global = quotas.get("global.anthropic.claude-sonnet-4-v1:0").unwrap();
        assert_eq!((global.rpm, global.tpm), (None, Some(900_000)));
        assert_eq!(quotas.get("mistral.mistral-large-2402-v1:0").unwrap().tpm, Some(1000));
        assert_eq!(quotas.get("us2.amazon.nova-pro-v1:0").unwrap().rpm, Some(7));
        assert!(
            quotas.get("us.amazon.nova-pro-v1:0").is_none(),
            "ambiguous without the ID"
        );
        let Quotas::Listed { unmatched, .. } = &quotas else {
            panic!("listed")
        };
        let names: BTreeSet<&str> = unmatched.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from([
                "Cross-Region InvokeModel requests per minute for Amazon Nova Pro",
                "Model units per provisioned model for Anthropic Claude Sonnet 4",
                "On-demand InvokeModel requests per minute for Meta Llama 3 8B",
            ])
        );
        assert_eq!(
            unmatched["On-demand InvokeModel requests per minute for Meta Llama 3 8B"].value,
            100
        );
    }

    #[test]
    fn serializes_with_its_state() {
        let (models, profiles) = scan();
        let quotas = Quotas::from_listing(
            &models,
            &profiles,
            [q(
                "L-1",
                "On-demand InvokeModel tokens per minute for Amazon Nova Pro",
                5.0,
            )],
        );
        let json = serde_json::to_value(&quotas).unwrap();
        assert_eq!(json["state"], "listed");
        assert_eq!(json["by_id"]["amazon.nova-pro-v1:0"]["tpm"], 5);
        assert!(json["by_id"]["amazon.nova-pro-v1:0"].get("rpm").is_none());
        let back: Quotas = serde_json::from_value(json).unwrap();
        assert_eq!(back, quotas);
        assert!(Quotas::default().unknown().is_some());
    }

    #[test]
    fn odd_values_are_not_used() {
        assert_eq!(whole(f64::NAN), None);
        assert_eq!(whole(-1.0), None);
        assert_eq!(whole(2.6), Some(3));
        assert_eq!(whole(1e12), Some(u32::MAX));
    }
}
