//! A fresh namespace per test, and on failure a dump of what a person would look at: the objects and
//! Events in it and the tail of every component log; afterwards the namespace is deleted and, for a test
//! that passed, must be gone in time. Touches only the test's namespace.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::contract::APPLICATION_FINALIZER;

use crate::env::TestEnv;
use crate::process::OperatorProcess;

/// What a test gets: the environment, an admin client and its own namespace.
#[derive(Clone)]
pub struct TestContext {
    pub env: TestEnv,
    pub client: Client,
    pub namespace: String,
}

impl TestContext {
    /// Labels the test namespace so that Pod Security Admission enforces "restricted" and warns about
    /// workload templates that break it.
    pub async fn enforce_restricted(&self) -> anyhow::Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let labels = serde_json::json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }}});
        namespaces
            .patch(&self.namespace, &PatchParams::default(), &Patch::Merge(&labels))
            .await?;
        Ok(())
    }
}

impl std::fmt::Debug for TestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestContext")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Runs `test` in a new namespace named after `prefix`; dumps the namespace and logs if it fails, and
/// deletes the namespace either way. After a test that passed, the namespace must finish deleting within
/// [`DELETION_TIMEOUT`] (a stuck finalizer fails the test); Applications left behind get a bridge of
/// their own for that, as a cluster would have one running.
pub async fn with_namespace<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(TestContext) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let env = TestEnv::get();
    let client = env.admin_client().await.expect("admin client");
    env.ensure_crds(&client).await.expect("CRDs installed");
    let namespace = format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &object)
        .await
        .expect("namespace created");
    let context = TestContext {
        env: env.clone(),
        client,
        namespace: namespace.clone(),
    };

    // Boxed: test bodies hold large Kubernetes types, and an unboxed future lives on the thread's stack.
    let outcome = AssertUnwindSafe(Box::pin(test(context))).catch_unwind().await;
    let failed = !matches!(outcome, Ok(Ok(())));
    if failed {
        dump(&env, &namespace);
    }
    let deletion = if failed {
        let _ = namespaces.delete(&namespace, &DeleteParams::background()).await;
        Ok(())
    } else {
        delete_and_wait(&env, &namespaces, &namespace).await
    };
    // The reason goes last, after the dump, and without a second backtrace, so that the tail of a long CI
    // log says why the test failed.
    match outcome {
        Ok(Ok(())) => {
            if let Err(stuck) = deletion {
                dump(&env, &namespace);
                let reason = format!(
                    "test in namespace {namespace} passed, but the namespace did not finish deleting: {stuck}"
                );
                eprintln!("{reason}");
                std::panic::resume_unwind(Box::new(reason))
            }
        }
        Ok(Err(error)) => {
            let reason = format!("test in namespace {namespace} failed: {error:#}");
            eprintln!("{reason}");
            std::panic::resume_unwind(Box::new(reason))
        }
        Err(panic) => {
            eprintln!(
                "test in namespace {namespace} panicked: {}",
                panic_message(&*panic)
            );
            std::panic::resume_unwind(panic)
        }
    }
}

/// How long a passed test's namespace may take to go (pods on the real node stop within their grace).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// Deletes the namespace and waits until it is gone; names what still holds it when it is not.
async fn delete_and_wait(env: &TestEnv, namespaces: &Api<Namespace>, namespace: &str) -> Result<(), String> {
    let client = namespaces.clone().into_client();
    let apps: Api<Application> = Api::namespaced(client.clone(), namespace);
    let left = apps
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    // The test's own bridge has stopped; the Applications' finalizer needs one, as in a cluster.
    let finalized = left
        .items
        .iter()
        .any(|a| a.finalizers().iter().any(|f| f == APPLICATION_FINALIZER));
    let _bridge = if finalized {
        Some(
            OperatorProcess::start(
                env,
                "wasmcloud-app-status-bridge",
                &env.kubeconfig,
                &["--namespace", namespace],
            )
            .await
            .map_err(|e| format!("starting a bridge for the Applications' finalizer: {e}"))?,
        )
    } else {
        None
    };
    namespaces
        .delete(namespace, &DeleteParams::background())
        .await
        .map_err(|e| e.to_string())?;
    if crate::wait::until_gone(namespaces, namespace, DELETION_TIMEOUT)
        .await
        .is_ok()
    {
        return Ok(());
    }
    let holding: Vec<String> = apps
        .list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .map(|a| format!("Application {} (finalizers {:?})", a.name_any(), a.finalizers()))
                .collect()
        })
        .unwrap_or_default();
    Err(format!(
        "still there after {DELETION_TIMEOUT:?}; holding it: {holding:?}"
    ))
}

/// The text a panic was raised with (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a text)")
}

/// Prints the namespace's objects and Events and the tail of the environment's logs and of the binaries
/// this test process started.
pub fn dump(env: &TestEnv, namespace: &str) {
    eprintln!("==== objects in {namespace}");
    let kinds =
        "all,wasmcloudhostconfigs,applications,configmaps,serviceaccounts,roles,rolebindings,endpointslices";
    run_and_print(env.kubectl().args(["get", kinds, "-n", namespace, "-o", "wide"]));
    run_and_print(env.kubectl().args([
        "get",
        "wasmcloudhostconfigs,applications",
        "-n",
        namespace,
        "-o",
        "yaml",
    ]));
    eprintln!("==== events in {namespace}");
    run_and_print(
        env.kubectl()
            .args(["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"]),
    );
    let Ok(logs) = std::fs::read_dir(env.dir.join("logs")) else {
        return;
    };
    // The control plane's own logs (and the API server's audit log) are long and rarely the story; they
    // stay on disk in logs/.
    let control_plane = [
        "audit.log",
        "etcd.log",
        "kube-apiserver.log",
        "kube-controller-manager.log",
        "kube-scheduler.log",
    ];
    // The binaries' logs are named `<binary>-<test process id>-<serial>.log`; other test processes' are
    // not this failure's.
    let this_process = format!("-{}-", std::process::id());
    let relevant = |name: &str| {
        !control_plane.contains(&name) && (!name.starts_with("wasmcloud-") || name.contains(&this_process))
    };
    for log in logs
        .flatten()
        .filter(|l| relevant(&l.file_name().to_string_lossy()))
    {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        eprintln!("==== last {} lines of {}", tail.len(), log.path().display());
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
}

fn run_and_print(command: &mut std::process::Command) {
    match command.output() {
        Ok(output) => {
            eprintln!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Err(error) => eprintln!("(could not run {command:?}: {error})"),
    }
}
