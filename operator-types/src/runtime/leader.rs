//! Leader election on a coordination.k8s.io/v1 Lease, so two replicas of a binary are safe: only the
//! holder reconciles. Touches only its own Lease.
//!
//! Expiry is judged by the local clock from when this process last saw the lease record change (as
//! client-go does), so clock skew between replicas can't make two leaders. Each successful renewal moves
//! the [`Leadership`] deadline that the client's write gate enforces to `renew deadline` after the
//! renewal began; every attempt is bounded by what is left of it, so a stalled API server can't keep a
//! leader writing past the point where its lease may be taken.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

use super::cli::LeaderElectionArgs;
use super::write_gate::Leadership;

/// Settings of one election.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    api: Api<Lease>,
    lease_name: String,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
    leadership: Leadership,
}

/// Held while this process leads; `lost` resolves if leadership is lost. Dropping it stops renewing;
/// [`LeaderGuard::release`] hands the lease over at once.
#[derive(Debug)]
pub struct LeaderGuard {
    election: LeaderElection,
    lost: watch::Receiver<bool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl LeaderElection {
    /// An election for `default_lease_name` (the binary's name unless overridden) in the configured
    /// namespace, as `identity`; winning it and renewing it moves `leadership`'s deadline.
    pub fn new(
        client: Client,
        args: &LeaderElectionArgs,
        default_lease_name: &str,
        identity: String,
        leadership: Leadership,
    ) -> Self {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into());
        Self {
            api: Api::namespaced(client, &namespace),
            lease_name: args
                .leader_election_id
                .clone()
                .unwrap_or_else(|| default_lease_name.to_string()),
            identity,
            lease_duration: args.lease_duration(),
            renew_deadline: args.renew_deadline(),
            retry_period: args.retry_period(),
            leadership,
        }
    }

    /// A fresh identity for this process: its pod (or host) name and a random suffix.
    pub fn new_identity() -> String {
        let host = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "local".into());
        format!("{host}_{:08x}", rand::random::<u32>())
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this process holds the lease, then keeps renewing it in the background.
    pub async fn acquire(self) -> LeaderGuard {
        let mut observed: Option<Observed> = None;
        loop {
            let attempt = self.try_acquire_or_renew(&mut observed);
            match tokio::time::timeout(self.renew_deadline, attempt).await {
                Ok(Ok(true)) => break,
                Ok(Ok(false)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, lease = %self.lease_name, "leader election attempt failed");
                }
                Err(_) => tracing::warn!(lease = %self.lease_name, "leader election attempt timed out"),
            }
            tokio::time::sleep(self.retry_period).await;
        }
        tracing::info!(lease = %self.lease_name, identity = %self.identity, "became leader");
        let (lost_tx, lost) = watch::channel(false);
        let election = self.clone();
        let renewer = tokio::spawn(async move { election.keep_renewing(observed, lost_tx).await });
        LeaderGuard {
            election: self,
            lost,
            renewer,
        }
    }

    async fn keep_renewing(&self, mut observed: Option<Observed>, lost: watch::Sender<bool>) {
        loop {
            tokio::time::sleep(self.retry_period).await;
            // An attempt may take only what is left of the leadership; then it is lost.
            let Some(left) = self.leadership.remaining() else {
                tracing::error!(lease = %self.lease_name, "could not renew within the renew deadline");
                break;
            };
            let attempt = self.try_acquire_or_renew(&mut observed);
            match tokio::time::timeout(left, attempt).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    tracing::error!(lease = %self.lease_name, "another process took the lease");
                    break;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, lease = %self.lease_name, "failed to renew the lease");
                }
                Err(_) => tracing::warn!(lease = %self.lease_name, "renewing the lease timed out"),
            }
        }
        self.leadership.revoke();
        let _ = lost.send(true);
    }

    /// One round of the protocol: create the lease, renew our own, take over an expired one, or wait.
    async fn try_acquire_or_renew(&self, observed: &mut Option<Observed>) -> Result<bool, kube::Error> {
        // Others date our renewal from when they see it, which is after this instant.
        let began = Instant::now();
        let valid_until = began + self.renew_deadline;
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.lease_name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease_name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.holder_spec(&now, &now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    self.leadership.extend_to(valid_until);
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if observed.as_ref().is_none_or(|o| o.resource_version != version) {
            *observed = Some(Observed {
                resource_version: version,
                at: Instant::now(),
            });
        }
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.lease_duration, Duration::from_secs);
        let expired = holder.is_empty() || observed.as_ref().is_some_and(|o| o.at.elapsed() > duration);
        if !ours && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours {
            spec.acquire_time.clone().unwrap_or_else(|| now.clone())
        } else {
            now.clone()
        };
        lease.spec = Some(self.holder_spec(&acquired, &now, transitions));
        match self
            .api
            .replace(&self.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                *observed = Some(Observed {
                    resource_version: updated.metadata.resource_version.unwrap_or_default(),
                    at: Instant::now(),
                });
                self.leadership.extend_to(valid_until);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn holder_spec(&self, acquired: &MicroTime, renewed: &MicroTime, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: Some(acquired.clone()),
            renew_time: Some(renewed.clone()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

/// When this process last saw the lease record change.
#[derive(Debug)]
struct Observed {
    resource_version: String,
    at: Instant,
}

impl LeaderGuard {
    /// Resolves when leadership is lost: another holder, or no renewal within the renew deadline (judged
    /// by the deadline itself, so a renewer stuck in a request can't delay it).
    pub async fn lost(&mut self) {
        loop {
            if *self.lost.borrow() {
                return;
            }
            let Some(deadline) = self.election.leadership.deadline() else {
                return;
            };
            if Instant::now() >= deadline {
                tracing::error!(lease = %self.election.lease_name, "leadership ran out without renewal");
                self.election.leadership.revoke();
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline.into()) => {}
                changed = self.lost.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Stops renewing and clears the holder, so a standby takes over without waiting for expiry.
    pub async fn release(self) {
        self.renewer.abort();
        self.election.leadership.revoke();
        let election = &self.election;
        let Ok(Some(mut lease)) = election.api.get_opt(&election.lease_name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match election
            .api
            .replace(&election.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %election.lease_name, "released the lease"),
            Err(error) => tracing::warn!(%error, lease = %election.lease_name, "failed to release the lease"),
        }
    }
}
