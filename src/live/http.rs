//! The HTTP side of `--live` and `--metrics`: one small HTTP/1.1 server (hyper, as the built-in
//! servers use) per address, answering `GET /` (the page), `GET /events` (its SSE feed) and
//! `GET /metrics` (OpenMetrics text) — whichever of them its address was asked for.
//!
//! It runs as tasks on the run's own runtime, so its CPU time is the generator's: the self-check
//! of `report::saturation` counts it. Each SSE stream ends at shutdown after sending what was
//! already published, so a page keeps the run's last figures.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::feed::Feed;
use super::page;
use crate::export::RunMetrics;

/// The page may run its own inline script and style and read its own feed, nothing else: no
/// request leaves the address it came from.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'";

/// Every response body: whole, or the SSE stream.
type Body = BoxBody<Bytes, Infallible>;

/// What one address serves.
#[derive(Debug, Clone, Default)]
pub(super) struct Routes {
    /// The page and its feed (`--live`).
    pub feed: Option<Arc<Feed>>,
    /// `/metrics` (`--metrics`), and the count of scrapes served (the end of the run waits for
    /// one more, see `Outlets::finish`).
    pub metrics: Option<(Arc<RunMetrics>, Arc<watch::Sender<u64>>)>,
}

/// Serves `routes` on `listener` until `shutdown`; then every connection is closed once its
/// response is done (an SSE stream: once it has sent what was published).
pub(super) async fn serve(listener: TcpListener, routes: Routes, shutdown: CancellationToken) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or a reset before accept: the next one may work.
                Err(_) => continue,
            },
        };
        let routes = routes.clone();
        let shutdown = shutdown.clone();
        let connection_shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let routes = routes.clone();
                let shutdown = shutdown.clone();
                async move { Ok::<_, Infallible>(route(req, &routes, shutdown)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            // A page that went away mid-response is its own business. At shutdown an idle
            // keep-alive connection closes at once, one in a response once it is sent.
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = connection_shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    // Streams end by themselves at shutdown; a connection that never finishes its request is
    // not waited for long.
    let grace = tokio::time::sleep(std::time::Duration::from_secs(2));
    tokio::pin!(grace);
    while !connections.is_empty() {
        tokio::select! {
            _ = &mut grace => break,
            _ = connections.join_next() => {}
        }
    }
    connections.shutdown().await;
}

fn route(req: Request<Incoming>, routes: &Routes, shutdown: CancellationToken) -> Response<Body> {
    if req.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match (req.uri().path(), &routes.feed, &routes.metrics) {
        ("/", Some(_), _) => {
            let mut page = whole("text/html; charset=utf-8", page::html().into());
            page.headers_mut().insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            );
            page
        }
        ("/events", Some(feed), _) => events(feed, shutdown),
        ("/metrics", _, Some((metrics, scrapes))) => {
            let text = metrics.encode();
            scrapes.send_modify(|n| *n += 1);
            whole(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text.into(),
            )
        }
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The SSE stream: the history, then each event as published, until shutdown (after which what
/// was already published still goes out). A page that fell behind skips what it missed.
fn events(feed: &Feed, shutdown: CancellationToken) -> Response<Body> {
    let (history, rx) = feed.subscribe();
    let first: Bytes = history
        .iter()
        .map(|e| sse_event(e))
        .collect::<String>()
        .into();
    let live = stream::unfold(
        (rx, shutdown, false),
        |(mut rx, shutdown, mut stopping)| async move {
            loop {
                let next = if stopping {
                    match rx.try_recv() {
                        Ok(e) => Some(e),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                        Err(_) => None,
                    }
                } else {
                    tokio::select! {
                        biased;
                        r = rx.recv() => match r {
                            Ok(e) => Some(e),
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => None,
                        },
                        _ = shutdown.cancelled() => {
                            stopping = true;
                            continue;
                        }
                    }
                };
                let e = next?;
                let frame = Frame::data(Bytes::from(sse_event(&e)));
                return Some((Ok::<_, Infallible>(frame), (rx, shutdown, stopping)));
            }
        },
    );
    let body = stream::once(async move { Ok(Frame::data(first)) }).chain(live);
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-store")
        .body(BodyExt::boxed(StreamBody::new(body)))
        .expect("a static header is always valid")
}

fn sse_event(json: &str) -> String {
    format!("data: {json}\n\n")
}

fn whole(content_type: &str, body: Bytes) -> Response<Body> {
    Response::builder()
        .header(CONTENT_TYPE, content_type)
        .header(CACHE_CONTROL, "no-store")
        .body(Full::new(body).boxed())
        .expect("a static header is always valid")
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = whole(
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    );
    *r.status_mut() = status;
    r
}
