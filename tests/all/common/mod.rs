//! Helpers shared by the integration tests: in-process servers on 127.0.0.1:0 and small plans.
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

pub mod backplane;
pub mod peers;
pub mod process;
pub mod sse;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wsbench::client::LoadPlan;
use wsbench::metrics::{PackedHistogram, Recorder, Second, TimeSeries, WireBytes};
use wsbench::protocol::TransportKind;
use wsbench::server::{self, Limits, ServerConfig};

/// Starts a built-in server in this process; it stops when the returned token is cancelled.
pub async fn start_server(transport: TransportKind) -> (SocketAddr, CancellationToken) {
    start_server_with(transport, Limits::default()).await
}

/// [`start_server`] with chosen limits.
pub async fn start_server_with(
    transport: TransportKind,
    limits: Limits,
) -> (SocketAddr, CancellationToken) {
    spawn_server(transport, limits, None).await
}

/// How long the test servers hold a long-poll, unless a test asks for another.
const HOLD: Duration = Duration::from_secs(30);

/// A long-poll server that holds polls for `hold`, on a thread of its own as [`start_server`].
pub async fn start_longpoll_server(hold: Duration) -> (SocketAddr, CancellationToken) {
    let (addr, stop, serving) =
        bound_server(TransportKind::LongPoll, Limits::default(), None, hold);
    on_own_thread(serving);
    (addr, stop)
}

/// A server for `transport` bound to a fresh loopback port, as `wsbench serve` binds (with the
/// deepest accept queue the kernel allows): its address, its stop token, and the future that
/// serves until the token is cancelled, for the caller to run where it wants.
fn bound_server(
    transport: TransportKind,
    limits: Limits,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    hold: Duration,
) -> (
    SocketAddr,
    CancellationToken,
    impl std::future::Future<Output = Result<(), server::ServerError>> + Send + 'static,
) {
    let listener = server::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = ServerConfig {
        transport: transport.into(),
        hold,
        limits,
        state_file: None,
        tls,
        backplane: None,
    };
    let token = stop.clone();
    let serving = async move {
        let listener = TcpListener::from_std(listener).unwrap();
        server::serve(listener, config, token.cancelled_owned()).await
    };
    (addr, stop, serving)
}

/// Serves `transport` on a fresh loopback port, with TLS if `tls` is given, on a thread and
/// current-thread runtime of its own, as `wsbench serve` runs: requests on one connection are
/// then handled in order, as in a real run, whatever runtime the test itself uses.
async fn spawn_server(
    transport: TransportKind,
    limits: Limits,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> (SocketAddr, CancellationToken) {
    let (addr, stop, serving) = bound_server(transport, limits, tls, HOLD);
    on_own_thread(serving);
    (addr, stop)
}

/// Runs `serving` on a thread and current-thread runtime of its own.
fn on_own_thread<T: Send + 'static>(
    serving: impl std::future::Future<Output = T> + Send + 'static,
) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(serving)
    });
}

/// Serves `transport` on a fresh loopback port as a task of the calling (current-thread) runtime,
/// so the server's timers run on the test's clock: a test started with `start_paused = true`
/// meets header and idle timeouts as soon as everything is idle, without waiting for them.
pub async fn start_server_here(
    transport: TransportKind,
    limits: Limits,
) -> (SocketAddr, CancellationToken) {
    let (addr, stop, serving) = bound_server(transport, limits, None, HOLD);
    tokio::spawn(serving);
    (addr, stop)
}

/// A small plan: 50 subscribers, 5 publishers, 50 msg/s for 2 s, no warmup, 64-byte messages.
pub fn small_plan() -> LoadPlan {
    LoadPlan {
        subscribers: 50,
        connect_rate: 1000,
        publishers: 5,
        rate: 50.0,
        payload_bytes: 64,
        payload: wsbench::codec::payload::PayloadModel::Padding,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(2),
        // Generous: a slow CI machine must not turn into losses.
        drain: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(30),
        reconnect: wsbench::scenario::DEFAULT_BACKOFF,
        slow_readers: 0,
        slow_read_pause: Duration::from_millis(100),
        shard: None,
        start_at: None,
        shape: wsbench::client::Shape::default(),
        rooms: None,
        run: wsbench::codec::envelope::RunTag::fresh(),
        live_buckets: false,
    }
}

/// The path of the `wsbench` binary Cargo built for these tests.
pub fn wsbench_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wsbench")
}

/// Runs the scenario `toml` with `wsbench run`, which must succeed: its stderr, the rows of its
/// summary.csv and its metrics.json.
pub fn run_scenario(
    toml: &str,
) -> (
    String,
    Vec<wsbench::report::Summary>,
    Vec<wsbench::metrics::TransportMetrics>,
) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, toml).unwrap();
    let out = dir.path().join("out");
    let output = std::process::Command::new(wsbench_bin())
        .args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let rows = summary.deserialize().map(Result::unwrap).collect();
    let metrics = wsbench::report::stored::load_metrics(&out).unwrap();
    (stderr, rows, metrics)
}

/// Waits on `child`, a `wsbench run` whose stderr is piped, until its measured phase begins,
/// then runs `meanwhile` and interrupts it (SIGINT, as Ctrl-C); returns the rest of its stderr
/// once it has exited, and its exit code.
pub fn interrupt_when_measuring(
    child: &mut std::process::Child,
    meanwhile: impl FnOnce(),
) -> (String, Option<i32>) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::io::{BufRead, BufReader, Read};
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // Progress lines are on stderr.
    while !line.contains("measuring") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "run ended early");
    }
    meanwhile();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    (rest, child.wait().unwrap().code())
}

/// A time series for hand-made metrics: the `latencies` in seconds of `per_second` deliveries
/// each (the last one shorter), all `published` messages in the first second, `wire` split evenly
/// with the remainder in the last second, `connections` open in each.
pub fn series(
    latencies: &[Duration],
    per_second: usize,
    published: u64,
    wire: WireBytes,
    connections: u64,
) -> TimeSeries {
    let chunks: Vec<&[Duration]> = latencies.chunks(per_second.max(1)).collect();
    let n = chunks.len().max(1) as u64;
    let seconds = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut r = Recorder::default();
            for &d in *chunk {
                r.record_latency(d);
            }
            let last = i as u64 == n - 1;
            let share = |total: u64| total / n + if last { total % n } else { 0 };
            Second {
                duration: if last {
                    Duration::from_millis(400)
                } else {
                    Duration::from_secs(1)
                },
                latency_us: PackedHistogram::pack(&r.latency_us),
                unclocked: 0,
                published: if i == 0 { published } else { 0 },
                lost: 0,
                wire: WireBytes {
                    up: share(wire.up),
                    down: share(wire.down),
                },
                connections,
            }
        })
        .collect();
    TimeSeries {
        start_unix: Duration::from_secs(1_700_000_002),
        seconds,
    }
}

/// Starts a built-in server serving TLS with a fresh self-signed certificate (offering `h2` and
/// `http/1.1` by ALPN, as `wsbench serve` does); returns the certificate for the clients to trust.
pub async fn start_tls_server(
    transport: TransportKind,
) -> (SocketAddr, CancellationToken, wsbench::tls::SelfSigned) {
    start_tls_server_with(transport, Limits::default()).await
}

/// [`start_tls_server`] with chosen limits.
pub async fn start_tls_server_with(
    transport: TransportKind,
    limits: Limits,
) -> (SocketAddr, CancellationToken, wsbench::tls::SelfSigned) {
    use wsbench::tls;
    start_tls_server_offering(transport, limits, &[tls::ALPN_H2, tls::ALPN_HTTP1]).await
}

/// [`start_tls_server_with`], offering `alpn` instead (a server that cannot speak HTTP/2).
pub async fn start_tls_server_offering(
    transport: TransportKind,
    limits: Limits,
    alpn: &[&[u8]],
) -> (SocketAddr, CancellationToken, wsbench::tls::SelfSigned) {
    use wsbench::tls;
    let cert = tls::SelfSigned::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = cert.write(dir.path()).unwrap();
    let config = tls::server_config(&files, alpn).unwrap();
    let (addr, stop) = spawn_server(transport, limits, Some(config)).await;
    (addr, stop, cert)
}
