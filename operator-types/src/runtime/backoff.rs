//! How watches retry after the API server fails them: exponential from 250 ms, capped at 5 s, with a
//! little jitter, reset by the first event that gets through, each watch on its own. kube's default caps
//! at 30 s and jitters up to twice that, and a controller's trigger streams share one backoff, so after
//! an API server outage the failures of a dozen watches queue behind each other for minutes. Here every
//! watch backs off by itself and its failures become log lines, never errors the controller waits on.
//! Touches nothing but the log.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt, future};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher;

const FIRST: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(5);

/// The backoff every watch (and every controller's trigger streams) uses.
#[derive(Debug, Clone, Default)]
pub struct WatchBackoff {
    failures: u32,
}

/// A fresh [`WatchBackoff`].
pub fn watch_backoff() -> WatchBackoff {
    WatchBackoff::default()
}

/// `stream` (a watch that already retries with [`watch_backoff`]) without its errors, which are logged
/// as warnings naming `what` is watched.
pub fn log_errors<T, S>(stream: S, what: &'static str) -> impl Stream<Item = Result<T, watcher::Error>> + Send
where
    S: Stream<Item = Result<T, watcher::Error>> + Send,
    T: Send,
{
    stream.filter_map(move |item| {
        future::ready(match item {
            Ok(object) => Some(Ok(object)),
            Err(error) => {
                tracing::warn!(watch = what, %error, "watch failed; retrying");
                None
            }
        })
    })
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = FIRST.saturating_mul(1u32 << self.failures.min(10)).min(CAP);
        self.failures = self.failures.saturating_add(1);
        // Up to a fifth more, so processes that lost the API server together don't come back in step.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Some(base + base.mul_f64(f64::from(nanos % 1000) / 5000.0))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_starts_over_after_a_reset() {
        let mut backoff = watch_backoff();
        let delays: Vec<Duration> = backoff.by_ref().take(8).collect();
        // Each delay is its doubling base (capped) plus at most a fifth of jitter.
        for (i, delay) in delays.iter().enumerate() {
            let base = FIRST.saturating_mul(1 << i).min(CAP);
            assert!(
                *delay >= base && *delay <= base.mul_f64(1.2),
                "delay {i}: {delays:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next().is_some_and(|d| d < FIRST * 2));
    }
}
