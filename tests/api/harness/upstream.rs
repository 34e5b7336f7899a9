//! An upstream behind the proxies that echoes the headers that reached it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// An upstream that answers every request with the headers it received, and counts them.
pub struct EchoUpstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    _shutdown: oneshot::Sender<()>,
}

impl EchoUpstream {
    pub async fn start() -> EchoUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("bind: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("addr: {err}"));
        let hits = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel::<()>();
        let counter = Arc::clone(&hits);
        tokio::spawn(common::server::serve(
            listener,
            move |req: http::Request<hyper::body::Incoming>, _| {
                counter.fetch_add(1, Ordering::SeqCst);
                let headers: HashMap<String, Vec<String>> = req
                    .headers()
                    .keys()
                    .map(|name| {
                        let values = req
                            .headers()
                            .get_all(name)
                            .iter()
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                            .collect();
                        (name.as_str().to_owned(), values)
                    })
                    .collect();
                let body = json!({"upstream": true, "path": req.uri().path(), "headers": headers})
                    .to_string();
                async move {
                    let mut response = http::Response::new(Full::new(Bytes::from(body)));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    response
                }
            },
            async {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        EchoUpstream {
            addr,
            hits,
            _shutdown: tx,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
