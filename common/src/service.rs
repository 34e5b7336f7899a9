//! The shell every service's requests go through: CORS, the route table, the request wrapper
//! ([`crate::request::handle_with`]: span, access log, metrics, error envelope) and the accept
//! loop ([`crate::server::serve_with`]). A service brings its table and its handlers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::cors::{AllowedOrigins, Cors};
use crate::envelope::Response;
use crate::error::ApiError;
use crate::metrics::HttpMetrics;
use crate::request::AccessLog;
use crate::router::{Resolved, Router};
use crate::server::ServeOptions;

/// What a service gives the shell: its state implements this.
pub trait Service: Send + Sync + 'static {
    /// The service's name for each route, as its table holds it.
    type Route: Copy + Send + Sync + 'static;

    /// The route table.
    const ROUTER: &'static Router<Self::Route>;

    /// The HTTP metrics each request is recorded in.
    fn http_metrics(&self) -> &HttpMetrics;

    /// The origins allowed to call the browser routes (`/api/...`); `None` for a service
    /// without any, whose answers then carry no CORS header at all.
    fn allowed_origins(&self) -> Option<&AllowedOrigins>;

    /// How loudly a request on `route` (a template, or `unknown`) is logged.
    fn access_log(&self, route: &'static str) -> AccessLog {
        let _ = route;
        AccessLog::Info
    }

    /// Answers a request the table resolved to `route`.
    fn answer(
        self: Arc<Self>,
        route: Self::Route,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response, ApiError>> + Send;
}

/// Serves `service` on `listener` until `shutdown` completes, then drains in-flight requests
/// within `grace`.
pub async fn serve<S: Service>(
    listener: TcpListener,
    options: ServeOptions,
    service: Arc<S>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    crate::server::serve_with(
        listener,
        options,
        move |req, peer| {
            let service = Arc::clone(&service);
            let cors = service
                .allowed_origins()
                .map(|origins| origins.decide(req.uri().path(), req.headers()));
            async move {
                let response = respond(service, cors.clone(), req, peer);
                match cors {
                    Some(cors) => crate::cors::around(cors, response).await,
                    None => response.await,
                }
            }
        },
        shutdown,
        grace,
    )
    .await;
}

/// One request through the wrapper: the route's metrics and log level, then the table, then
/// the service's handler or the preflight.
async fn respond<S: Service>(
    service: Arc<S>,
    cors: Option<Cors>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response {
    let router = S::ROUTER;
    let found = router.find(req.uri().path());
    let route = router.name(found);
    let log = service.access_log(route);
    let endpoint = service.http_metrics().endpoint(route);
    crate::request::handle_with(req, log, endpoint, |req| async {
        let browser = match &cors {
            Some(Cors::Api(_)) => service.allowed_origins(),
            _ => None,
        };
        match router.resolve(found, &req, browser)? {
            Resolved::Route(route) => Arc::clone(&service).answer(route, req, peer).await,
            Resolved::Preflight(response) => Ok(response),
        }
    })
    .await
}
