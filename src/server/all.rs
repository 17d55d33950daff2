//! Every transport on one port over one hub, and the chat page: `wsbench serve --transport all`.
//!
//! A browser page can only switch transports without a cross-origin dance if they all answer on
//! its own origin, and its messages only reach every other page if they all share one hub. So
//! this server routes, on one listener: the page's files ([`super::page`], no token needed: they
//! hold no data), `GET /ws` (the upgrade of [`super::ws`]), and everything else to the HTTP
//! transports ([`super::http`]: `POST /publish`, `GET /poll`, `GET /events`). Its HTTP/2
//! connections offer the extended CONNECT (RFC 8441), so a browser that loaded the page over h2
//! opens `/ws` as a stream of that connection.
//!
//! The hub keeps each message as the WebSocket frame that carries it ([`super::framed`]), so
//! WebSocket clients get what the single WebSocket server would send them (text stays text,
//! binary stays binary) and HTTP readers get the same payload bytes. Limits, token, TLS and state file apply as on the single servers. `wsbench run` never
//! starts this server: each transport is measured on its own.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use tokio::net::TcpListener;

use super::framed::Framed;
use super::http::{self, Body};
use super::{ServerConfig, ServerError, State, page, ws};
use crate::protocol::WS_PATH;

/// Serves the page and every transport on `listener` until `shutdown` completes; then, as the
/// single servers do, held polls are answered, streams end and WebSockets close with 1001.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    http::serve_hub::<Framed, _, _>(listener, config, shutdown, route).await
}

async fn route(req: Request<Incoming>, state: Arc<State<Framed>>) -> Response<Body> {
    if req.method() == Method::GET {
        if let Some(asset) = page::asset(req.uri().path()) {
            return page::response(asset);
        }
    }
    if req.uri().path() == WS_PATH {
        return ws::upgrade(req, state).map(BodyExt::boxed);
    }
    http::route(req, state).await
}
