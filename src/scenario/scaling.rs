//! How many server instances serve a transport and how clients reach them: a transport table's
//! `instances` and `balancer` keys, and the `[backplane]` they share. Owns the types and reading
//! the balancer's name; knows nothing of files or lines (the caller places errors).

use crate::backplane::BackplaneUrl;

/// Most instances one transport may run: each is a process with its own CPU to sample.
pub const MAX_INSTANCES: u32 = 16;

/// How clients are spread over the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balancer {
    /// Each new connection goes to the next instance's address in turn, as DNS round-robin does.
    #[default]
    Client,
    /// Every connection goes to one HAProxy, which spreads them round-robin.
    Haproxy,
}

impl Balancer {
    /// The name in a scenario file.
    pub fn label(self) -> &'static str {
        match self {
            Balancer::Client => "client",
            Balancer::Haproxy => "haproxy",
        }
    }

    /// The balancer `name` names; the error says which names there are.
    pub fn parse(name: &str) -> Result<Balancer, String> {
        match name {
            "client" => Ok(Balancer::Client),
            "haproxy" => Ok(Balancer::Haproxy),
            other => Err(format!(
                "unknown balancer {other:?}: \"client\" (clients spread themselves, as DNS \
                 round-robin does) or \"haproxy\""
            )),
        }
    }
}

/// A transport's server side: how many instances, behind what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    /// Built-in server processes, sharing one Redis backplane when more than one.
    pub instances: u32,
    /// How clients reach them.
    pub balancer: Balancer,
}

impl Default for Scaling {
    /// One server, reached directly.
    fn default() -> Self {
        Scaling {
            instances: 1,
            balancer: Balancer::Client,
        }
    }
}

impl Scaling {
    /// Whether the run needs the backplane: more than one instance share one stream.
    pub fn shared(self) -> bool {
        self.instances > 1
    }

    /// Whether the run has anything but one server reached directly.
    pub fn is_default(self) -> bool {
        self == Scaling::default()
    }
}

/// `[backplane]`: an existing Redis that the instances of every transport run share, instead of
/// a redis-server wsbench starts (and stops) for each. Each transport run keeps its keys apart
/// under its own prefix and deletes them at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingRedis {
    /// `redis`: where it listens, on loopback unless `--allow-remote`.
    pub url: BackplaneUrl,
    /// `redis_pid`: its process, to sample as wsbench samples its own; `None`: its CPU and
    /// memory are reported as unknown.
    pub pid: Option<u32>,
}
