//! `wsbench serve`: one built-in server as its own process, until Ctrl-C, SIGTERM or (for the
//! children `wsbench run` starts) its parent's exit.
//!
//! Prints the bound address on the first line of stdout, so a parent that asked for port 0 learns
//! the port, and with `--transport all` the chat page's URL on the second, for a person to open
//! (parents read only the first line); everything else the server does lives in [`crate::server`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::metrics::instances::{HopFigures, InstanceReport};
use crate::{backplane, os, protocol, server, tls};

/// The TLS configuration `--tls-cert`/`--tls-key` ask for: `h2` and `http/1.1` by ALPN, for
/// WebSocket too (over HTTP/2 it opens by extended CONNECT, RFC 8441); raw has no TLS.
fn serve_tls(args: &ServeArgs) -> anyhow::Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let files = tls::CertFiles {
        cert: cert.clone(),
        key: key.clone(),
    };
    let alpn: &[&[u8]] = &[tls::ALPN_H2, tls::ALPN_HTTP1];
    Ok(Some(tls::server_config(&files, alpn)?))
}

/// Flags `serve` refuses before it binds (exit code 2, as for any bad flag).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadFlags(pub String);

/// Serves `args.transport` until a shutdown signal.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use std::io::Write;
    // Each connection is a file descriptor; take what the hard limit allows.
    os::raise_nofile_to_hard().context("raising the open-file limit")?;
    if args.transport == server::Serving::One(protocol::TransportKind::Raw) {
        // Bare TCP has no header to carry a token and no TLS: it is the floor, not a service.
        if args.token.is_some() || args.tls_cert.is_some() {
            return Err(BadFlags(
                "--transport raw takes neither --token nor --tls-cert: it is bare TCP".into(),
            )
            .into());
        }
    }
    // Before binding: flags that cannot work are refused before an address is printed, so a
    // parent never reads an address of a server that is about to exit.
    let keys = match &args.key_prefix {
        Some(prefix) => backplane::Keys::new(prefix).map_err(|e| BadFlags(e.to_string()))?,
        None => backplane::Keys::default(),
    };
    let backplane_url = args
        .backplane
        .as_deref()
        .map(|url| backplane::BackplaneUrl::parse(url, args.allow_remote))
        .transpose()
        .map_err(|e| BadFlags(e.to_string()))?;
    // Before binding: a bad certificate fails the server before it reports an address.
    let tls = serve_tls(&args)?;
    let listener = listen_with_udp(args.addr, tls.is_some())
        .and_then(|l| {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .with_context(|| format!("binding {}", args.addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{addr}")
        .and_then(|()| match args.transport {
            server::Serving::All => {
                let url = server::page::url(addr, tls.is_some(), args.token.as_deref());
                writeln!(stdout, "{url}")
            }
            server::Serving::One(_) => Ok(()),
        })
        .and_then(|()| stdout.flush())
        .context("printing the address")?;
    let backplane = backplane_url.map(|url| server::Instance {
        url,
        keys,
        stats: Arc::default(),
    });
    let stats = backplane.as_ref().map(|b| b.stats.clone());
    let config = server::ServerConfig {
        transport: args.transport,
        hold: args.hold,
        limits: server::Limits {
            ring_capacity: args.ring,
            ring_bytes: args.ring_bytes,
            max_rooms: args.max_rooms,
            max_message_bytes: args.max_message_bytes,
            ws_ping: args.ws_ping,
            sse_keepalive: args.sse_keepalive,
            token: args.token,
            ..server::Limits::default()
        },
        state_file: args.state,
        tls,
        backplane,
    };
    let served = server::serve(listener, config, shutdown_signal(args.exit_on_stdin_eof))
        .await
        .with_context(|| format!("{} server on {addr}", args.transport));
    if args.stats {
        let line = serde_json::to_string(&report(stats.as_deref()))?;
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .context("printing the stats")?;
    }
    served
}

/// Binds the TCP listener. With TLS an HTTP server also serves HTTP/3 on UDP at the listener's
/// port number, so a port the kernel chose (port 0) is chosen again, a few times at most, until
/// that number is free on UDP too (a client socket may hold it).
fn listen_with_udp(
    addr: std::net::SocketAddr,
    udp_too: bool,
) -> std::io::Result<std::net::TcpListener> {
    for _ in 0..16 {
        let listener = server::listen(addr)?;
        if !udp_too || addr.port() != 0 {
            return Ok(listener);
        }
        let port = listener.local_addr()?.port();
        if std::net::UdpSocket::bind((addr.ip(), port)).is_ok() {
            return Ok(listener);
        }
    }
    server::listen(addr)
}

/// What `--stats` prints: this process's accepted connections and its relay's counts.
fn report(stats: Option<&crate::server::relay::RelayStats>) -> InstanceReport {
    let mut report = InstanceReport {
        accepted: server::accepted(),
        ..InstanceReport::default()
    };
    if let Some(stats) = stats {
        report.appended = stats.appended.load(Ordering::Relaxed);
        report.ingested = stats.ingested.load(Ordering::Relaxed);
        report.hop = HopFigures::of(&stats.hop_us.lock().unwrap_or_else(|e| e.into_inner()));
    }
    report
}

/// Completes on Ctrl-C, SIGTERM, or (when asked) when stdin closes because the parent is gone.
async fn shutdown_signal(watch_stdin: bool) {
    use tokio::io::AsyncReadExt;
    use tokio::signal::unix::{SignalKind, signal};
    let stdin_closed = async {
        if !watch_stdin {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = stdin_closed => {}
    }
}
