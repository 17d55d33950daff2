//! The live page's feed: every event of the run so far, and the same events as they happen to
//! every page that is open.
//!
//! A page that opens late first gets the history (so its charts start at the run's start), then
//! the new events. The run never waits on a page: events go out on a bounded `broadcast`
//! channel, and a page that falls [`BACKLOG`] events behind skips what it missed (its charts get
//! a gap) instead of holding anything up. The history grows with the run: one event per
//! transport and second, a few hundred bytes each.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::broadcast;

/// Events a page may fall behind before it skips: over a minute of a four-transport run.
pub const BACKLOG: usize = 256;

/// The run's events as JSON text, kept and sent on.
#[derive(Debug)]
pub struct Feed {
    history: Mutex<Vec<Arc<str>>>,
    tx: broadcast::Sender<Arc<str>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            history: Mutex::new(Vec::new()),
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Feed {
    /// Keeps `event` and sends it to every open page; never waits.
    pub fn publish(&self, event: &Value) {
        let text: Arc<str> = event.to_string().into();
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.push(text.clone());
        // No page open is not an error: the history keeps it for the next one.
        let _ = self.tx.send(text);
    }

    /// Everything so far, and a receiver of what comes next (taken together, so nothing falls
    /// between them).
    pub fn subscribe(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        (history.clone(), self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_late_page_gets_the_history_then_the_rest() {
        let feed = Feed::default();
        feed.publish(&json!({"kind": "start", "transport": "ws"}));
        let (history, mut rx) = feed.subscribe();
        assert_eq!(&*history[0], r#"{"kind":"start","transport":"ws"}"#);
        feed.publish(&json!({"kind": "done"}));
        assert_eq!(&*rx.try_recv().unwrap(), r#"{"kind":"done"}"#);
    }

    #[test]
    fn a_page_that_falls_behind_never_holds_the_run_up() {
        let feed = Feed::default();
        let (_, mut rx) = feed.subscribe();
        for i in 0..BACKLOG + 10 {
            feed.publish(&json!({ "i": i }));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        assert_eq!(feed.subscribe().0.len(), BACKLOG + 10);
    }
}
