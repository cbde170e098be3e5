//! The host pods' `leaf-link` probe (`wasmcloud-host-operator leaf-link`) against real nats-servers on this
//! machine: a hub and a leaf soliciting it. `/readyz` answers 200 only while the leaf holds its connection to
//! the hub: 503 when the hub goes away, 200 again once the leaf has reconnected to the restarted hub, and 503
//! naming the monitor when the leaf itself is gone. Every server listens on a port it chose (`-1`); the tests
//! read the ports from the servers' own start-up lines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::process::{binary, http_get};
use wasmcloud_operator_tests::wait;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A process whose output goes to a file, killed when dropped.
struct Logged {
    child: Child,
    log: PathBuf,
}

impl Logged {
    fn start(program: &Path, args: &[&str], log: PathBuf) -> anyhow::Result<Self> {
        let file = std::fs::File::create(&log)?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child, log })
    }

    /// Waits for the line containing `marker` and returns the port at its end.
    async fn port_after(&self, marker: &str) -> anyhow::Result<u16> {
        let log = &self.log;
        wait::until(
            &format!("{marker:?} in {}", log.display()),
            TIMEOUT,
            || async move {
                let text = std::fs::read_to_string(log).map_err(|e| e.to_string())?;
                text.lines()
                    .filter_map(|line| line.split_once(marker))
                    .find_map(|(_, rest)| {
                        let address = rest.split_whitespace().next()?.trim_end_matches(',');
                        address.rsplit(':').next()?.parse().ok()
                    })
                    .ok_or_else(|| text.lines().last().unwrap_or_default().to_string())
            },
        )
        .await
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Starts a hub whose leafnode port is `leaf_port` (`-1`: any); returns it with the port it took.
async fn hub(env: &TestEnv, dir: &Path, leaf_port: &str) -> anyhow::Result<(Logged, u16)> {
    let config = dir.join("hub.conf");
    std::fs::write(
        &config,
        format!("listen: 127.0.0.1:-1\nleafnodes {{ listen: \"127.0.0.1:{leaf_port}\" }}\n"),
    )?;
    let hub = Logged::start(
        &env.tools_bin.join("nats-server"),
        &["-c", &config.display().to_string()],
        dir.join(format!("hub-{leaf_port}.log")),
    )?;
    let port = hub.port_after("Listening for leafnode connections on").await?;
    Ok((hub, port))
}

/// `GET /readyz` on the probe: the status and the body.
async fn readyz(probe: u16) -> Result<(u16, String), String> {
    http_get(probe, "/readyz").await.map_err(|e| e.to_string())
}

async fn until_readyz(probe: u16, what: &str, want: impl Fn(u16, &str) -> bool) -> anyhow::Result<String> {
    let want = &want;
    wait::until(what, TIMEOUT, || async move {
        match readyz(probe).await? {
            (status, body) if want(status, &body) => Ok(body),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await
}

#[tokio::test]
async fn leaf_link_is_ready_only_while_the_leaf_is_connected_to_the_hub() -> anyhow::Result<()> {
    let env = TestEnv::get();
    let dir = tempfile::tempdir()?;
    let (first_hub, leaf_port) = hub(&env, dir.path(), "-1").await?;

    let leaf_config = dir.path().join("leaf.conf");
    std::fs::write(
        &leaf_config,
        format!(
            "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nleafnodes {{ reconnect: \"1s\", remotes: [ {{ url: \"nats://127.0.0.1:{leaf_port}\" }} ] }}\n"
        ),
    )?;
    let leaf = Logged::start(
        &env.tools_bin.join("nats-server"),
        &["-c", &leaf_config.display().to_string()],
        dir.path().join("leaf.log"),
    )?;
    let monitor = leaf.port_after("Starting http monitor on").await?;

    let probe = Logged::start(
        &binary("wasmcloud-host-operator"),
        &[
            "leaf-link",
            "--listen",
            "127.0.0.1:0",
            "--monitor",
            &format!("127.0.0.1:{monitor}"),
        ],
        dir.path().join("leaf-link.log"),
    )?;
    let probe_port = probe.port_after("listening on").await?;

    let body = until_readyz(probe_port, "ready while linked", |status, _| status == 200).await?;
    assert!(body.contains("1 connection"), "{body}");
    let (status, body) = http_get(probe_port, "/livez").await?;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    first_hub.stop().await?;
    let body = until_readyz(probe_port, "not ready without the hub", |status, _| status == 503).await?;
    assert!(body.contains("no connection to the hub"), "{body}");

    let (_second_hub, _) = hub(&env, dir.path(), &leaf_port.to_string()).await?;
    until_readyz(
        probe_port,
        "ready again once the leaf reconnected",
        |status, _| status == 200,
    )
    .await?;

    leaf.stop().await?;
    let body = until_readyz(probe_port, "not ready without the leaf", |status, _| {
        status == 503
    })
    .await?;
    assert!(
        body.contains(&format!("127.0.0.1:{monitor} does not answer")),
        "{body}"
    );
    let (status, _) = http_get(probe_port, "/metrics").await?;
    assert_eq!(status, 404, "only /readyz and /livez");
    drop(probe);
    Ok(())
}
