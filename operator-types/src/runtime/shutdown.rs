//! Waiting for SIGTERM or Ctrl-C, and telling the controllers to stop taking work. Touches only process
//! signals.

use std::future::Future;

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => tracing::info!("interrupted, shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// How long in-flight reconciles get to finish after SIGTERM before the process stops anyway; with the
/// lease release after it, the process exits well within 5 s.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// How long handing the lease over may take on the way out (grace + release stay under 5 s).
pub const RELEASE: std::time::Duration = std::time::Duration::from_millis(1500);

/// The request to stop, handed to every controller: once it fires, a controller starts no new reconcile
/// and its stream ends when the running ones have finished (kube's graceful shutdown).
#[derive(Clone, Debug)]
pub struct Shutdown {
    requested: tokio::sync::watch::Receiver<bool>,
}

/// The side of [`Shutdown`] that the process's life cycle fires.
#[derive(Debug)]
pub struct Trigger(tokio::sync::watch::Sender<bool>);

impl Shutdown {
    /// A request not yet fired, and its trigger.
    pub fn new() -> (Trigger, Self) {
        let (sender, requested) = tokio::sync::watch::channel(false);
        (Trigger(sender), Self { requested })
    }

    /// Resolves once the stop is requested (or the trigger is gone).
    pub fn requested(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut requested = self.requested.clone();
        async move {
            let _ = requested.wait_for(|stop| *stop).await;
        }
    }
}

impl Trigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}
