//! Follows the lattices the cluster's WasmCloudHostConfigs name, over the process's one NATS
//! connection: per lattice, wadm's manifest events and the hosts' events, plus a full resync (wadm's
//! deployed manifests, a ping of the hosts) on start and after every reconnect. Touches only NATS and
//! the shared lattice views; says which lattice changed on a channel.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::runtime::nats::Nats;
use wasmcloud_operator_types::runtime::readiness::ReadinessCheck;
use wasmcloud_operator_types::runtime::tracker::ReconcileTracker;
use wasmcloud_operator_types::runtime::wadm::{Wadm, WadmError};

use crate::inventory::{Decision, Host, LatticeView, decide, host_of_inventory};

/// How long a host gets to answer a control-interface request.
const HOST_TIMEOUT: Duration = Duration::from_secs(5);
/// How many wadm or host requests one resync has in flight.
const PARALLEL_REQUESTS: usize = 8;

/// The lattices being followed and what is known about each.
#[derive(Clone)]
pub struct Lattices {
    inner: Arc<Inner>,
}

struct Inner {
    nats: Nats,
    wadm: Wadm,
    ping_window: Duration,
    /// Images of HTTP server providers: what a deployed manifest is qualified with.
    image_patterns: Vec<String>,
    views: RwLock<BTreeMap<String, LatticeView>>,
    followers: Mutex<BTreeMap<String, JoinHandle<()>>>,
    /// Lattices whose last resync failed; wadm readiness is true when empty.
    failing: Mutex<BTreeSet<String>>,
    wadm_ready: ReadinessCheck,
    changed: mpsc::UnboundedSender<String>,
}

impl std::fmt::Debug for Lattices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lattices")
            .field(
                "followed",
                &lock(&self.inner.followers).keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Lattices {
    /// Follows nothing yet; the receiver gets the name of every lattice whose view changed.
    pub fn new(
        nats: Nats,
        ping_window: Duration,
        image_patterns: Vec<String>,
        wadm_ready: ReadinessCheck,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (changed, receiver) = mpsc::unbounded_channel();
        wadm_ready.set(true);
        let inner = Inner {
            wadm: Wadm::new(nats.client.clone()),
            nats,
            ping_window,
            image_patterns,
            views: RwLock::default(),
            followers: Mutex::default(),
            failing: Mutex::default(),
            wadm_ready,
            changed,
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            receiver,
        )
    }

    /// Follows exactly the lattices of `host_configs`: starts the new ones, stops and forgets the rest.
    pub fn follow_lattices_of<'a>(&self, host_configs: impl IntoIterator<Item = &'a WasmCloudHostConfig>) {
        let wanted: BTreeSet<&str> = host_configs
            .into_iter()
            .map(|h| h.spec.lattice.as_str())
            .collect();
        let mut followers = lock(&self.inner.followers);
        followers.retain(|lattice, task| {
            let keep = wanted.contains(lattice.as_str());
            if !keep {
                task.abort();
                write(&self.inner.views).remove(lattice);
                lock(&self.inner.failing).remove(lattice);
            }
            keep
        });
        for lattice in wanted {
            if !followers.contains_key(lattice) {
                let inner = self.inner.clone();
                let name = lattice.to_string();
                followers.insert(name.clone(), tokio::spawn(follow(inner, name)));
            }
        }
        self.inner.update_readiness();
    }

    /// Runs `f` on what is known about `lattice`; `None` if it isn't followed yet.
    pub fn with_view<R>(&self, lattice: &str, f: impl FnOnce(&LatticeView) -> R) -> Option<R> {
        read(&self.inner.views).get(lattice).map(f)
    }
}

impl Inner {
    /// Changes `lattice`'s view and says so when `change` reports a change.
    fn update(&self, lattice: &str, change: impl FnOnce(&mut LatticeView) -> bool) {
        let changed = change(write(&self.views).entry(lattice.to_string()).or_default());
        if changed {
            let _ = self.changed.send(lattice.to_string());
        }
    }

    fn resynced(&self, lattice: &str, ok: bool) {
        {
            let mut failing = lock(&self.failing);
            if ok {
                failing.remove(lattice);
            } else {
                failing.insert(lattice.to_string());
            }
        }
        self.update_readiness();
    }

    fn update_readiness(&self) {
        self.wadm_ready.set(lock(&self.failing).is_empty());
    }
}

/// One lattice, until aborted: events as they come, a full resync at start and after each reconnect,
/// retried with backoff while wadm doesn't answer.
async fn follow(inner: Arc<Inner>, lattice: String) {
    let subscribe = |subject: String| {
        let nats = inner.nats.client.clone();
        async move { nats.subscribe(subject).await }
    };
    let (wadm_events, host_events) = match (
        subscribe(format!("wadm.evt.{lattice}.>")).await,
        subscribe(format!("wasmbus.evt.{lattice}.>")).await,
    ) {
        (Ok(w), Ok(h)) => (w, h),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%lattice, %error, "can't subscribe to the lattice's events");
            inner.resynced(&lattice, false);
            return;
        }
    };
    let mut events = stream::select(wadm_events.map(|m| (true, m)), host_events.map(|m| (false, m)));
    let mut connections = inner.nats.connections.clone();
    let mut failures = 0u32;
    let mut resync_at = Some(tokio::time::Instant::now());
    loop {
        let due = resync_at.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            () = tokio::time::sleep_until(due), if resync_at.is_some() => {
                match resync(&inner, &lattice).await {
                    Ok(()) => {
                        failures = 0;
                        resync_at = None;
                        inner.resynced(&lattice, true);
                    }
                    Err(error) => {
                        let delay = error.retry_after(ReconcileTracker::<WasmCloudHostConfig>::backoff(failures));
                        failures = failures.saturating_add(1);
                        tracing::warn!(%lattice, %error, retry_in = ?delay, "can't read the lattice from wadm");
                        resync_at = Some(tokio::time::Instant::now() + delay);
                        inner.resynced(&lattice, false);
                    }
                }
            }
            changed = connections.changed() => {
                if changed.is_err() {
                    return;
                }
                // Events sent while away are not replayed: read everything again.
                resync_at = Some(tokio::time::Instant::now());
            }
            Some((from_wadm, message)) = events.next() => {
                let kind = message.subject.rsplit('.').next().unwrap_or_default().to_string();
                let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
                    tracing::debug!(subject = %message.subject, "ignoring an event that is not JSON");
                    continue;
                };
                let now = Instant::now();
                if from_wadm {
                    inner.update(&lattice, |view| view.apply_wadm_event(&kind, &event, &inner.image_patterns));
                } else {
                    inner.update(&lattice, |view| {
                        let changed = view.apply_host_event(&kind, &event, now);
                        view.forget_silent_hosts(now) || changed
                    });
                }
            }
        }
    }
}

/// Reads the lattice again: wadm's deployed manifests, and every host that answers a ping.
async fn resync(inner: &Inner, lattice: &str) -> Result<(), WadmError> {
    let deployed = inner.wadm.deployed(lattice).await?;
    // Each manifest is qualified as it arrives, so only the requests in flight hold one.
    let decisions: Vec<Result<Option<(String, Decision)>, WadmError>> = stream::iter(deployed)
        .map(|(name, version)| async move {
            let manifest = inner.wadm.manifest(lattice, &name, &version).await?;
            let decision = manifest.and_then(|m| decide(&m, &inner.image_patterns));
            Ok(decision.map(|d| (name, d)))
        })
        .buffer_unordered(PARALLEL_REQUESTS)
        .collect()
        .await;
    let mut apps = BTreeMap::new();
    for decision in decisions {
        if let Some((name, decision)) = decision? {
            apps.insert(name, decision);
        }
    }
    let hosts = ping_hosts(inner, lattice).await;
    let now = Instant::now();
    inner.update(lattice, |view| {
        let apps_changed = view.replace_apps(apps);
        let hosts_changed = view.merge_hosts(hosts);
        view.forget_silent_hosts(now) || apps_changed || hosts_changed
    });
    tracing::debug!(%lattice, "resynced");
    Ok(())
}

/// Every host that answers `host.ping` within the window, with its inventory from `host.get`.
async fn ping_hosts(inner: &Inner, lattice: &str) -> BTreeMap<String, Host> {
    let nats = &inner.nats.client;
    let inbox = nats.new_inbox();
    let Ok(mut replies) = nats.subscribe(inbox.clone()).await else {
        return BTreeMap::new();
    };
    let ping = format!("wasmbus.ctl.v1.{lattice}.host.ping");
    if nats
        .publish_with_reply(ping, inbox, Vec::new().into())
        .await
        .is_err()
    {
        return BTreeMap::new();
    }
    let mut ids = BTreeSet::new();
    let window = tokio::time::sleep(inner.ping_window);
    tokio::pin!(window);
    loop {
        tokio::select! {
            () = &mut window => break,
            reply = replies.next() => {
                let Some(reply) = reply else { break };
                let id = serde_json::from_slice::<Value>(&reply.payload).ok().and_then(|v| {
                    v.pointer("/response/id").and_then(Value::as_str).map(str::to_string)
                });
                ids.extend(id);
            }
        }
    }
    stream::iter(ids)
        .map(|id| async move {
            let subject = format!("wasmbus.ctl.v1.{lattice}.host.get.{id}");
            let reply = tokio::time::timeout(HOST_TIMEOUT, nats.request(subject, Vec::new().into())).await;
            let inventory = reply
                .ok()?
                .ok()
                .and_then(|m| serde_json::from_slice::<Value>(&m.payload).ok())?;
            let data = inventory.get("response")?;
            Some((id, host_of_inventory(data, Instant::now())))
        })
        .buffer_unordered(PARALLEL_REQUESTS)
        .filter_map(std::future::ready)
        .collect()
        .await
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
