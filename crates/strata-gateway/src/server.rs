//! Serving the gateway on the shared HTTP edge (strata-http): the edge options from the
//! config's `server:` section, and the edge's refusals answered in the dialect of the path.

use std::sync::Arc;

use axum::response::Response;
use strata_http::{Drain, Listener, Refusal, RequestHead, ServeOptions};

use crate::config::ServerSettings;
use crate::error::{Class, GatewayError};
use crate::inbound::Surface;
use crate::state::GatewayState;

/// The edge options for `settings`; `drain` tells the application when shutdown begins and
/// when its grace is over.
pub fn serve_options(settings: &ServerSettings, drain: Drain) -> ServeOptions {
    ServeOptions {
        header_timeout: settings.header_timeout,
        body_timeout: settings.body_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.max_connections,
        max_body_bytes: settings.max_body_bytes,
        shutdown_grace: settings.shutdown_grace,
        refuse: Arc::new(refusal),
        drain,
        ..ServeOptions::default()
    }
}

/// Serves the gateway on every listener until `shutdown` completes, then drains (see
/// [`strata_http::serve`]). With `admin` (from `admin.listen`), the admin surface is served
/// there and not on `listeners`.
pub async fn serve(
    listeners: Vec<Listener>,
    admin: Option<Listener>,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()>,
    options: ServeOptions,
) -> std::io::Result<()> {
    let app = crate::inbound::app(Arc::clone(&state));
    let handler = |surface: Surface| {
        let (app, state) = (app.clone(), Arc::clone(&state));
        move |request| {
            let app = app.clone();
            let state = Arc::clone(&state);
            async move { Ok(crate::inbound::dispatch(state, app, request, surface).await) }
        }
    };
    use futures::FutureExt;
    let shutdown = Box::pin(shutdown).shared();
    let public = if admin.is_some() { Surface::Public } else { Surface::All };
    let main = strata_http::serve(listeners, handler(public), shutdown.clone(), options.clone());
    let admin = async {
        match admin {
            Some(l) => strata_http::serve(vec![l], handler(Surface::Admin), shutdown, options).await,
            None => Ok(()),
        }
    };
    let (main, admin) = tokio::join!(main, admin);
    main.and(admin)
}

/// An edge refusal in the dialect of the path (Bedrock's, Anthropic's or OpenAI's).
pub fn refusal(refusal: &Refusal, head: &RequestHead) -> Response {
    // A slow body is the client's fault; no class says "client too slow" yet, so it is sent as
    // `Invalid` (ValidationException / invalid_request_error) with the edge's 408.
    let class = match refusal {
        Refusal::BodyTooLarge { .. } => Class::TooLarge,
        Refusal::BodyTimeout { .. } => Class::Invalid,
    };
    let e = GatewayError::client(class, refusal.message());
    let mut response = crate::inbound::error_for_path(head.uri.path(), &e);
    *response.status_mut() = refusal.status();
    crate::request::set_request_id(&mut response, &strata_http::new_request_id());
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{Method, Uri, Version};

    use super::*;

    fn head(path: &'static str) -> RequestHead {
        RequestHead {
            method: Method::POST,
            uri: Uri::from_static(path),
            version: Version::HTTP_11,
        }
    }

    async fn json(response: Response) -> serde_json::Value {
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test]
    async fn refusals_are_answered_in_the_dialect_of_the_path() {
        let big = Refusal::BodyTooLarge { limit: 20 };
        let r = refusal(&big, &head("/model/claude/converse"));
        assert_eq!(r.status(), 413);
        assert_eq!(r.headers()["x-amzn-errortype"], "ValidationException");
        assert!(r.headers().contains_key("x-request-id"));
        assert!(json(r).await["message"].as_str().unwrap().contains("20 bytes"));

        let slow = Refusal::BodyTimeout {
            after: Duration::from_secs(1),
        };
        let r = refusal(&slow, &head("/v1/chat/completions"));
        assert_eq!(r.status(), 408);
        let body = json(r).await;
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        let r = refusal(&slow, &head("/model/x/invoke"));
        assert_eq!(
            (r.status().as_u16(), &r.headers()["x-amzn-errortype"]),
            (408, &"ValidationException".parse().unwrap())
        );
    }
}
