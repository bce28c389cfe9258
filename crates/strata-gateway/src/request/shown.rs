//! What a tenant is told of where its request ran: the `x-strata-route` header and the names
//! in error messages, cut to the tenant's `route_detail` (`model`, `region` — the default — or
//! `full`). Operators see everything in logs, metrics and the admin API; tenants need not learn
//! the fleet's account names, account IDs or role ARNs.

use std::borrow::Cow;

use crate::config::file::RouteDetail;
use crate::config::{Config, Target};
use crate::error::GatewayError;
use crate::routes::Route;

/// The `x-strata-route` value for a tenant: `full` → `account/region/model-id` (the route's
/// label), `region` → `logical-model/region`, `model` → `logical-model`.
pub fn route(detail: RouteDetail, logical: &str, route: &Route) -> String {
    match (detail, &route.target) {
        (RouteDetail::Full, _) => route.label.clone(),
        (RouteDetail::Region, Target::Bedrock { region, .. }) => {
            let mut shown = String::with_capacity(logical.len() + 1 + region.as_str().len());
            shown.push_str(logical);
            shown.push('/');
            shown.push_str(region.as_str());
            shown
        }
        _ => logical.to_string(),
    }
}

/// The error as the tenant may see it: below `full`, account names, provider names, 12-digit
/// account IDs and ARNs in the message become placeholders (and, at `model`, region names too).
pub fn error<'e>(detail: RouteDetail, config: &Config, e: &'e GatewayError) -> Cow<'e, GatewayError> {
    if detail == RouteDetail::Full {
        return Cow::Borrowed(e);
    }
    let mut shown = e.clone();
    shown.message = scrub(&e.message, detail, config);
    Cow::Owned(shown)
}

fn scrub(message: &str, detail: RouteDetail, config: &Config) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while !rest.is_empty() {
        // An ARN runs to the next blank or quote, its '/' and ':' included.
        if rest.starts_with("arn:") {
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | ')' | ']'))
                .unwrap_or(rest.len());
            out.push_str("<arn>");
            rest = &rest[end..];
            continue;
        }
        let end = rest.find(is_separator).unwrap_or(rest.len());
        if end == 0 {
            let sep = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..sep]);
            rest = &rest[sep..];
            continue;
        }
        let word = &rest[..end];
        out.push_str(replacement(word, detail, config).unwrap_or(word));
        rest = &rest[end..];
    }
    out
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | ',' | ';' | ':' | '\'' | '"' | '(' | ')' | '[' | ']' | '=')
}

fn replacement(word: &str, detail: RouteDetail, config: &Config) -> Option<&'static str> {
    if word.len() == 12 && word.bytes().all(|b| b.is_ascii_digit()) {
        return Some("<account>");
    }
    if config.accounts.iter().any(|a| a.name == word) || config.providers.iter().any(|p| p.name == word) {
        return Some("<account>");
    }
    if detail == RouteDetail::Model && strata_core::Region::parse(word).is_ok() && looks_like_region(word) {
        return Some("<region>");
    }
    None
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: letters, dashes, a final number.
fn looks_like_region(word: &str) -> bool {
    let mut parts = word.split('-');
    let first = parts.next().unwrap_or("");
    let last = word.rsplit('-').next().unwrap_or("");
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && word.matches('-').count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::from_text(
            r#"
accounts:
  - name: prod-us
    credentials: {type: static, access_key_id: AKIAPRODUS0000000001, secret_access_key: prod-us-secret-key-0000000000000000000001}
models:
  - name: nova
    deployments: [{account: prod-us, region: us-east-1, model: amazon.nova-pro-v1:0}]
"#,
            "<test>",
            |_| None,
        )
        .unwrap()
    }

    #[test]
    fn account_names_ids_and_arns_are_hidden_below_full() {
        let c = config();
        let m = "User: arn:aws:sts::111111111111:assumed-role/StrataGateway/s1 is not authorized; \
                 prod-us/us-east-1/amazon.nova-pro-v1:0 is cooling down (account 222222222222)";
        let region = scrub(m, RouteDetail::Region, &c);
        assert!(!region.contains("prod-us") && !region.contains("111111111111") && !region.contains("StrataGateway"));
        assert!(!region.contains("222222222222"));
        assert!(region.contains("<account>/us-east-1/amazon.nova-pro-v1:0"), "{region}");
        assert!(region.contains("<arn> is not authorized"), "{region}");
        let model = scrub(m, RouteDetail::Model, &c);
        assert!(model.contains("<account>/<region>/amazon.nova-pro-v1:0"), "{model}");
    }

    #[test]
    fn messages_without_names_are_untouched() {
        let c = config();
        let m = "max_tokens: must be at most 4096 (got 10000); the request's 'model' is wrong";
        assert_eq!(scrub(m, RouteDetail::Model, &c), m);
        assert_eq!(scrub("", RouteDetail::Region, &c), "");
        assert_eq!(scrub("é/ü", RouteDetail::Region, &c), "é/ü");
    }
}
