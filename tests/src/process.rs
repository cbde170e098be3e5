//! The product's binaries as local processes against the environment, with their logs kept beside the
//! environment's (so a failing test's dump shows them). Touches only the processes it starts.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::env::TestEnv;
use crate::wait;

/// A running product binary; killed when dropped. Its pid is also recorded in the environment's pids/,
/// so `env.sh down` stops it even if the test process dies without running destructors.
#[derive(Debug)]
pub struct OperatorProcess {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    pub probe_port: u16,
    pub metrics_port: u16,
    pid_file: Option<PathBuf>,
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if let Some(pid_file) = &self.pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
    }
}

/// Path of a workspace binary built by `cargo build` (the Makefile builds them before the tests), or
/// in `WASMCLOUD_OPERATOR_BIN_DIR` when set (`make bench` runs release builds).
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| TestEnv::repo_root().join("target"), PathBuf::from);
    let dir =
        std::env::var_os("WASMCLOUD_OPERATOR_BIN_DIR").map_or_else(|| target.join("debug"), PathBuf::from);
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

impl OperatorProcess {
    /// Starts `name` with `args` against the environment's API server. Its admin server binds port 0
    /// (metrics and probes on one listener) and the ports it got are read from its start-up log line, so
    /// no other process can take them between choosing and binding. Returns once they are known, or with
    /// ports 0 if the process exits first (for tests of failing start-ups).
    pub async fn start(
        env: &TestEnv,
        name: &str,
        kubeconfig: &std::path::Path,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let serial = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = env
            .dir
            .join("logs")
            .join(format!("{name}-{}-{serial}.log", std::process::id()));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(binary(name))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("NATS_URL", &env.nats_url)
            .env("LOG_LEVEL", "info")
            .env("HEALTH_PROBE_BIND_ADDRESS", ANY_PORT)
            .env("METRICS_BIND_ADDRESS", ANY_PORT)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()?;
        let pid_file = child
            .id()
            .map(|pid| env.dir.join("pids").join(format!("{name}-{pid}")));
        if let (Some(path), Some(pid)) = (&pid_file, child.id()) {
            std::fs::write(path, pid.to_string())?;
        }
        let mut process = Self {
            name: name.to_string(),
            child,
            log,
            probe_port: 0,
            metrics_port: 0,
            pid_file,
        };
        let port = process.admin_port().await?;
        (process.probe_port, process.metrics_port) = (port, port);
        Ok(process)
    }

    /// The admin port from the start-up log line, or 0 once the process has exited without one.
    async fn admin_port(&mut self) -> anyhow::Result<u16> {
        let deadline = tokio::time::Instant::now() + ADMIN_BIND_TIMEOUT;
        loop {
            if let Some(port) = admin_port_in(&self.log_text()) {
                return Ok(port);
            }
            if self.child.try_wait()?.is_some() {
                return Ok(0);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} did not report its admin server within {ADMIN_BIND_TIMEOUT:?}: {}",
                self.name,
                self.log_text()
            );
            // The line comes within milliseconds of the start; a short poll keeps starts quick.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends the signal `name` (`TERM`, `KILL`, `STOP`, ...) to the process.
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow::anyhow!("{} has no pid", self.name))?;
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
        Ok(())
    }

    /// Waits until /readyz answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let port = self.probe_port;
        let result = wait::until("readyz", timeout, || async move {
            match http_get(port, "/readyz").await {
                Ok((200, _)) => Ok(()),
                Ok((code, body)) => Err(format!("{code} {body}")),
                Err(error) => Err(error.to_string()),
            }
        })
        .await;
        if result.is_err()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            anyhow::bail!("{} exited with {status}: {}", self.name, self.log_text());
        }
        result
    }

    /// Waits until /readyz answers 503 naming the failing check `check` (e.g. `nats`).
    pub async fn wait_not_ready(&self, check: &str, timeout: Duration) -> anyhow::Result<()> {
        let port = self.probe_port;
        wait::until(
            &format!("{} to report {check} not ready", self.name),
            timeout,
            || async move {
                match http_get(port, "/readyz").await {
                    Ok((503, body)) if body.contains(check) => Ok(()),
                    Ok((code, body)) => Err(format!("{code} {body}")),
                    Err(error) => Err(error.to_string()),
                }
            },
        )
        .await
    }

    /// The /metrics text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(http_get(self.metrics_port, "/metrics").await?.1)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A minimal HTTP/1.1 GET on 127.0.0.1 (no client library needed for three admin endpoints).
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    http_get_at("127.0.0.1", port, path).await
}

/// The same GET on another address (a pod IP or a ClusterIP of the real node), within 5 s.
pub async fn http_get_at(host: &str, port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    // A stopped process still accepts connections (the kernel does): the whole exchange is bounded.
    tokio::time::timeout(Duration::from_secs(5), exchange(host, port, path))
        .await
        .map_err(|_| anyhow::anyhow!("GET {host}:{port}{path} got no answer within 5 s"))?
}

async fn exchange(host: &str, port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked { dechunk(body)? } else { body.to_string() };
    Ok((code, body))
}

/// The payload of a `Transfer-Encoding: chunked` body: hex size lines, each followed by that many bytes.
pub fn dechunk(mut rest: &str) -> anyhow::Result<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest
            .split_once("\r\n")
            .ok_or_else(|| anyhow::anyhow!("a chunked body without a size line"))?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16)?;
        if size == 0 {
            return Ok(body);
        }
        anyhow::ensure!(after.len() >= size + 2, "a chunk shorter than its size {size}");
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// What the binaries are told to bind: any free port, chosen by the kernel at bind time.
const ANY_PORT: &str = "127.0.0.1:0";

/// How long a binary may take to bind its admin server after it was spawned.
const ADMIN_BIND_TIMEOUT: Duration = Duration::from_secs(30);

/// The port in the binaries' "admin server listening" line, text (`probes=Some(127.0.0.1:N)`) or JSON
/// (`"probes":"Some(127.0.0.1:N)"`).
fn admin_port_in(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("admin server listening"))?;
    let after = &line[line.find("probes")?..];
    let digits: String = after[after.find("127.0.0.1:")? + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Kubernetes API write requests (create, update, patch, delete) counted in a /metrics text.
pub fn write_requests(metrics: &str) -> u64 {
    write_request_lines(metrics)
        .iter()
        // Counters print as integers.
        .filter_map(|line| line.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

/// The request-counter lines of write verbs in a /metrics text, for failure messages.
pub fn write_request_lines(metrics: &str) -> Vec<&str> {
    const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
    metrics
        .lines()
        .filter(|line| line.starts_with("rest_client_requests_total{"))
        .filter(|line| {
            WRITES
                .iter()
                .any(|verb| line.contains(&format!("verb=\"{verb}\"")))
        })
        .collect()
}

/// The value of the first sample whose line starts with `prefix` (name and labels), or 0.
pub fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// Starts `name` limited to the test's namespace (`--namespace`) and waits until it is ready.
pub async fn start_in_namespace(
    ctx: &crate::namespace::TestContext,
    name: &str,
) -> anyhow::Result<OperatorProcess> {
    start_in_namespace_with(ctx, name, &[]).await
}

/// [`start_in_namespace`] with more arguments.
pub async fn start_in_namespace_with(
    ctx: &crate::namespace::TestContext,
    name: &str,
    more: &[&str],
) -> anyhow::Result<OperatorProcess> {
    let mut args = vec!["--namespace", ctx.namespace.as_str()];
    args.extend_from_slice(more);
    let mut process = OperatorProcess::start(&ctx.env, name, &ctx.env.kubeconfig, &args).await?;
    process.wait_ready(Duration::from_secs(30)).await?;
    Ok(process)
}

/// Writes a kubeconfig that authenticates as the ServiceAccount `namespace/service_account` with a
/// TokenRequest token (valid for an hour), against the server and CA of the environment's kubeconfig, so a
/// binary runs with exactly the permissions its chart grants. Returns the file's path.
pub async fn service_account_kubeconfig(
    env: &TestEnv,
    client: &kube::Client,
    namespace: &str,
    service_account: &str,
) -> anyhow::Result<PathBuf> {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;

    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(service_account, &kube::api::PostParams::default(), &request)
        .await?
        .status
        .map(|s| s.token)
        .ok_or_else(|| anyhow::anyhow!("no token issued for {namespace}/{service_account}"))?;
    let admin: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&env.kubeconfig)?)?;
    let cluster = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": cluster["server"].as_str(),
            "certificate-authority-data": cluster["certificate-authority-data"].as_str(),
        }}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": service_account}}],
        "current-context": "local",
    });
    let path = env.dir.join(format!("kubeconfig-{namespace}-{service_account}"));
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::admin_port_in;

    #[test]
    fn reads_the_admin_port_from_text_and_json_start_up_lines() {
        let text = "2026-11-27T15:37:06Z  INFO wasmcloud_operator_types::runtime::admin: admin server listening \
                    metrics=Some(127.0.0.1:36299) probes=Some(127.0.0.1:38759)";
        assert_eq!(admin_port_in(text), Some(38759));
        let json = r#"{"level":"INFO","fields":{"message":"admin server listening","metrics":"Some(127.0.0.1:4001)","probes":"Some(127.0.0.1:4002)"}}"#;
        assert_eq!(admin_port_in(json), Some(4002));
        assert_eq!(admin_port_in("starting binary=x\n"), None);
        assert_eq!(
            admin_port_in("admin server listening metrics=None probes=None"),
            None
        );
    }
}
