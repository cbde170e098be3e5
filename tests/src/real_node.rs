//! The local environment's real node (tests/env/real-node.sh): whether it runs, the operator images built
//! into it, where a chart's pods must be told to go, and what the kernel says about a container's process.
//! Builds images only through env.sh; reads /proc and the node's containerd, changes nothing but a kill.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::env::TestEnv;
use crate::process::binary;

/// The taint that keeps every pod but those that tolerate it off the real node.
pub const TAINT: &str = "wasmcloud.dev/real-node";
/// The node label (`type`) that tells the real node from kwok's (`type=kwok`).
pub const NODE_TYPE: &str = "real";
/// Where the hub NATS is for a pod (the `nats` Service in default, the old operator's default address).
pub const HUB_NATS_URL: &str = "nats://nats.default.svc.cluster.local:4222";

static IMAGES: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

/// The real node of the running environment.
#[derive(Clone, Debug)]
pub struct RealNode {
    pub name: String,
    /// This machine's address on the pod network: pods reach a server of the test's there.
    pub gateway: String,
    containerd: PathBuf,
    env: TestEnv,
}

/// What the kernel says about a container's main process.
#[derive(Debug, PartialEq, Eq)]
pub struct ProcessFacts {
    pub uid: u32,
    pub effective_capabilities: u64,
    pub no_new_privileges: bool,
    pub root_read_only: bool,
}

impl RealNode {
    /// The real node, or the reason `env.sh up` recorded for running without one (the test fails with it:
    /// a machine that cannot run pods does not pass these tests silently).
    pub fn get(env: &TestEnv) -> anyhow::Result<Self> {
        let unavailable = std::env::var("REAL_NODE_UNAVAILABLE").unwrap_or_default();
        anyhow::ensure!(
            unavailable.is_empty(),
            "this test needs the local environment's real node: {unavailable}"
        );
        let var = |name: &str| {
            std::env::var(name)
                .map_err(|_| anyhow::anyhow!("{name} is not set: the environment predates the real node"))
        };
        Ok(Self {
            name: var("REAL_NODE_NAME")?,
            gateway: var("REAL_NODE_GATEWAY")?,
            containerd: PathBuf::from(var("REAL_NODE_CONTAINERD")?),
            env: env.clone(),
        })
    }

    /// `helm --set` arguments that put a chart's pods on the real node (its toleration and node label).
    pub fn helm_placement() -> Vec<String> {
        [
            format!("tolerations[0].key={TAINT}"),
            "tolerations[0].operator=Exists".to_string(),
            "tolerations[0].effect=NoSchedule".to_string(),
            format!("nodeSelector.type={NODE_TYPE}"),
        ]
        .into_iter()
        .flat_map(|value| ["--set".to_string(), value])
        .collect()
    }

    /// The leaf image the environment built from the pinned nats-server (for `natsLeafImage`).
    pub fn nats_leaf_image() -> anyhow::Result<String> {
        std::env::var("REAL_NODE_NATS_IMAGE").map_err(|_| anyhow::anyhow!("REAL_NODE_NATS_IMAGE is not set"))
    }

    /// The real wasmCloud host image the environment built (tests/host-runner: the crates.io host runtime
    /// behind the 1.9.x command line; its tag starts with that version), for `image` of a host config.
    pub fn wasmcloud_host_image() -> anyhow::Result<String> {
        std::env::var("REAL_NODE_HOST_IMAGE")
            .ok()
            .filter(|image| !image.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("REAL_NODE_HOST_IMAGE is not set: the environment predates real hosts")
            })
    }

    /// The wasi:http component inside the host image (tests/http-hello), as a `file://` reference.
    pub fn http_component() -> anyhow::Result<String> {
        std::env::var("REAL_NODE_HTTP_COMPONENT")
            .map_err(|_| anyhow::anyhow!("REAL_NODE_HTTP_COMPONENT is not set"))
    }

    /// The lattice-host simulator (TEST DOUBLE) as a host image (`image` of a host config), built by
    /// `env.sh simulated-host-image` with `tag` (once per tag and test process).
    pub fn simulated_host_image(&self, tag: &str) -> anyhow::Result<String> {
        let key = format!("simulated-host:{tag}");
        let mut built = IMAGES
            .lock()
            .map_err(|_| anyhow::anyhow!("image cache poisoned"))?;
        if let Some(refs) = built.get(&key) {
            return Ok(refs[0].clone());
        }
        let reference = self.env_sh("simulated-host-image", tag)?;
        built.insert(key, vec![reference.trim().to_string()]);
        Ok(reference.trim().to_string())
    }

    fn env_sh(&self, action: &str, tag: &str) -> anyhow::Result<String> {
        let bin_dir = binary("wasmcloud-host-operator")
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let output = Command::new(TestEnv::repo_root().join("tests/env/env.sh"))
            .args([action, &self.env.dir.display().to_string()])
            .env("OPERATOR_BIN_DIR", &bin_dir)
            .env("OPERATOR_IMAGE_TAG", tag)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "env.sh {action}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The three operator images, built from this run's binaries by `env.sh operator-images` with `tag`
    /// and imported into the node (once per tag and test process). Returns image references.
    pub fn operator_images(&self, tag: &str) -> anyhow::Result<Vec<String>> {
        let mut built = IMAGES
            .lock()
            .map_err(|_| anyhow::anyhow!("image cache poisoned"))?;
        if let Some(refs) = built.get(tag) {
            return Ok(refs.clone());
        }
        let refs: Vec<String> = self
            .env_sh("operator-images", tag)?
            .lines()
            .map(str::to_string)
            .collect();
        built.insert(tag.to_string(), refs.clone());
        Ok(refs)
    }

    fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command.args([
            "--address",
            &self.containerd.display().to_string(),
            "-n",
            "k8s.io",
        ]);
        command
    }

    /// The host PID of a container's main process; `container_id` as in a pod's status
    /// (`containerd://…`) or bare.
    pub fn container_pid(&self, container_id: &str) -> anyhow::Result<u32> {
        let id = container_id.trim_start_matches("containerd://");
        let output = self.ctr().args(["tasks", "ls"]).output()?;
        let listing = String::from_utf8_lossy(&output.stdout);
        listing
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((
                    fields.next()?,
                    fields.next()?.parse::<u32>().ok()?,
                    fields.next()?,
                ))
            })
            .find(|(task, _, status)| *task == id && *status == "RUNNING")
            .map(|(_, pid, _)| pid)
            .ok_or_else(|| anyhow::anyhow!("no running task {id} on the real node:\n{listing}"))
    }

    /// Kills a container's main process with SIGKILL, as a crash would.
    pub fn kill_container(&self, container_id: &str) -> anyhow::Result<()> {
        let id = container_id.trim_start_matches("containerd://");
        let output = self.ctr().args(["tasks", "kill", "-s", "SIGKILL", id]).output()?;
        anyhow::ensure!(
            output.status.success(),
            "ctr tasks kill {id}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// Reads /proc for the container's main process.
    pub fn process_facts(&self, container_id: &str) -> anyhow::Result<ProcessFacts> {
        let pid = self.container_pid(container_id)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<&str> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
                .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/status has no {name}"))
        };
        let uid = field("Uid:")?
            .split_whitespace()
            .nth(1) // the effective UID
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("unreadable Uid line in /proc/{pid}/status"))?;
        let effective_capabilities = u64::from_str_radix(field("CapEff:")?, 16)?;
        let no_new_privileges = field("NoNewPrivs:")? == "1";
        let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
        // Fields: id parent major:minor root mount-point options ...; the container's root is "/".
        let root_read_only = mountinfo
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .rfind(|fields| fields.get(4) == Some(&"/"))
            .is_some_and(|fields| {
                fields
                    .get(5)
                    .is_some_and(|options| options.split(',').any(|o| o == "ro"))
            });
        Ok(ProcessFacts {
            uid,
            effective_capabilities,
            no_new_privileges,
            root_read_only,
        })
    }
}

/// A NATS user credentials file (a user JWT signed by a fresh account key, and the user's seed) as
/// nats-server reads it for a leaf remote. The environment's hub asks for no authentication, so any
/// well-formed file connects; what a test checks is which file the running leaf has.
pub fn nats_user_creds(name: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let claims = serde_json::json!({
        "jti": format!("{:032x}", rand::random::<u128>()), "iat": now, "iss": account.public_key(),
        "name": name, "sub": user.public_key(),
        "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2},
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = account
        .sign(signed.as_bytes())
        .map_err(|e| anyhow::anyhow!("signing the JWT: {e}"))?;
    let seed = user.seed().map_err(|e| anyhow::anyhow!("the user seed: {e}"))?;
    Ok(format!(
        "-----BEGIN NATS USER JWT-----\n{signed}.{}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

impl RealNode {
    /// A file inside a running container, read through its main process's root (as root, from outside).
    pub fn read_container_file(&self, container_id: &str, path: &str) -> anyhow::Result<String> {
        let pid = self.container_pid(container_id)?;
        let inside = format!("/proc/{pid}/root/{}", path.trim_start_matches('/'));
        std::fs::read_to_string(&inside)
            .map_err(|e| anyhow::anyhow!("reading {path} in container {container_id}: {e}"))
    }
}

/// Waits until the hub whose monitor listens on 127.0.0.1:`monitor_port` lists, on its /leafz, a leaf
/// connection from `ip` (a host pod's leaf).
pub async fn hub_lists_leaf(monitor_port: u16, ip: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    crate::wait::until(
        &format!("the hub's /leafz to list {ip}"),
        timeout,
        || async move {
            let (_, body) = crate::process::http_get(monitor_port, "/leafz")
                .await
                .map_err(|e| e.to_string())?;
            let leafz: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let listed = leafz["leafs"]
                .as_array()
                .is_some_and(|leafs| leafs.iter().any(|l| l["ip"] == ip));
            if listed { Ok(()) } else { Err(body) }
        },
    )
    .await
}
