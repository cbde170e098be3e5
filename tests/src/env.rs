//! The local environment as the tests see it: where it is (from `WASMCLOUD_TEST_ENV`, written by
//! tests/env/env.sh), and clients for its API server and NATS. Installs the project's CRDs once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::conditions;
use kube::{Api, Client, Config};
use tokio::sync::OnceCell;

use crate::wait;

/// The running local environment.
#[derive(Clone, Debug)]
pub struct TestEnv {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub nats_url: String,
    pub nats_monitor_url: String,
    pub tools_bin: PathBuf,
}

static CRDS_INSTALLED: OnceCell<()> = OnceCell::const_new();

impl TestEnv {
    /// The environment this test run was started in. Panics with the command to run when there is none.
    pub fn get() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: integration tests run inside the local environment. Use `make test` \
                     (or `make dev-up && source .dev/env` before `cargo test -p wasmcloud-operator-tests`)"
                )
            })
        };
        Self {
            dir: PathBuf::from(var("WASMCLOUD_TEST_ENV")),
            kubeconfig: PathBuf::from(var("KUBECONFIG")),
            nats_url: var("NATS_URL"),
            nats_monitor_url: var("NATS_MONITOR_URL"),
            tools_bin: PathBuf::from(var("TOOLS_BIN")),
        }
    }

    /// A cluster-admin client. Each test makes its own: clients must not outlive a test's runtime.
    pub async fn admin_client(&self) -> anyhow::Result<Client> {
        client_for(&self.kubeconfig).await
    }

    pub async fn nats(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(&self.nats_url).await?)
    }

    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(self.tools_bin.join("kubectl"));
        command.env("KUBECONFIG", &self.kubeconfig);
        command
    }

    pub fn helm(&self) -> Command {
        let mut command = Command::new(self.tools_bin.join("helm"));
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.dir.join("helm/cache"));
        command
            .env("HELM_CONFIG_HOME", self.dir.join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.join("helm/data"));
        command
    }

    /// Applies the generated CRDs (deploy/crds) once per test process and waits until they are served.
    pub async fn ensure_crds(&self, client: &Client) -> anyhow::Result<()> {
        CRDS_INSTALLED
            .get_or_try_init(|| async {
                let api: Api<CustomResourceDefinition> = Api::all(client.clone());
                for generated in wasmcloud_operator_types::crds::all() {
                    let name = generated.crd.metadata.name.clone().unwrap_or_default();
                    let params = PatchParams::apply("wasmcloud-operator-tests").force();
                    api.patch(&name, &params, &Patch::Apply(&generated.crd)).await?;
                    wait::for_object(
                        &api,
                        &name,
                        Duration::from_secs(30),
                        conditions::is_crd_established(),
                    )
                    .await?;
                }
                anyhow::Ok(())
            })
            .await?;
        Ok(())
    }

    /// Runs an `env.sh` action on the environment: `nats-stop`/`nats-start` (same port and store) or
    /// `apiserver-stop`/`apiserver-start`, for tests of what happens while a component is away. Every
    /// other test in the same test binary loses it too, so such tests live in binaries of their own.
    pub fn env_action(&self, action: &str) -> anyhow::Result<()> {
        let script = Self::repo_root().join("tests/env/env.sh");
        let output = Command::new(script)
            .args([action, &self.dir.display().to_string()])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "env.sh {action}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// The repository root (for fixtures, charts and built binaries).
    pub fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// A client for a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}
