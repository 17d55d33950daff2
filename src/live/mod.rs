//! Watching a run while it goes: the live page (`--live`, [`page`], fed over SSE by [`feed`])
//! and the Prometheus endpoint (`--metrics`, the text made by [`crate::export`]), both served by
//! this process (`live::http`).
//!
//! [`Outlets`] is the whole of it for the run: started once from the flags (off: nothing is
//! bound, no task runs, and [`Outlets::transport`] gives `None`, so the run's hooks cost a
//! branch), handed one [`Tap`] per transport run, finished once at the end. A tap is fed from the
//! same once-a-second sampler that writes `timeseries.csv` (the conductor's `Phase::Tick`), the
//! faults as they fire, and the transport's final metrics; it never waits on a page or a scraper.
//!
//! The serving tasks run on the run's own runtime: their CPU time is the generator's, and the
//! generator's self-check (`report::saturation`) counts it like any other.
//!
//! Does not measure anything itself, except the two processes' CPU and memory each second (the
//! same readings `run::usage` takes at the phase boundaries).

pub mod feed;
mod http;
pub mod page;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::WatchFlags;
use crate::client::Phase;
use crate::export::{LatencyPhase, RunMetrics, SecondFigures, SideUsage};
use crate::metrics::summary::Summary;
use crate::metrics::{ProcessUsage, TransportMetrics};
use crate::os;
use feed::Feed;
use http::Routes;

/// Why the live page or the metrics endpoint cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The address of `--live` or `--metrics` could not be bound: in use, or not one of this
    /// host's. Give another, or none for a free loopback port.
    #[error("{flag}: cannot serve on {addr}")]
    Bind {
        /// The flag that asked for it.
        flag: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The live page and the metrics endpoint of one `wsbench run` or `capacity`, when asked for.
#[derive(Debug, Default)]
pub struct Outlets {
    feed: Option<Arc<Feed>>,
    metrics: Option<Arc<RunMetrics>>,
    /// Scrapes of `/metrics` served so far.
    scrapes: Arc<watch::Sender<u64>>,
    /// Whether any transport has finished: only then has the end figures worth lingering for.
    finished_any: Arc<AtomicBool>,
    linger: Duration,
    /// Where the page and `/metrics` are served, once bound.
    live_at: Option<SocketAddr>,
    metrics_at: Option<SocketAddr>,
    servers: JoinSet<()>,
    shutdown: CancellationToken,
}

impl Outlets {
    /// Nothing served: what a run without `--live` and `--metrics` has.
    pub fn off() -> Self {
        Outlets::default()
    }

    /// Binds the addresses `flags` ask for and starts serving; prints each URL on stderr.
    pub async fn start(flags: &WatchFlags) -> Result<Self, LiveError> {
        let mut outlets = Outlets {
            linger: flags.metrics_linger,
            ..Outlets::default()
        };
        if let Some(addr) = flags.live {
            let feed = Arc::new(Feed::default());
            let routes = Routes {
                feed: Some(feed.clone()),
                metrics: None,
            };
            let at = outlets.serve(addr, routes, "--live").await?;
            eprintln!("live: http://{at}/");
            outlets.feed = Some(feed);
            outlets.live_at = Some(at);
        }
        if let Some(addr) = flags.metrics {
            let metrics = Arc::new(RunMetrics::new());
            let routes = Routes {
                feed: None,
                metrics: Some((metrics.clone(), outlets.scrapes.clone())),
            };
            let at = outlets.serve(addr, routes, "--metrics").await?;
            eprintln!("metrics: http://{at}/metrics");
            outlets.metrics = Some(metrics);
            outlets.metrics_at = Some(at);
        }
        Ok(outlets)
    }

    async fn serve(
        &mut self,
        addr: SocketAddr,
        routes: Routes,
        flag: &'static str,
    ) -> Result<SocketAddr, LiveError> {
        let bind_error = |source| LiveError::Bind { flag, addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let at = listener.local_addr().map_err(bind_error)?;
        self.servers
            .spawn(http::serve(listener, routes, self.shutdown.clone()));
        Ok(at)
    }

    /// The live page's address (`--live`), once bound.
    pub fn live_addr(&self) -> Option<SocketAddr> {
        self.live_at
    }

    /// The metrics endpoint's address (`--metrics`), once bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_at
    }

    /// Whether each second's latency is wanted in fixed buckets (the scrape's histogram).
    pub fn wants_buckets(&self) -> bool {
        self.metrics.is_some()
    }

    /// Tells the page which run this is: its scenario and the transports it will run.
    pub fn run_started(&self, scenario: &str, transports: &[String]) {
        if let Some(feed) = &self.feed {
            feed.publish(&json!({"kind": "run", "scenario": scenario, "transports": transports}));
        }
    }

    /// A tap for one transport run under `label`; `None` when nothing is served.
    pub fn transport(&self, label: &str) -> Option<Tap> {
        if self.feed.is_none() && self.metrics.is_none() {
            return None;
        }
        let tap = Tap {
            label: label.to_string(),
            feed: self.feed.clone(),
            metrics: self.metrics.clone(),
            last: Mutex::new(None),
            draining: Mutex::new(false),
            finished_any: self.finished_any.clone(),
        };
        tap.send(json!({"kind": "start"}));
        if let Some(m) = &tap.metrics {
            m.start(label);
        }
        Some(tap)
    }

    /// The run is over and its files written: the page is told, `/metrics` waits (at most
    /// `--metrics-linger`) for one more scrape so the final counts are read — when a transport
    /// finished, so a run refused at the start ends at once — then both stop.
    pub async fn finish(mut self, results: Option<&std::path::Path>) {
        if let Some(feed) = &self.feed {
            let dir = results.map(|d| d.display().to_string());
            feed.publish(&json!({"kind": "done", "results": dir}));
        }
        let finals = self.finished_any.load(Ordering::Acquire);
        if self.metrics.is_some() && finals && !self.linger.is_zero() {
            let mut scrapes = self.scrapes.subscribe();
            scrapes.mark_unchanged();
            let _ = tokio::time::timeout(self.linger, scrapes.changed()).await;
        }
        self.shutdown.cancel();
        while self.servers.join_next().await.is_some() {}
    }
}

/// One transport run's way to the page and the scrape.
#[derive(Debug)]
pub struct Tap {
    label: String,
    feed: Option<Arc<Feed>>,
    metrics: Option<Arc<RunMetrics>>,
    /// The last tick's reading of both processes' CPU time, for the CPU of the next second.
    last: Mutex<Option<Reading>>,
    /// Whether the drain has begun: the phase of the latency the next ticks add.
    draining: Mutex<bool>,
    /// The outlets' flag that a transport finished.
    finished_any: Arc<AtomicBool>,
}

/// CPU time of the generator (this process) and the server, at an instant, and the shares of a
/// core each used since the reading before (server, generator).
#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    generator: Duration,
    server: Option<Duration>,
    shares: (Option<f64>, f64),
}

/// The shortest span a CPU share is computed over.
const MIN_CPU_SPAN: Duration = Duration::from_millis(250);

impl Tap {
    /// A phase of the conductor; `server` reads the server's use now (called on ticks only).
    pub fn phase(&self, phase: &Phase, server: impl FnOnce() -> Option<ProcessUsage>) {
        match phase {
            Phase::Tick(s) => {
                let (server_use, generator) = self.usage(server());
                let draining = *self.draining.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(m) = &self.metrics {
                    let figures = SecondFigures {
                        deliveries: s.deliveries,
                        published: s.published,
                        bytes_up: s.wire.up,
                        bytes_down: s.wire.down,
                        connections: s.connections,
                        missing: s.missing,
                        latency: s.latency_buckets.unwrap_or_default(),
                    };
                    let phase = if draining {
                        LatencyPhase::Drain
                    } else {
                        LatencyPhase::Measured
                    };
                    m.second(&self.label, phase, &figures);
                    m.usage(&self.label, server_use, generator);
                }
                self.send(json!({
                    "kind": "tick",
                    "t": s.elapsed.as_secs_f64(),
                    "deliveries_per_s": s.deliveries_per_s,
                    "p50_us": s.latency_p50_us,
                    "p99_us": s.latency_p99_us,
                    "missing": s.missing,
                    "connections": s.connections,
                    "published": s.published,
                    "server_cpu": server_use.map(|u| u.cpu_cores),
                    "generator_cpu": generator.cpu_cores,
                }));
            }
            Phase::ConnectProgress { ok, failed } | Phase::Connected { ok, failed } => {
                if let Some(m) = &self.metrics {
                    m.connected(&self.label, u64::from(*ok), u64::from(*failed));
                }
                if matches!(phase, Phase::Connected { .. }) {
                    self.send(
                        json!({"kind": "phase", "phase": "connected", "ok": ok, "failed": failed}),
                    );
                }
            }
            Phase::Measuring => {
                // CPU counts from here, like the summary's.
                self.usage(server());
                self.send(json!({"kind": "phase", "phase": "measuring"}));
            }
            Phase::Draining => {
                *self.draining.lock().unwrap_or_else(PoisonError::into_inner) = true;
                self.send(json!({"kind": "phase", "phase": "draining"}));
            }
            Phase::Dropped(reset) => {
                self.fault(&format!("fault: drop reset {reset} connections"));
            }
            other => {
                if let Some(name) = phase_name(other) {
                    self.send(json!({"kind": "phase", "phase": name}));
                }
            }
        }
    }

    /// A fault fired (`[faults]`), as the progress line tells it.
    pub fn fault(&self, text: &str) {
        self.send(json!({"kind": "fault", "text": text}));
    }

    /// The transport run ended with `m`: its final figures (the `summary.csv` row) to the page,
    /// and every counter to its final value.
    pub fn finished(&self, m: &TransportMetrics) {
        self.finished_any.store(true, Ordering::Release);
        if let Some(metrics) = &self.metrics {
            metrics.finish(&self.label, m);
        }
        if self.feed.is_some() {
            let row = serde_json::to_value(Summary::new(m)).unwrap_or(Value::Null);
            self.send(json!({"kind": "final", "row": row}));
        }
    }

    /// The transport run failed: no figures.
    pub fn failed(&self, error: &str) {
        self.send(json!({"kind": "failed", "text": error}));
    }

    fn send(&self, mut event: Value) {
        let Some(feed) = &self.feed else { return };
        event["transport"] = Value::from(self.label.as_str());
        feed.publish(&event);
    }

    /// Both processes' CPU over the time since the last reading, and their peak RSS. A span
    /// shorter than [`MIN_CPU_SPAN`] (the drain's last tick can follow the one before closely)
    /// repeats the last shares: CPU time over a few milliseconds of wall time is noise.
    fn usage(&self, server: Option<ProcessUsage>) -> (Option<SideUsage>, SideUsage) {
        let now = Reading {
            at: Instant::now(),
            generator: os::cpu_time(None).unwrap_or_default(),
            server: server.map(|u| u.cpu),
            shares: (None, 0.0),
        };
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let shares = match *last {
            Some(before) if now.at.saturating_duration_since(before.at) < MIN_CPU_SPAN => {
                before.shares
            }
            Some(before) => {
                let wall = now.at.saturating_duration_since(before.at).as_secs_f64();
                let share = |a: Duration, b: Duration| b.saturating_sub(a).as_secs_f64() / wall;
                let server = before.server.zip(now.server).map(|(a, b)| share(a, b));
                let shares = (server, share(before.generator, now.generator));
                *last = Some(Reading { shares, ..now });
                shares
            }
            None => {
                *last = Some(now);
                now.shares
            }
        };
        let generator = SideUsage {
            cpu_cores: shares.1,
            peak_rss_bytes: os::peak_rss_kib(None).unwrap_or(0) * 1024,
        };
        let server_use = server.map(|u| SideUsage {
            cpu_cores: shares.0.unwrap_or(0.0),
            peak_rss_bytes: u.peak_rss_kib * 1024,
        });
        (server_use, generator)
    }
}

/// The page's word for a phase without figures of its own.
fn phase_name(phase: &Phase) -> Option<&'static str> {
    match phase {
        Phase::Connecting { .. } => Some("connecting"),
        Phase::Idle { .. } => Some("idle"),
        Phase::IdleOver => Some("idle over"),
        Phase::Warmup => Some("warmup"),
        Phase::Measured => Some("measured"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::summary::tests::sample;

    #[tokio::test]
    async fn off_serves_nothing_and_taps_nothing() {
        let outlets = Outlets::start(&WatchFlags::default()).await.unwrap();
        assert!(outlets.transport("ws").is_none());
        assert!(outlets.servers.is_empty());
        assert!(!outlets.wants_buckets());
        outlets.finish(None).await;
    }

    /// `GET path` on `addr`, HTTP/1.0: the whole response.
    async fn get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn the_end_waits_for_one_more_scrape_and_no_longer() {
        let flags = WatchFlags {
            live: Some("127.0.0.1:0".parse().unwrap()),
            metrics: Some("127.0.0.1:0".parse().unwrap()),
            metrics_linger: Duration::from_secs(60),
        };
        let outlets = Outlets::start(&flags).await.unwrap();
        let (page, metrics) = (
            outlets.live_addr().unwrap(),
            outlets.metrics_addr().unwrap(),
        );
        outlets.transport("ws").unwrap().finished(&sample("ws"));
        let before = get(metrics, "/metrics").await;
        assert!(before.contains("wsbench_deliveries_total{transport=\"ws\"} 50\n"));
        assert!(get(page, "/").await.contains("<title>wsbench live</title>"));
        assert!(get(page, "/metrics").await.starts_with("HTTP/1.0 404"));
        let finished = tokio::spawn(outlets.finish(None));
        // A scrape before the end does not count; nothing ends it but the next one.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!finished.is_finished());
        let after = get(metrics, "/metrics").await;
        assert!(after.ends_with("# EOF\n"), "{after}");
        tokio::time::timeout(Duration::from_secs(30), finished)
            .await
            .expect("the scrape ends the wait")
            .unwrap();
        assert!(tokio::net::TcpStream::connect(metrics).await.is_err());
    }

    #[tokio::test]
    async fn a_run_that_finished_nothing_waits_for_no_scrape() {
        let flags = WatchFlags {
            metrics: Some("127.0.0.1:0".parse().unwrap()),
            metrics_linger: Duration::from_secs(600),
            ..WatchFlags::default()
        };
        let outlets = Outlets::start(&flags).await.unwrap();
        let _tap = outlets.transport("ws").unwrap();
        tokio::time::timeout(Duration::from_secs(30), outlets.finish(None))
            .await
            .expect("nothing to linger for");
    }

    #[tokio::test]
    async fn a_capacity_step_ends_under_its_own_label() {
        let flags = WatchFlags {
            live: Some("127.0.0.1:0".parse().unwrap()),
            metrics: Some("127.0.0.1:0".parse().unwrap()),
            metrics_linger: Duration::ZERO,
        };
        let outlets = Outlets::start(&flags).await.unwrap();
        let tap = outlets.transport("ws@50").unwrap();
        tap.finished(&sample("ws"));
        let text = outlets.metrics.as_ref().unwrap().encode();
        assert!(
            text.contains("wsbench_deliveries_total{transport=\"ws@50\"} 50\n"),
            "{text}"
        );
        assert!(!text.contains("transport=\"ws\""), "{text}");
        let (history, _) = outlets.feed.as_ref().unwrap().subscribe();
        let last: Value = serde_json::from_str(history.last().unwrap()).unwrap();
        assert_eq!(last["kind"], "final");
        assert_eq!(last["transport"], "ws@50");
        assert_eq!(last["row"]["deliveries"], 50);
        outlets.finish(None).await;
    }
}
