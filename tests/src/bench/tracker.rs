//! Timestamps of what the bench watches: one watch per kind, started before the experiment, records for
//! every object the moments a derived value (phase, ready addresses, a label) changed, as the bench
//! process saw the watch events. Latencies are read from that history, so nothing is polled. Reads only.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The value recorded when an object is deleted.
pub const DELETED: &str = "<deleted>";

type History = HashMap<String, Vec<(Instant, String)>>;

/// When each key's value changed, with a way to wait for a change. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Timeline {
    history: Arc<Mutex<History>>,
    changed: Arc<Notify>,
}

impl Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline").finish_non_exhaustive()
    }
}

/// History of one derived value for every object of a kind, keyed `namespace/name`.
pub struct Tracker {
    what: String,
    timeline: Timeline,
    synced: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tracker {
    /// Watches `api` (optionally label-selected) and records `value(object)` whenever it changes.
    pub fn start<K>(what: &str, api: Api<K>, selector: Option<&str>, value: fn(&K) -> String) -> Self
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let mut config = watcher::Config::default();
        if let Some(selector) = selector {
            config = config.labels(selector);
        }
        let timeline = Timeline::default();
        let (synced_tx, synced) = watch::channel(false);
        let shared = timeline.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher::watcher(api, config).boxed();
            while let Some(event) = events.next().await {
                let now = Instant::now();
                let update = match event {
                    Ok(Event::Apply(object) | Event::InitApply(object)) => {
                        Some((key(&object), value(&object)))
                    }
                    Ok(Event::Delete(object)) => Some((key(&object), DELETED.to_string())),
                    Ok(Event::InitDone) => {
                        let _ = synced_tx.send(true);
                        None
                    }
                    Ok(Event::Init) | Err(_) => None,
                };
                if let Some((key, value)) = update {
                    shared.record(key, value, now);
                }
            }
        });
        Self {
            what: what.to_string(),
            timeline,
            synced,
            task,
        }
    }

    /// Waits until the watch has listed what exists.
    pub async fn synced(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let what = self.what.clone();
        tokio::time::timeout_at(deadline, self.synced.wait_for(|s| *s))
            .await
            .map_err(|_| anyhow::anyhow!("the {what} watch did not sync"))??;
        Ok(())
    }

    /// See [`Timeline::first`].
    pub async fn first(
        &self,
        key: &str,
        after: Instant,
        want: impl Fn(&str) -> bool,
        deadline: Instant,
    ) -> anyhow::Result<Instant> {
        self.timeline.first(&self.what, key, after, want, deadline).await
    }

    /// The current value of `key`, if it was ever seen.
    pub fn current(&self, key: &str) -> Option<String> {
        self.timeline.current(key)
    }
}

impl Timeline {
    /// Records `value` for `key` at `at` if it differs from the last one.
    pub fn record(&self, key: String, value: String, at: Instant) {
        let mut history = lock(&self.history);
        let entries = history.entry(key).or_default();
        if entries.last().is_none_or(|(_, last)| *last != value) {
            entries.push((at, value));
            self.changed.notify_waiters();
        }
    }

    /// The first moment at or after `after` when the value of `key` satisfied `want`; waits for it
    /// until `deadline`.
    pub async fn first(
        &self,
        what: &str,
        key: &str,
        after: Instant,
        want: impl Fn(&str) -> bool,
        deadline: Instant,
    ) -> anyhow::Result<Instant> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(at) = self.find(key, after, &want) {
                return Ok(at);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let last = self.current(key).unwrap_or_else(|| "nothing".into());
                anyhow::bail!("{what} {key}: timed out; last value {last:?}");
            }
        }
    }

    /// The current value of `key`, if it was ever seen.
    pub fn current(&self, key: &str) -> Option<String> {
        lock(&self.history)
            .get(key)
            .and_then(|entries| entries.last())
            .map(|(_, value)| value.clone())
    }

    fn find(&self, key: &str, after: Instant, want: &impl Fn(&str) -> bool) -> Option<Instant> {
        let history = lock(&self.history);
        let entries = history.get(key)?;
        // The value in force at `after` counts from `after`; later changes from when they happened.
        let in_force = entries.iter().rev().find(|(at, _)| *at <= after);
        if let Some((_, value)) = in_force
            && want(value)
        {
            return Some(after);
        }
        entries
            .iter()
            .find(|(at, value)| *at > after && want(value))
            .map(|(at, _)| *at)
    }
}

/// `namespace/name`, the key the tracker uses.
pub fn key<K: Resource>(object: &K) -> String {
    format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
