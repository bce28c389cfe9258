//! `GET /dashboard`: the admin dashboard, a single-page app (HTML, CSS and vanilla JS in
//! `assets/`, embedded in the binary; nothing from elsewhere, so it works offline). The shell is
//! served to admins only — an admin key in `Authorization`, or the session cookie from signing
//! in once with the form shown to anyone else (`POST /dashboard/login`); the app then reads the
//! admin API (`/admin/overview`, `/admin/matrix`, `/admin/routes`, `/admin/traffic`, …) with
//! that cookie every few seconds and updates each section in place. Every answer carries a
//! strict Content-Security-Policy (scripts, styles and fetches from this origin only).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::request::authenticate::{authenticate, Principal};
use crate::state::GatewayState;
use crate::tenants::sessions::{COOKIE, SESSION};

/// Only this origin's scripts, styles, fetches and form posts; no framing, no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The app's shell: the sections' frames, filled in by `app.js`.
const SHELL: &str = include_str!("assets/index.html");

/// The embedded assets, by file name: (content type, body).
fn embedded(file: &str) -> Option<(&'static str, &'static str)> {
    match file {
        "app.js" => Some(("text/javascript; charset=utf-8", include_str!("assets/app.js"))),
        "app.css" => Some(("text/css; charset=utf-8", include_str!("assets/app.css"))),
        _ => None,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Adds the security headers every dashboard answer carries.
fn secured(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The app for an admin; the sign-in form for anyone else.
pub async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if !signed_in(&state, &headers) {
        return sign_in_form(StatusCode::UNAUTHORIZED, None);
    }
    secured(Html(SHELL).into_response())
}

/// `GET /dashboard/assets/{file}`: the app's script and style (no data in them, so served to
/// anyone, like any login page's assets).
pub async fn asset(Path(file): Path<String>) -> Response {
    match embedded(&file) {
        Some((content_type, body)) => {
            let mut r = secured(body.into_response());
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
        None => secured((StatusCode::NOT_FOUND, "no such dashboard asset").into_response()),
    }
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
            secured(response)
        }
        _ => sign_in_form(StatusCode::UNAUTHORIZED, Some("That is not an admin key.")),
    }
}

/// An admin key in the headers, or a live session cookie.
fn signed_in(state: &GatewayState, headers: &HeaderMap) -> bool {
    let g = state.gateway();
    matches!(authenticate(&g.config, &g.keys, headers), Ok(Principal::Admin { .. }))
        || state.sessions.signed_in(headers)
}

fn sign_in_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p class=\"bad\">{}</p>", escape(p)))
        .unwrap_or_default();
    secured(
        (
            status,
            Html(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Strata: sign in</title><link rel=\"icon\" href=\"data:,\">\
<link rel=\"stylesheet\" href=\"/dashboard/assets/app.css\"></head>\
<body class=\"signin\"><h1>Strata gateway</h1><p>The dashboard is for admins: sign in with an admin key.</p>{problem}\
<form method=\"post\" action=\"/dashboard/login\"><label>Admin key <input type=\"password\" name=\"key\" autofocus required></label> \
<button type=\"submit\">Sign in</button></form></body></html>"
            )),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_loads_only_embedded_assets() {
        for asset in ["/dashboard/assets/app.js", "/dashboard/assets/app.css"] {
            assert!(SHELL.contains(asset), "{asset}");
            let file = asset.rsplit('/').next().unwrap();
            assert!(embedded(file).is_some_and(|(_, body)| !body.is_empty()));
        }
        assert!(embedded("../mod.rs").is_none());
        // Offline, and the CSP would block them anyway.
        for text in [SHELL, embedded("app.js").unwrap().1, embedded("app.css").unwrap().1] {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        assert!(
            !SHELL.contains("<script>") && !SHELL.contains("style="),
            "no inline code"
        );
    }

    #[test]
    fn every_answer_is_secured() {
        let r = sign_in_form(StatusCode::UNAUTHORIZED, Some("<x>"));
        assert_eq!(r.headers()[http::header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}
