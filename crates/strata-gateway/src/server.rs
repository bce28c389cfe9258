//! Serving the gateway on the shared accept loop (request-head deadline, keep-alive), and
//! finishing what the requests left behind once it stops.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::GatewayState;

/// Serves the gateway until `shutdown` completes, then lets requests in flight finish and
/// writes everything they left behind (usage records, budget settlements) before returning.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let app = crate::inbound::app(Arc::clone(&state));
    let serving = Arc::clone(&state);
    let served = strata_http::serve(
        listener,
        move |request| {
            let app = app.clone();
            let state = Arc::clone(&serving);
            async move { Ok(crate::inbound::dispatch(state, app, request).await) }
        },
        shutdown,
    )
    .await;
    // Also after an accept-loop error: records of requests already answered must not be lost.
    state.finish(strata_http::DRAIN_DEADLINE).await;
    served
}
