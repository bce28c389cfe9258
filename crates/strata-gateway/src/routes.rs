//! The compiled route table: every logical model's candidates with their live health and local
//! budget, and where each may execute (for residency). Built once per config; read lock-free.

use std::sync::Arc;

use strata_core::{ExecutionSet, Geography, ModelRef, Region, ResidencyPolicy, Verdict};
use strata_router::{Budget, Health, LocalLimiter};

use crate::config::{Config, Deployment, Target};

/// Where a candidate may run, as far as static config can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Exactly these regions (an in-region model ID).
    Regions(ExecutionSet),
    /// Somewhere in one geography (a `us.`/`eu.`/… profile whose destination list comes from
    /// discovery).
    Zone(Geography),
    /// Anywhere (`global.` profiles, upstreams of unknown location).
    Anywhere,
}

impl Reach {
    pub fn of(target: &Target) -> Reach {
        match target {
            Target::Bedrock { region, model_id, .. } => match ModelRef::parse(model_id) {
                Ok(ModelRef::Profile {
                    geography: Geography::Global,
                    ..
                }) => Reach::Anywhere,
                Ok(ModelRef::Profile { geography, .. }) => Reach::Zone(geography),
                Ok(ModelRef::Imported { region, .. }) => Reach::Regions(ExecutionSet::single(region)),
                _ => Reach::Regions(ExecutionSet::single(region.clone())),
            },
            Target::OpenAi { .. } => Reach::Anywhere,
        }
    }

    /// The residency rule over what is known: a zone is allowed only if the policy allows that
    /// whole zone; "anywhere" only under `any`.
    pub fn allowed_by(&self, policy: &ResidencyPolicy) -> bool {
        match (self, policy) {
            (_, ResidencyPolicy::Any) => true,
            (Reach::Regions(set), p) => p.check(set) == Verdict::Allowed,
            (Reach::Zone(zone), ResidencyPolicy::Only(places)) => {
                places.contains(&strata_core::residency::Place::Zone(*zone))
                    || (matches!(zone, Geography::Jp | Geography::Au)
                        && places.contains(&strata_core::residency::Place::Zone(Geography::Apac)))
            }
            (Reach::Anywhere, ResidencyPolicy::Only(_)) => false,
        }
    }
}

/// One candidate of a logical model.
#[derive(Debug)]
pub struct Route {
    pub deployment: Deployment,
    pub reach: Reach,
    pub health: Health,
    pub limiter: LocalLimiter,
    /// A short name for logs and metrics: `prod-us/us-east-1/us.anthropic…` or `vllm/llama`.
    pub label: String,
    pub metrics: crate::telemetry::RouteMetrics,
}

/// All logical models' routes, indexed like `Config::models`.
#[derive(Debug)]
pub struct RouteTable {
    pub models: Vec<Vec<Arc<Route>>>,
    /// Request metrics, indexed like `Config::models`.
    pub metrics: Vec<crate::telemetry::ModelMetrics>,
}

impl RouteTable {
    pub fn compile(config: &Config) -> RouteTable {
        let models = config
            .models
            .iter()
            .map(|m| {
                m.deployments
                    .iter()
                    .map(|d| {
                        let label = match &d.target {
                            Target::Bedrock {
                                account,
                                region,
                                model_id,
                            } => {
                                format!("{}/{}/{}", config.file.accounts[*account].name, region, model_id)
                            }
                            Target::OpenAi { provider, model } => {
                                format!("{}/{}", config.providers[*provider].name, model)
                            }
                        };
                        Arc::new(Route {
                            reach: Reach::of(&d.target),
                            health: Health::default(),
                            limiter: LocalLimiter::new(Budget { rpm: d.rpm, tpm: d.tpm }),
                            deployment: d.clone(),
                            label,
                            metrics: Default::default(),
                        })
                    })
                    .collect()
            })
            .collect();
        let metrics = config.models.iter().map(|_| Default::default()).collect();
        RouteTable { models, metrics }
    }
}

/// Where a region is, for messages.
pub fn region_of(target: &Target) -> Option<&Region> {
    match target {
        Target::Bedrock { region, .. } => Some(region),
        Target::OpenAi { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bedrock(region: &str, model: &str) -> Target {
        Target::Bedrock {
            account: 0,
            region: Region::parse(region).unwrap(),
            model_id: model.into(),
        }
    }

    #[test]
    fn residency_over_static_targets() {
        let eu = ResidencyPolicy::parse(&["eu"]).unwrap();
        let apac = ResidencyPolicy::parse(&["apac"]).unwrap();
        let west1 = ResidencyPolicy::parse(&["eu-west-1"]).unwrap();
        let any = ResidencyPolicy::parse(&["any"]).unwrap();
        let eu_profile = Reach::of(&bedrock("eu-west-1", "eu.anthropic.claude-sonnet-4-20250514-v1:0"));
        let in_region = Reach::of(&bedrock("eu-west-1", "amazon.nova-pro-v1:0"));
        let global = Reach::of(&bedrock(
            "eu-west-1",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ));
        let jp = Reach::of(&bedrock(
            "ap-northeast-1",
            "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
        ));
        assert!(eu_profile.allowed_by(&eu) && in_region.allowed_by(&eu));
        assert!(!global.allowed_by(&eu) && global.allowed_by(&any));
        assert!(in_region.allowed_by(&west1));
        assert!(
            !eu_profile.allowed_by(&west1),
            "destinations unknown: not provably inside eu-west-1"
        );
        assert!(jp.allowed_by(&apac));
        assert!(!Reach::of(&bedrock("us-east-1", "us.amazon.nova-pro-v1:0")).allowed_by(&eu));
    }
}
