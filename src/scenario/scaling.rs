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
    /// `instances = "auto"`: the count depends on the open-file limit of the machine that runs
    /// the scenario, so it is 1 until the run settles it ([`Scaling::settled`]). The rules count
    /// it as several ([`Scaling::several`]).
    pub auto: bool,
}

impl Default for Scaling {
    /// One server, reached directly.
    fn default() -> Self {
        Scaling {
            instances: 1,
            balancer: Balancer::Client,
            auto: false,
        }
    }
}

/// The instances `instances = "auto"` comes to: the fewest built-in servers that hold
/// `connections` when one process may hold `per_process` of them (its open-file ceiling less
/// the files it keeps spare), at most [`MAX_INSTANCES`]. The same arithmetic as the refusal of a
/// run whose one server is too small, so "auto" starts what that refusal asks for.
pub fn auto_instances(connections: u64, per_process: u64) -> u32 {
    let needed = connections.div_ceil(per_process.max(1)).max(1);
    u32::try_from(needed).map_or(MAX_INSTANCES, |n| n.min(MAX_INSTANCES))
}

impl Scaling {
    /// Whether the run needs the backplane: more than one instance share one stream.
    pub fn shared(self) -> bool {
        self.instances > 1
    }

    /// Whether this may run several instances: a count of 2 or more, or `"auto"`, which comes
    /// to at least what the run's faults need ([`Scaling::settled`]): a fault that needs
    /// several instances (losing one, a deploy) is as satisfied by "auto" as by a count.
    pub fn several(self) -> bool {
        self.instances > 1 || self.auto
    }

    /// Whether the run has anything but one server reached directly.
    pub fn is_default(self) -> bool {
        self == Scaling::default()
    }

    /// This scaling with `instances = "auto"` settled for `connections` client connections when
    /// one process may hold `per_process` ([`auto_instances`]), and to `at_least` (what the
    /// run's faults need, [`Faults::instances_needed`](super::Faults::instances_needed)); a
    /// count as written is kept.
    pub fn settled(self, connections: u64, per_process: u64, at_least: u32) -> Scaling {
        if !self.auto {
            return self;
        }
        Scaling {
            instances: auto_instances(connections, per_process)
                .max(at_least)
                .min(MAX_INSTANCES),
            auto: false,
            ..self
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections one process may hold under a 20,000 open-file limit, less 64 spare files.
    const PER: u64 = 20_000 - 64;

    #[test]
    fn auto_instances_are_the_fewest_that_hold_the_connections() {
        assert_eq!(auto_instances(100_000, PER), 6);
        assert_eq!(auto_instances(19_936, PER), 1);
        assert_eq!(auto_instances(19_937, PER), 2);
        assert_eq!(auto_instances(0, PER), 1);
        // 12,000 connections under an 8,000 limit: two servers of 6,000.
        assert_eq!(auto_instances(12_000, 8_000 - 64), 2);
        assert_eq!(auto_instances(10_000_000, PER), MAX_INSTANCES);
    }

    #[test]
    fn settling_replaces_auto_and_keeps_a_written_count() {
        let auto = Scaling {
            auto: true,
            ..Scaling::default()
        };
        let six = auto.settled(100_000, PER, 1);
        assert_eq!((six.instances, six.auto, six.shared()), (6, false, true));
        let one = auto.settled(1_000, PER, 1);
        assert!(one.is_default(), "{one:?}");
        let written = Scaling {
            instances: 3,
            ..Scaling::default()
        };
        assert_eq!(written.settled(100_000, PER, 1), written);
        // A fault that needs several instances gets them, and never more than the most.
        assert!(auto.several() && !Scaling::default().several());
        assert_eq!(auto.settled(1_000, PER, 2).instances, 2);
        assert_eq!(auto.settled(100_000, PER, 2).instances, 6);
        assert_eq!(written.settled(1_000, PER, 2), written);
    }
}
