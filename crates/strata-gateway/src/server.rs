//! Serving the gateway on the shared accept loop (request-head deadline, keep-alive).

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::GatewayState;

/// Serves the gateway until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let app = crate::inbound::app(Arc::clone(&state));
    strata_http::serve(
        listener,
        move |request| {
            let app = app.clone();
            let state = Arc::clone(&state);
            async move { Ok(crate::inbound::dispatch(state, app, request).await) }
        },
        shutdown,
    )
    .await
}
