//! `GET /dashboard`: one page with every logical model, its deployments, where each may run and
//! their live health. Server-rendered, no scripts or assets from elsewhere.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Html;

use crate::state::GatewayState;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn page(State(state): State<Arc<GatewayState>>) -> Html<String> {
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
    let catalog_html = catalog_section(&state);
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
<h2>Tenants</h2><table><tr><th>tenant</th><th>residency</th><th>models</th></tr>{tenants}</table>{catalog_html}</body></html>"
    ))
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
● on demand, ◆ through a profile only, × listed but no access, ? access unknown, · not offered. \
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
        out.push_str("</table>");
    }
    out
}
