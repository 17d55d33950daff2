//! A deploy of a fleet (`[faults] restart_instances_at`): every instance stopped as a supervisor
//! stops it and started again on its address, one by one or all at once.

use std::time::Duration;

use futures_util::future::join_all;

use super::Fleet;
use crate::child::Again;
use crate::scenario::DeployMode;

impl Fleet {
    /// `[faults] restart_instances_at`: a deploy. Every running instance is stopped (SIGTERM,
    /// as a supervisor does) and started again on its address, one after another (`Rolling`:
    /// the next once the last listens again) or all at once (`All`: all stopped, then all
    /// started). Returns what happened, for the progress line.
    pub async fn deploy(&mut self, mode: DeployMode) -> String {
        let started = tokio::time::Instant::now();
        let mut failed = Vec::new();
        match mode {
            DeployMode::Rolling => {
                for slot in self.slots.iter_mut().filter(|s| s.child.is_some()) {
                    slot.retire();
                    if let Some(child) = slot.child.take() {
                        match child.restart().await {
                            Ok(next) => slot.child = Some(next),
                            Err(e) => failed.push(format!("{}: {e}", slot.addr)),
                        }
                    }
                }
            }
            DeployMode::All => {
                let running: Vec<usize> = (0..self.slots.len())
                    .filter(|i| self.slots[*i].child.is_some())
                    .collect();
                let (mut stopping, mut again) = (Vec::new(), Vec::new());
                for &i in &running {
                    let slot = &mut self.slots[i];
                    slot.retire();
                    if let Some(child) = slot.child.take() {
                        again.push(child.again());
                        stopping.push(child.stop());
                    }
                }
                join_all(stopping).await;
                let restarted = join_all(again.into_iter().map(Again::start)).await;
                for (i, next) in running.into_iter().zip(restarted) {
                    match next {
                        Ok(child) => self.slots[i].child = Some(child),
                        Err(e) => failed.push(format!("{}: {e}", self.slots[i].addr)),
                    }
                }
            }
        }
        let took = humantime::format_duration(Duration::from_millis(
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ));
        match failed.is_empty() {
            true => format!("deployed every instance ({}) in {took}", mode.label()),
            false => format!(
                "deploy ({}) in {took}; not started again: {}",
                mode.label(),
                failed.join("; ")
            ),
        }
    }
}
