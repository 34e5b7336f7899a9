//! The servers under load, each run as a child process of the bench.

use std::convert::Infallible;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The baseline: hyper's hello-world server answering every request with an empty 200.
pub async fn serve_bare(args: &[String]) -> Result<(), anyhow::Error> {
    let addr = args.first().context("serve-bare needs an address")?;
    let listener = TcpListener::bind(addr.as_str()).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The real verifier, configured from the environment the bench passes.
pub async fn serve_verifier() -> Result<(), anyhow::Error> {
    let config = verifier::config::VerifierConfig::from_env()?;
    common::telemetry::init(&config.common.log_level);
    let app = verifier::app::App::build(config).await?;
    app.run_until(std::future::pending()).await;
    Ok(())
}
