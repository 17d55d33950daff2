//! The server under test has one owner: a task that holds it — our child, a fleet of instances,
//! or an external server's pid — from the moment it started until it is stopped. Nobody else
//! touches it; they talk to the owner:
//! - the phases sample the processes it publishes on a `watch` ([`Processes`]: pids, never the
//!   children themselves), so a sample never waits for a fault in progress;
//! - faults arrive as commands ([`Fault`]), one at a time, each answered with what happened;
//! - the run ends it with [`Owner::stop`], which waits for a fault still in progress.

use tokio::sync::{mpsc, oneshot, watch};

use crate::child::ServerChild;
use crate::fleet::{Fleet, FleetMark, FleetProcesses, Layout, Stopped};
use crate::metrics::ProcessUsage;
use crate::os;
use crate::scenario::DeployMode;

/// The server a transport runs against.
#[derive(Debug)]
pub(super) enum ServerUnderTest {
    /// Ours, started by `wsbench run`.
    Ours(Ours),
    /// Not ours; sampled from `/proc` if its pid is known.
    External(Option<u32>),
    /// Ours: several instances on a shared Redis, maybe behind HAProxy ([`crate::fleet`]).
    Fleet(Box<Fleet>),
}

/// Our one server process, and what the processes it replaced used.
#[derive(Debug)]
pub(super) struct Ours {
    /// `None` once a restart fault stopped it and could not start it again.
    child: Option<Box<ServerChild>>,
    /// CPU time and peak RSS of the processes this one replaced (after a deliberate restart), as
    /// last sampled before they stopped.
    earlier: ProcessUsage,
}

/// A fault the scenario injects (`[faults]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// `restart_server_at`: stop our one server and start it again on the same address.
    Restart,
    /// `kill_instance_at`: SIGKILL the last running instance of a fleet.
    KillInstance,
    /// `restart_instances_at`: restart every instance of a fleet, one by one or all at once.
    Deploy(DeployMode),
}

/// The processes serving now, by pid: what a phase boundary samples.
#[derive(Debug, Clone)]
pub(super) enum Processes {
    /// Our child: its pid (`None` while a restart is between processes, or after one failed),
    /// and what the processes it replaced used.
    Ours {
        pid: Option<u32>,
        earlier: ProcessUsage,
    },
    /// An external server, sampled if its pid was given.
    External(Option<u32>),
    /// Every process of a fleet.
    Fleet(FleetProcesses),
}

impl Processes {
    /// CPU time and peak RSS so far (over the instances, for a fleet); `None` once gone or not
    /// known.
    pub(super) fn usage(&self) -> Option<ProcessUsage> {
        match self {
            Processes::Ours { pid: None, earlier } => Some(*earlier),
            Processes::Ours {
                pid: Some(pid),
                earlier,
            } => os::process_usage(*pid).map(|now| earlier.plus(now)),
            Processes::External(pid) => os::process_usage((*pid)?),
            Processes::Fleet(fleet) => fleet.usage(),
        }
    }

    /// Every serving process's use, when there are several instances.
    pub(super) fn fleet(&self) -> Option<FleetMark> {
        match self {
            Processes::Fleet(fleet) => Some(fleet.mark()),
            _ => None,
        }
    }
}

/// What the owner hands back when the server is stopped.
#[derive(Debug, Default)]
pub(super) struct Finished {
    /// Whether the server was still running when the run ended (an external one without a pid
    /// is taken on trust).
    pub alive: bool,
    /// A fleet's instances, read before it stopped.
    pub layout: Option<Layout>,
    /// What a fleet said as it stopped.
    pub stopped: Stopped,
}

enum Command {
    Fault(Fault, oneshot::Sender<String>),
    Stop(oneshot::Sender<Finished>),
}

/// The way to the owner task.
#[derive(Debug)]
pub(super) struct Owner {
    commands: mpsc::Sender<Command>,
}

impl ServerUnderTest {
    /// Our own server, as started.
    pub(super) fn ours(child: ServerChild) -> Self {
        ServerUnderTest::Ours(Ours {
            child: Some(Box::new(child)),
            earlier: ProcessUsage::default(),
        })
    }

    /// How the progress line names it.
    pub(super) fn describe(&self) -> String {
        match self {
            ServerUnderTest::Ours(_) => "built-in server, child process".into(),
            ServerUnderTest::External(Some(pid)) => format!("external server, pid {pid}"),
            ServerUnderTest::External(None) => "external server, not sampled".into(),
            ServerUnderTest::Fleet(fleet) => fleet.describe(),
        }
    }

    /// Hands the server to its own task; returns the way to it and the processes it serves with.
    pub(super) fn spawn_owner(self) -> (Owner, watch::Receiver<Processes>) {
        let (processes, sampled) = watch::channel(self.processes());
        let (commands, inbox) = mpsc::channel(4);
        tokio::spawn(self.own(inbox, processes));
        (Owner { commands }, sampled)
    }

    fn processes(&self) -> Processes {
        match self {
            ServerUnderTest::Ours(ours) => Processes::Ours {
                pid: ours.child.as_ref().map(|child| child.pid()),
                earlier: ours.earlier,
            },
            ServerUnderTest::External(pid) => Processes::External(*pid),
            ServerUnderTest::Fleet(fleet) => Processes::Fleet(fleet.processes()),
        }
    }

    /// The owner task: one command at a time until told to stop (or until the run drops its
    /// handle, when the server is stopped all the same).
    async fn own(
        mut self,
        mut inbox: mpsc::Receiver<Command>,
        processes: watch::Sender<Processes>,
    ) {
        while let Some(command) = inbox.recv().await {
            match command {
                Command::Fault(fault, reply) => {
                    let said = self.inject(fault, &processes).await;
                    processes.send_replace(self.processes());
                    let _ = reply.send(said);
                }
                Command::Stop(reply) => {
                    let _ = reply.send(self.stop().await);
                    return;
                }
            }
        }
        self.stop().await;
    }

    async fn inject(&mut self, fault: Fault, processes: &watch::Sender<Processes>) -> String {
        match (fault, self) {
            (Fault::Restart, ServerUnderTest::Ours(ours)) => ours.restart(processes).await,
            (Fault::Restart, _) => {
                "restart_server_at applies to one built-in server only; the server was left running"
                    .into()
            }
            (Fault::KillInstance, ServerUnderTest::Fleet(fleet)) => fleet.kill_one().await,
            (Fault::KillInstance, _) => {
                "kill_instance_at applies to several built-in instances only".into()
            }
            (Fault::Deploy(mode), ServerUnderTest::Fleet(fleet)) => fleet.deploy(mode).await,
            (Fault::Deploy(_), _) => {
                "restart_instances_at applies to several built-in instances only".into()
            }
        }
    }

    /// Whether it still runs, a fleet's layout, then stops our own server (an external one is
    /// left running).
    async fn stop(self) -> Finished {
        match self {
            ServerUnderTest::Ours(mut ours) => {
                let alive = ours.child.as_mut().is_some_and(|child| child.alive());
                if let Some(child) = ours.child {
                    child.stop().await;
                }
                Finished {
                    alive,
                    ..Finished::default()
                }
            }
            ServerUnderTest::External(pid) => Finished {
                alive: pid.is_none_or(|pid| os::process_usage(pid).is_some()),
                ..Finished::default()
            },
            ServerUnderTest::Fleet(mut fleet) => Finished {
                alive: fleet.alive(),
                layout: Some(fleet.layout()),
                stopped: fleet.stop().await,
            },
        }
    }
}

impl Ours {
    /// Stops the server and starts it again on the same address ([`ServerChild::restart`]);
    /// while it is between processes the phases sample what the stopped ones used. Returns what
    /// happened, for the progress line.
    async fn restart(&mut self, processes: &watch::Sender<Processes>) -> String {
        let Some(old) = self.child.take() else {
            return "the server is not running: nothing to restart".into();
        };
        // Sampled before the old process stops: afterwards it has no usage to read.
        if let Some(now) = old.usage() {
            self.earlier = self.earlier.plus(now);
        }
        processes.send_replace(Processes::Ours {
            pid: None,
            earlier: self.earlier,
        });
        let addr = old.addr;
        match old.restart().await {
            Ok(next) => {
                self.child = Some(Box::new(next));
                format!("stopped the server and started it again on {addr}")
            }
            Err(e) => format!("stopped the server but could not start it again: {e}"),
        }
    }
}

impl Owner {
    /// Injects `fault`; returns what happened, for the progress line.
    pub(super) async fn inject(&self, fault: Fault) -> String {
        let (reply, said) = oneshot::channel();
        if self
            .commands
            .send(Command::Fault(fault, reply))
            .await
            .is_err()
        {
            return "the server's owner has stopped: no fault injected".into();
        }
        said.await
            .unwrap_or_else(|_| "the server's owner has stopped: no fault injected".into())
    }

    /// Stops the server (after any fault in progress) and says how it ended; a lost owner reads
    /// as a server that did not survive.
    pub(super) async fn stop(self) -> Finished {
        let (reply, finished) = oneshot::channel();
        if self.commands.send(Command::Stop(reply)).await.is_err() {
            return Finished::default();
        }
        finished.await.unwrap_or_default()
    }
}
