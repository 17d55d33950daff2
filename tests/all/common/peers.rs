//! Real servers of other stacks, started by the project's scripts under `scripts/peers/` (which
//! install what they need): a free loopback port, the script's pid, and a guard that stops it.
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::path::Path;
use std::process::Command;

/// A peer server's process (nginx's master, Node), sent SIGTERM when dropped.
pub struct Peer {
    /// Its pid, as the script printed it: give it as `server_pid`.
    pub pid: u32,
    /// The loopback port it listens on.
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `scripts/peers/<name>/start.sh PORT [args]` with `env`; the script prints the server's
/// pid once it listens.
pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Peer {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/peers")
        .join(name)
        .join("start.sh");
    let started = Command::new(&script)
        .arg(port.to_string())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&started.stderr)
    );
    let pid = String::from_utf8_lossy(&started.stdout)
        .trim()
        .parse()
        .unwrap();
    Peer { pid, port }
}
