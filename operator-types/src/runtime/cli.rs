//! Command-line arguments every binary accepts (each also readable from the environment). Pure parsing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Arguments shared by the three binaries; flatten into each binary's own `Args`.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Kubeconfig file. Unset: $KUBECONFIG, ~/.kube/config, or the in-cluster service account.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Watch and manage only this namespace (default: every namespace).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info` or `info,kube=debug`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Address of the /metrics endpoint (`:8080` means every interface; `0` turns it off).
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = ":8080")]
    pub metrics_bind_address: BindAddress,

    /// Address of the /healthz and /readyz endpoints (`0` turns them off).
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = ":8081")]
    pub health_probe_bind_address: BindAddress,

    /// How long any API request but a watch may take, in seconds (default 8; with leader election at
    /// most the renew deadline less 1 s, and it must be shorter than the renew deadline).
    #[arg(long, env = "REQUEST_TIMEOUT")]
    pub request_timeout: Option<u64>,

    #[command(flatten)]
    pub leader_election: LeaderElectionArgs,
}

/// Leader election on a coordination.k8s.io Lease, so two replicas are safe.
#[derive(clap::Args, Debug, Clone)]
pub struct LeaderElectionArgs {
    /// Take part in leader election; only the leader reconciles.
    #[arg(long = "leader-elect", env = "LEADER_ELECT", num_args = 0..=1, default_missing_value = "true",
          default_value_t = false)]
    pub enabled: bool,

    /// Namespace of the Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease (default: the binary's name).
    #[arg(long, env = "LEADER_ELECTION_ID")]
    pub leader_election_id: Option<String>,

    /// How long a lease is valid without renewal, in seconds.
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value_t = 15)]
    pub leader_election_lease_duration: u64,

    /// How long the leader keeps trying to renew before it gives up leadership, in seconds.
    #[arg(long, env = "LEADER_ELECTION_RENEW_DEADLINE", default_value_t = 10)]
    pub leader_election_renew_deadline: u64,

    /// How often candidates and the leader try the lease, in seconds.
    #[arg(long, env = "LEADER_ELECTION_RETRY_PERIOD", default_value_t = 2)]
    pub leader_election_retry_period: u64,
}

impl LeaderElectionArgs {
    pub fn lease_duration(&self) -> Duration {
        Duration::from_secs(self.leader_election_lease_duration)
    }
    pub fn renew_deadline(&self) -> Duration {
        Duration::from_secs(self.leader_election_renew_deadline)
    }
    pub fn retry_period(&self) -> Duration {
        Duration::from_secs(self.leader_election_retry_period)
    }

    /// The request timeout to use: `explicit`, else 8 s (with leader election: at most the renew
    /// deadline less 1 s). With leader election, also checks that the timings keep one writer: retry
    /// period < renew deadline < lease duration, and a request ends before the renew deadline does.
    pub fn request_timeout(&self, explicit: Option<u64>) -> Result<Duration, String> {
        let default = Duration::from_secs(8);
        if !self.enabled {
            return Ok(explicit.map_or(default, Duration::from_secs));
        }
        let renew = self.renew_deadline();
        let timeout = explicit.map_or_else(
            || default.min(renew.saturating_sub(Duration::from_secs(1))),
            Duration::from_secs,
        );
        self.check(timeout)?;
        Ok(timeout)
    }

    fn check(&self, request_timeout: Duration) -> Result<(), String> {
        let (retry, renew, lease) = (self.retry_period(), self.renew_deadline(), self.lease_duration());
        if retry.is_zero() || retry >= renew || renew >= lease {
            return Err(format!(
                "leader election needs retry period < renew deadline < lease duration (got {}s, {}s, {}s)",
                retry.as_secs(),
                renew.as_secs(),
                lease.as_secs()
            ));
        }
        if request_timeout.is_zero() || request_timeout >= renew {
            return Err(format!(
                "--request-timeout ({}s) must be above 0 and shorter than the renew deadline ({}s)",
                request_timeout.as_secs(),
                renew.as_secs()
            ));
        }
        Ok(())
    }
}

/// Log output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A listen address: `host:port`, `:port` (every interface) or `0` (off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAddress(pub Option<SocketAddr>);

impl FromStr for BindAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "0" {
            return Ok(Self(None));
        }
        if let Some(port) = s.strip_prefix(':') {
            let port: u16 = port.parse().map_err(|_| format!("'{s}' is not a port"))?;
            return Ok(Self(Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))));
        }
        s.parse::<SocketAddr>()
            .map(|a| Self(Some(a)))
            .map_err(|_| format!("'{s}' is not host:port, :port or 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Probe {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn bind_addresses_parse_in_all_three_forms() {
        assert_eq!(BindAddress::from_str("0"), Ok(BindAddress(None)));
        assert_eq!(
            BindAddress::from_str(":8080").expect("parses").0,
            Some("0.0.0.0:8080".parse().expect("addr"))
        );
        assert_eq!(
            BindAddress::from_str("127.0.0.1:9000").expect("parses").0,
            Some("127.0.0.1:9000".parse().expect("addr"))
        );
        assert!(BindAddress::from_str("localhost").is_err());
    }

    #[test]
    fn defaults_match_controller_runtime_conventions() {
        let p = Probe::try_parse_from(["x"]).expect("defaults parse");
        assert_eq!(p.common.metrics_bind_address.0.map(|a| a.port()), Some(8080));
        assert_eq!(p.common.health_probe_bind_address.0.map(|a| a.port()), Some(8081));
        assert!(!p.common.leader_election.enabled);
        assert_eq!(p.common.leader_election.lease_duration(), Duration::from_secs(15));
    }

    #[test]
    fn leader_election_timings_must_keep_one_writer() {
        let timeout = |args: &[&str]| {
            let p = Probe::try_parse_from(args).expect("parses");
            p.common.leader_election.request_timeout(p.common.request_timeout)
        };
        assert_eq!(timeout(&["x"]), Ok(Duration::from_secs(8)), "no election: 8 s");
        assert_eq!(
            timeout(&["x", "--leader-elect"]),
            Ok(Duration::from_secs(8)),
            "the defaults fit"
        );
        assert_eq!(
            timeout(&["x", "--leader-elect", "--leader-election-renew-deadline", "3"]),
            Ok(Duration::from_secs(2)),
            "a short renew deadline shortens the default"
        );
        let error =
            timeout(&["x", "--leader-elect", "--request-timeout", "10"]).expect_err("10s is not < 10s");
        assert!(error.contains("--request-timeout"), "{error}");
        let wrong = timeout(&["x", "--leader-elect", "--leader-election-renew-deadline", "15"]);
        assert!(wrong.is_err(), "renew deadline must be below the lease");
    }

    #[test]
    fn leader_elect_works_as_a_bare_flag() {
        let p = Probe::try_parse_from(["x", "--leader-elect"]).expect("parses");
        assert!(p.common.leader_election.enabled);
        let p = Probe::try_parse_from(["x", "--leader-elect=false"]).expect("parses");
        assert!(!p.common.leader_election.enabled);
    }
}
