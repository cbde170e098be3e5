//! A real wadm on a real NATS drives applications on simulated hosts (the lattice-host simulator is a
//! test double): deploy reaches Deployed, spreads honour host labels, and losing the hosts is noticed.

use std::time::Duration;

use serde_json::Value;
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::lattice_sim::SimulatedLattice;
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;

const SETTLE: Duration = Duration::from_secs(30);

fn unique_lattice(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

fn wadm_example(file: &str) -> String {
    std::fs::read_to_string(
        TestEnv::repo_root()
            .join("operator-types/tests/fixtures/wadm-oam")
            .join(file),
    )
    .expect("fixture")
}

async fn wait_for_status(wadm: &WadmApi, app: &str, want: &'static str) -> anyhow::Result<()> {
    wait::until(&format!("{app} to be {want}"), SETTLE, || async move {
        match wadm.status_type(app).await {
            Ok(status) if status == want => Ok(()),
            Ok(status) => Err(status),
            Err(error) => Err(error.to_string()),
        }
    })
    .await
}

#[tokio::test]
async fn application_lifecycle_put_deploy_status_undeploy_delete() -> anyhow::Result<()> {
    let env = TestEnv::get();
    let nats = env.nats().await?;
    let lattice = unique_lattice("life");
    let wadm = WadmApi::new(nats.clone(), &lattice);
    let simulated = SimulatedLattice::start(nats.clone(), &lattice).await?;
    let host = simulated.start_host("host-a", &[]).await?;

    let put = wadm.put(&wadm_example("echo.yaml")).await?;
    assert_eq!(put["result"], "created", "{put}");
    let deployed = wadm.deploy("echo", None).await?;
    assert_eq!(deployed["result"], "acknowledged", "{deployed}");
    wait_for_status(&wadm, "echo", "deployed").await?;
    let (components, providers) = host.running();
    assert_eq!(components, vec!["echo-echo".to_string()]);
    assert_eq!(providers, vec!["echo-httpserver".to_string()]);

    // Undeploy takes everything off the host; deploying again puts it back.
    let undeployed = wadm.undeploy("echo").await?;
    assert_eq!(undeployed["result"], "acknowledged", "{undeployed}");
    wait_for_status(&wadm, "echo", "undeployed").await?;
    wait::until("the host to be empty", SETTLE, || async {
        match host.running() {
            (c, p) if c.is_empty() && p.is_empty() => Ok(()),
            running => Err(format!("{running:?}")),
        }
    })
    .await?;
    wadm.deploy("echo", None).await?;
    wait_for_status(&wadm, "echo", "deployed").await?;

    // The hosts go away: the application is no longer deployed.
    host.stop().await?;
    wait::until("echo to leave deployed", SETTLE, || async {
        match wadm.status_type("echo").await {
            Ok(status) if status != "deployed" => Ok(status),
            Ok(status) => Err(status),
            Err(error) => Err(error.to_string()),
        }
    })
    .await?;

    let undeployed = wadm.undeploy("echo").await?;
    assert_eq!(undeployed["result"], "acknowledged", "{undeployed}");
    wait_for_status(&wadm, "echo", "undeployed").await?;
    let deleted = wadm.delete("echo").await?;
    assert_eq!(deleted["result"], "deleted", "{deleted}");
    let list = wadm.list().await?;
    let names: Vec<&str> = list["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(!names.contains(&"echo"), "{list}");
    drop(simulated);
    Ok(())
}

#[tokio::test]
async fn spread_requirements_place_components_only_on_matching_hosts() -> anyhow::Result<()> {
    let env = TestEnv::get();
    let nats = env.nats().await?;
    let lattice = unique_lattice("spread");
    let wadm = WadmApi::new(nats.clone(), &lattice);
    let simulated = SimulatedLattice::start(nats.clone(), &lattice).await?;
    let east = simulated.start_host("east", &[("zone", "east")]).await?;
    let west = simulated.start_host("west", &[("zone", "west")]).await?;

    let manifest = r"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: eastern
  annotations:
    version: v0.1.0
spec:
  components:
    - name: greeter
      type: component
      properties:
        image: registry.invalid/greeter:1
      traits:
        - type: spreadscaler
          properties:
            instances: 2
            spread:
              - name: east-only
                requirements:
                  zone: east
";
    let put: Value = wadm.put(manifest).await?;
    assert_eq!(put["result"], "created", "{put}");
    wadm.deploy("eastern", Some("v0.1.0")).await?;
    wait_for_status(&wadm, "eastern", "deployed").await?;
    assert_eq!(east.running().0, vec!["eastern-greeter".to_string()]);
    assert!(west.running().0.is_empty(), "the west host must run nothing");
    wadm.delete("eastern").await?;
    Ok(())
}
