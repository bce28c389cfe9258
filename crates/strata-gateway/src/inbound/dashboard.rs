//! `GET /dashboard`: one page with every logical model, its deployments, where each may run and
//! their live health. Server-rendered, no scripts or assets from elsewhere. Admins only: an
//! admin key in `Authorization`, or a session cookie from signing in once with the form the
//! page shows to anyone else (`POST /dashboard/login`).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::request::authenticate::{authenticate, Principal};
use crate::tenants::sessions::SESSION;

use crate::state::GatewayState;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for an admin; the sign-in form for anyone else.
pub async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if !signed_in(&state, &headers) {
        return sign_in_form(StatusCode::UNAUTHORIZED, None);
    }
    dashboard(&state).into_response()
}

/// Signs an admin in from the form: a session cookie (HttpOnly, SameSite=Strict, 12 h), then
/// back to the page.
pub async fn login(State(state): State<Arc<GatewayState>>, body: axum::body::Bytes) -> Response {
    let key = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "key")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", key.trim())) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let g = state.gateway();
    match authenticate(&g.config, &g.keys, &headers) {
        Ok(Principal::Admin { .. }) => {
            let token = state.sessions.open();
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION.as_secs()
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            let h = response.headers_mut();
            h.insert(http::header::LOCATION, HeaderValue::from_static("/dashboard"));
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                h.insert(http::header::SET_COOKIE, v);
            }
            response
        }
        _ => sign_in_form(StatusCode::UNAUTHORIZED, Some("That is not an admin key.")),
    }
}

/// The session cookie's name.
const COOKIE: &str = "strata_session";

/// An admin key in the headers, or a live session cookie.
fn signed_in(state: &GatewayState, headers: &HeaderMap) -> bool {
    let g = state.gateway();
    if matches!(authenticate(&g.config, &g.keys, headers), Ok(Principal::Admin { .. })) {
        return true;
    }
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .any(|token| state.sessions.valid(token))
}

fn sign_in_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p class=\"bad\">{}</p>", escape(p)))
        .unwrap_or_default();
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Strata: sign in</title>\
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}.bad{{color:#b00}}</style></head>\
<body><h1>Strata gateway</h1><p>The dashboard is for admins: sign in with an admin key.</p>{problem}\
<form method=\"post\" action=\"/dashboard/login\"><label>Admin key <input type=\"password\" name=\"key\" autofocus required></label> \
<button type=\"submit\">Sign in</button></form></body></html>"
        )),
    )
        .into_response()
}

fn dashboard(state: &GatewayState) -> Html<String> {
    let config = &state.gateway().config;
    let now = Instant::now();
    let table = state.gateway().routes.load();
    let mut rows = String::new();
    for (m, model) in config.models.iter().enumerate() {
        for route in table.models[m].routes.iter().chain(&table.models[m].baseline) {
            let reach = crate::routes::report::runs_in(&route.reach).join(", ");
            let health = if route.health.cooling_down(now) {
                "cooling down"
            } else {
                "ready"
            };
            let latency = route
                .health
                .latency()
                .map(|l| format!("{:.1} ms", l.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "–".into());
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{} {}{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&model.name),
                model.strategy,
                escape(&route.label),
                route.layer.as_str(),
                match route.origin {
                    strata_router::Origin::Discovered => "(discovered)",
                    strata_router::Origin::Pinned => "(pinned)",
                    strata_router::Origin::Baseline => "(baseline)",
                },
                if route.stale { " stale" } else { "" },
                escape(&reach),
                if health == "ready" { "ok" } else { "bad" },
                health,
                route.health.in_flight(),
                latency
            );
        }
    }
    let catalog_html = catalog_section(state);
    let custom_html = custom_models_section(&state.gateway());
    let mut tenants = String::new();
    for t in &config.tenants {
        let models = match &t.models {
            None => "all".to_string(),
            Some(set) => {
                let mut names: Vec<&str> = set.iter().map(|&i| config.models[i].name.as_str()).collect();
                names.sort();
                names.join(", ")
            }
        };
        let _ = write!(
            tenants,
            "<tr><td>{}</td><td>{:?}</td><td>{}</td></tr>",
            escape(&t.name),
            t.residency,
            escape(&models)
        );
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Strata</title><meta http-equiv=\"refresh\" content=\"5\">\
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin-bottom:2em}}\
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#f3f3f3}}.ok{{color:#070}}.bad{{color:#b00}}</style></head>\
<body><h1>Strata gateway</h1><p>Routes and their live health (refreshes every 5 s). Metrics: <a href=\"/metrics\">/metrics</a>.</p>\
<h2>Routes</h2><table><tr><th>model</th><th>strategy</th><th>target</th><th>kind</th><th>may run in</th><th>health</th><th>in flight</th><th>latency (EWMA)</th></tr>{rows}</table>\
{custom_html}<h2>Tenants</h2><table><tr><th>tenant</th><th>residency</th><th>models</th></tr>{tenants}</table>{catalog_html}</body></html>"
    ))
}

/// Imported-model targets: warm, loading or cold, when last invoked, cold starts met and
/// keep-warm calls (nothing when no logical model reaches an imported model).
fn custom_models_section(gateway: &crate::request::Gateway) -> String {
    let targets = crate::keep_warm::report(gateway);
    if targets.is_empty() {
        return String::new();
    }
    let ago = |ms: Option<u64>| match ms {
        Some(ms) => {
            let now = u64::try_from(crate::tenants::keys::now_ms()).unwrap_or(0);
            format!("{:.0} s ago", now.saturating_sub(ms) as f64 / 1000.0)
        }
        None => "never".to_string(),
    };
    let mut out = String::from(
        "<h2>Custom models</h2><p>Imported-model targets: Bedrock unloads an idle model, and the next call waits for it to load (a cold start). Also <code>GET /admin/custom-models</code>.</p><table><tr><th>model</th><th>target</th><th>state</th><th>last invocation</th><th>cold starts</th><th>keep-warm</th></tr>",
    );
    for t in &targets {
        let state = t.warmth.state.label();
        let keep = match t.keep_warm_interval_ms {
            Some(ms) => format!(
                "every {:.0} s idle ({} calls, last {})",
                ms as f64 / 1000.0,
                t.warmth.keep_warm_calls,
                ago(t.warmth.last_keep_warm_ms)
            ),
            None => "off".to_string(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{state}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.model),
            escape(&t.target),
            if state == "warm" { "ok" } else { "bad" },
            ago(t.warmth.last_invocation_ms),
            t.warmth.cold_starts,
            escape(&keep)
        );
    }
    out.push_str("</table>");
    out
}

/// The availability matrix of every account (model × region) and the last discovery round.
fn catalog_section(state: &GatewayState) -> String {
    use strata_core::Freshness;
    let Some(discovery) = &state.discovery() else {
        return "<h2>Availability</h2><p>Discovery is off in this gateway's config.</p>".to_string();
    };
    let catalog = discovery.catalog();
    let mut out = String::from("<h2>Availability</h2>");
    match discovery.last_round() {
        Some(r) => {
            let _ = write!(
                out,
                "<p>Last scan: {} account × region in {} ms, {} failed, {} changes. \
● on demand, ◆ through a profile only, × listed but no access, ? access unknown, · not offered; \
rows marked <em>(imported)</em> are models brought in with Custom Model Import (● imported there, ? not known). \
Recent changes: <code>GET /admin/events</code>.</p>",
                r.scanned, r.duration_ms, r.failed, r.events
            );
        }
        None => out.push_str("<p>The first scan has not finished yet.</p>"),
    }
    for account in &state.gateway().config.accounts {
        let scans: Vec<_> = catalog.scans_of(&account.name).collect();
        if scans.is_empty() {
            continue;
        }
        let models: std::collections::BTreeSet<&String> = scans.iter().flat_map(|s| s.models.keys()).collect();
        let _ = write!(out, "<h3>{}</h3><table><tr><th>model</th>", escape(&account.name));
        for s in &scans {
            let stale = !matches!(s.freshness, Freshness::Fresh);
            let _ = write!(
                out,
                "<th class=\"{}\">{}</th>",
                if stale { "bad" } else { "" },
                escape(s.region.as_str())
            );
        }
        out.push_str("</tr>");
        for model in models {
            let _ = write!(out, "<tr><td>{}</td>", escape(model));
            for s in &scans {
                let _ = write!(out, "<td>{}</td>", s.availability(model).symbol());
            }
            out.push_str("</tr>");
        }
        for name in catalog.imported_names(&account.name) {
            let _ = write!(out, "<tr><td>{} <em>(imported)</em></td>", escape(name));
            for s in &scans {
                let _ = write!(out, "<td>{}</td>", s.imported_availability(name).symbol());
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
        for s in scans.iter().filter(|s| s.has_data()) {
            if let Some(reason) = s.imported.unknown() {
                let _ = write!(
                    out,
                    "<p class=\"bad\">{}: imported models unknown: {}</p>",
                    escape(s.region.as_str()),
                    escape(reason)
                );
            }
        }
    }
    out
}
