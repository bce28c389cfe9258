//! Routing a call: the model it names (a logical model, or a concrete Bedrock model or profile
//! ID) becomes a [`Plan`]: the tenant's candidates of the model, then of each fallback model,
//! then the baseline — only routes the tenant's residency admitted when the table was compiled.
//! When nothing is left, the error says why in words.

use std::sync::Arc;

use strata_router::Strategy;

use crate::call::{Call, Work};
use crate::config::{Config, Target};
use crate::embedding::{is_embedding_model, Family};
use crate::error::{Class, GatewayError};
use crate::routes::{Route, RouteTable};

/// Candidates tried together: one logical model's, or the baseline.
#[derive(Debug, Clone)]
pub struct Group {
    /// The logical model this group answers for.
    pub model: usize,
    pub strategy: Strategy,
    pub routes: Vec<Arc<Route>>,
    /// The verified last-resort targets, tried only after every primary candidate failed.
    pub baseline: bool,
}

/// Where a call may go, in order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The logical model asked for (for a concrete ID: the first logical model that reaches it).
    pub model: usize,
    pub groups: Vec<Group>,
}

impl Plan {
    /// Whether any route goes to Bedrock (not only to OpenAI-compatible upstreams).
    pub fn reaches_bedrock(&self) -> bool {
        self.groups
            .iter()
            .flat_map(|g| &g.routes)
            .any(|r| matches!(r.target, Target::Bedrock { .. }))
    }
}

/// Routes a call for `tenant` to the model it names.
pub fn plan(config: &Config, table: &RouteTable, tenant: usize, model: &str) -> Result<Plan, GatewayError> {
    let t = &config.tenants[tenant];
    let plan = match config.model_by_name.get(model) {
        Some(&m) => {
            if !t.may_use(m) {
                return Err(GatewayError::client(
                    Class::Forbidden,
                    format!("model '{model}' is not available to this API key"),
                )
                .with_param("model"));
            }
            logical(config, table, tenant, m)
        }
        None => concrete(config, table, tenant, model).ok_or_else(|| {
            GatewayError::client(
                Class::UnknownModel,
                format!("The model '{model}' does not exist or is not available to this API key."),
            )
            .with_param("model")
        })?,
    };
    if plan.groups.iter().all(|g| g.routes.is_empty()) {
        return Err(no_route(config, table, tenant, plan.model));
    }
    Ok(plan)
}

/// Leaves out the candidates that cannot do what `call` asks: an embedding model asked to chat,
/// a model that does not embed (or an OpenAI-compatible deployment, which is sent chat
/// completions only) asked to embed, a vector size the model's family cannot make. When nothing
/// is left the request is the client's mistake, said in words — it is never sent upstream to
/// fail. An InvokeModel body passed through may go to any model.
pub fn fit(mut plan: Plan, call: &Call, config: &Config) -> Result<Plan, GatewayError> {
    let work = call.work();
    if work == Work::Native {
        return Ok(plan);
    }
    let mut reasons: Vec<String> = Vec::new();
    let mut sizes_only = true;
    for group in &mut plan.groups {
        group
            .routes
            .retain(|r| match unfit(&r.target, call, work).or_else(|| no_chat(r, work)) {
                None => true,
                Some((why, size)) => {
                    sizes_only &= size;
                    if reasons.len() < 3 && !reasons.contains(&why) {
                        reasons.push(why);
                    }
                    false
                }
            });
    }
    if plan.groups.iter().any(|g| !g.routes.is_empty()) {
        plan.groups.retain(|g| !g.routes.is_empty());
        return Ok(plan);
    }
    let name = &config.models[plan.model].name;
    Err(GatewayError::client(
        Class::Invalid,
        format!("model '{name}' cannot serve this request: {}", reasons.join("; ")),
    )
    .with_param(if sizes_only { "dimensions" } else { "model" }))
}

/// Why `target` cannot do `work`, and whether only the vector size is wrong.
fn unfit(target: &Target, call: &Call, work: Work) -> Option<(String, bool)> {
    match (work, target) {
        (Work::Embed, Target::OpenAi { .. }) => Some((
            "its OpenAI-compatible deployments are sent chat completions only".to_string(),
            false,
        )),
        (Work::Embed, Target::Bedrock { model_id, .. }) => match Family::of(model_id) {
            None => Some((format!("{model_id} is not an embedding model"), false)),
            Some(family) => call
                .embedding
                .as_ref()
                .and_then(|r| family.refuses(r))
                .map(|why| (why, true)),
        },
        (Work::Chat, Target::Bedrock { model_id, .. }) if is_embedding_model(model_id) => Some((
            format!(
                "{model_id} is an embedding model, not a chat model (embed with POST /v1/embeddings or InvokeModel)"
            ),
            false,
        )),
        _ => None,
    }
}

/// A chat call on an imported model that takes InvokeModel only (see [`crate::routes::Route::chat`]).
fn no_chat(route: &crate::routes::Route, work: Work) -> Option<(String, bool)> {
    (work == Work::Chat && !route.chat).then(|| {
        (
            format!(
                "{} is an imported model Bedrock serves without chat (not instruct-tuned): call it with InvokeModel in its own body",
                route.model_id()
            ),
            false,
        )
    })
}

/// The tenant's candidates of a logical model, then of its fallbacks, then the baseline.
fn logical(config: &Config, table: &RouteTable, tenant: usize, model: usize) -> Plan {
    let t = &config.tenants[tenant];
    let mut order = vec![model];
    for &f in &config.models[model].fallbacks {
        if !order.contains(&f) && t.may_use(f) {
            order.push(f);
        }
    }
    let mut groups: Vec<Group> = order
        .into_iter()
        .map(|m| Group {
            model: m,
            strategy: config.models[m].strategy,
            routes: table.models[m].tenants[tenant].allowed.clone(),
            baseline: false,
        })
        .collect();
    let baseline = &table.models[model].tenants[tenant].baseline;
    if !baseline.is_empty() {
        groups.push(Group {
            model,
            strategy: config.models[model].strategy,
            routes: baseline.clone(),
            baseline: true,
        });
    }
    Plan { model, groups }
}

/// A concrete Bedrock ID reaches the tenant's targets that call it, within the tenant's models
/// and residency; `None` when no logical model of the tenant's has such a target at all.
fn concrete(config: &Config, table: &RouteTable, tenant: usize, model_id: &str) -> Option<Plan> {
    let calls = |r: &Arc<Route>| matches!(&r.target, Target::Bedrock { model_id: id, .. } if id == model_id);
    let mut groups = Vec::new();
    let mut first = None;
    for (m, routes) in table.models.iter().enumerate() {
        if !config.tenants[tenant].may_use(m) {
            continue;
        }
        let t = &routes.tenants[tenant];
        let known = t.allowed.iter().chain(&t.refused).any(calls);
        if !known {
            continue;
        }
        first.get_or_insert(m);
        let matching: Vec<Arc<Route>> = t.allowed.iter().filter(|r| calls(r)).cloned().collect();
        if !matching.is_empty() {
            groups.push(Group {
                model: m,
                strategy: config.models[m].strategy,
                routes: matching,
                baseline: false,
            });
        }
    }
    first.map(|model| Plan { model, groups })
}

/// Why nothing may serve: the residency refusals (a few of them), or that no target is left.
fn no_route(config: &Config, table: &RouteTable, tenant: usize, model: usize) -> GatewayError {
    let name = &config.models[model].name;
    let routes = &table.models[model];
    let excluded = routes.tenants[tenant].excluded();
    let why = if !excluded.is_empty() {
        let shown: Vec<String> = excluded
            .iter()
            .take(5)
            .map(|e| format!("{}: {}", e.target, e.reason))
            .collect();
        let more = excluded.len().saturating_sub(shown.len());
        format!(
            "every target runs outside this API key's residency policy ({}{})",
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    } else if let Some(name) = imported_name(config, model) {
        let mut why =
            format!("no imported model named '{name}' is listed by discovery in any scanned region of its accounts");
        if let Some(e) = routes.excluded.first() {
            why.push_str(&format!(" (for example {}: {})", e.target, e.reason));
        }
        why
    } else if !routes.excluded.is_empty() {
        format!(
            "no target has access to the model (for example {}: {})",
            routes.excluded[0].target, routes.excluded[0].reason
        )
    } else {
        "no target is configured or discovered for it yet".to_string()
    };
    GatewayError::gateway(
        Class::NoRoute,
        format!("no target of model '{name}' is available to this API key: {why}"),
    )
}

/// The imported model's name a logical model's intent runs, if it runs one.
fn imported_name(config: &Config, model: usize) -> Option<&str> {
    match &config.models[model].intent.as_ref()?.intent.model {
        strata_router::IntentModel::Imported(name) => Some(name),
        strata_router::IntentModel::Foundation(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{Api, Estimate};
    use crate::embedding::EmbedRequest;
    use strata_aws::RuntimeOperation;

    fn bedrock(model_id: &str) -> Target {
        Target::Bedrock {
            account: 0,
            region: strata_core::Region::parse("us-east-1").unwrap(),
            model_id: model_id.to_string(),
        }
    }

    fn call(operation: RuntimeOperation, embedding: Option<EmbedRequest>) -> Call {
        Call {
            api: Api::OpenAi,
            model: "m".into(),
            operation,
            body: bytes::Bytes::new(),
            translation: None,
            content_type: None,
            accept: None,
            openai: None,
            embedding: embedding.map(Arc::new),
            estimate: Estimate::default(),
        }
    }

    fn embed(dimensions: Option<u32>) -> Call {
        let request = EmbedRequest {
            inputs: vec!["hello".into()],
            dimensions,
        };
        call(RuntimeOperation::InvokeModel, Some(request))
    }

    #[test]
    fn chat_stays_off_embedding_models_and_embeddings_off_chat_models() {
        let chat = call(RuntimeOperation::Converse, None);
        assert!(unfit(&bedrock("amazon.nova-pro-v1:0"), &chat, chat.work()).is_none());
        let (why, size) = unfit(&bedrock("amazon.titan-embed-text-v2:0"), &chat, chat.work()).unwrap();
        assert!(why.contains("embedding model") && !size);

        let e = embed(None);
        assert!(unfit(&bedrock("amazon.titan-embed-text-v2:0"), &e, e.work()).is_none());
        assert!(unfit(&bedrock("cohere.embed-multilingual-v3"), &e, e.work()).is_none());
        let (why, size) = unfit(&bedrock("amazon.nova-pro-v1:0"), &e, e.work()).unwrap();
        assert!(why.contains("not an embedding model") && !size);
        let provider = Target::OpenAi {
            provider: 0,
            model: "x".into(),
        };
        assert!(unfit(&provider, &e, e.work()).is_some());
    }

    #[test]
    fn a_size_the_family_cannot_make_is_a_size_problem() {
        let e = embed(Some(512));
        assert!(unfit(&bedrock("amazon.titan-embed-text-v2:0"), &e, e.work()).is_none());
        let (_, size) = unfit(&bedrock("cohere.embed-english-v3"), &e, e.work()).unwrap();
        assert!(size, "Cohere v3 makes 1024 only");
    }

    #[test]
    fn native_invoke_bodies_go_anywhere() {
        let native = call(RuntimeOperation::InvokeModel, None);
        assert_eq!(native.work(), Work::Native);
        assert!(unfit(&bedrock("amazon.titan-embed-text-v2:0"), &native, native.work()).is_none());
        let count = call(RuntimeOperation::CountTokens, None);
        assert_eq!(count.work(), Work::Native);
        assert!(!count.generates());
    }
}
