//! Child processes the tests start: run to an end within a limit, or kept and stopped on drop.
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `command` to its end, or kills it after `limit`.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{command:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A child process (a server, Prometheus), killed and reaped when dropped.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
