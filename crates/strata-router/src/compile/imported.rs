//! An intent over an imported model, named as Custom Model Import named it: one candidate per
//! (account, region) whose scan lists a model of that name, called by its ARN in that region.
//! An imported model runs only in its own region, so its reach is that region and residency
//! admits it like any in-region model. A region whose imported models could not be listed is
//! reported as an exclusion (the catalog answers "unknown", never "yes").

use std::sync::Arc;

use strata_core::{Catalog, ModelRef};

use super::{position, Candidate, Compiled, Exclusion, Intent, Layer, ProfileIndex};

/// Expands `intent`, which runs the imported model called `name`.
pub(super) fn compile(intent: &Intent, name: &str, catalog: &Catalog, index: &ProfileIndex<'_>) -> Compiled {
    let mut out = Compiled::default();
    let Some(priority) = position(&intent.layers, Layer::InRegion) else {
        return out;
    };
    let wanted = |region: &strata_core::Region| intent.regions.as_ref().is_none_or(|r| r.contains(region));
    for share in &intent.accounts {
        let account: Arc<str> = Arc::from(share.account.as_str());
        for scan in catalog
            .scans_of(&share.account)
            .filter(|s| s.has_data() && wanted(&s.region))
        {
            if let Some(reason) = scan.imported.unknown() {
                out.excluded.push(Exclusion::of(
                    &share.account,
                    &scan.region,
                    name,
                    format!(
                        "imported models of {} in {} are unknown: {reason}",
                        share.account, scan.region
                    ),
                ));
                continue;
            }
            for entry in scan.imported.named(name) {
                // Listed in this region, so its ARN names this region; anything else is not
                // callable here and is said so rather than guessed.
                match ModelRef::parse(&entry.arn) {
                    Ok(ModelRef::Imported { region, .. }) if region == scan.region => {}
                    _ => {
                        out.excluded.push(Exclusion::of(
                            &share.account,
                            &scan.region,
                            &entry.arn,
                            format!("listed in {} but its ARN names another region", scan.region),
                        ));
                        continue;
                    }
                }
                out.candidates.push(Candidate::in_region(
                    &account,
                    scan,
                    Arc::from(entry.arn.as_str()),
                    index,
                    share,
                    priority,
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
