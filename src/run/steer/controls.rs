//! How a moderator's steer reaches the drivers: each change to a run in
//! the store bumps a version that every driver and post wait watches, so
//! they re-read the run at once instead of at their next deadline.

use tokio::sync::watch;

/// Wakes drivers when a command changed a run (a new version per change).
#[derive(Debug, Clone)]
pub struct Controls(watch::Sender<u64>);

impl Default for Controls {
    fn default() -> Self {
        Self(watch::Sender::new(0))
    }
}

impl Controls {
    pub fn changed(&self) {
        self.0.send_modify(|v| *v += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
