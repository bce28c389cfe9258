//! Serving the gateway's router on the shared accept loop (request-head deadline, keep-alive).

use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    strata_http::serve(
        listener,
        move |request| {
            let app = app.clone();
            async move { app.oneshot(request).await.map_err(|never| match never {}) }
        },
        shutdown,
    )
    .await
}
