//! Start-up check that the CRDs a binary needs are installed and established. Reads CRDs only.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

/// A CRD that is missing or not yet usable, with the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error(
        "CRD {name} is not installed: run `kubectl apply -f deploy/crds/{name}.yaml` (or install the {chart} Helm chart)"
    )]
    Missing { name: String, chart: &'static str },
    #[error("CRD {name} is installed but not established yet; check `kubectl get crd {name} -o yaml`")]
    NotEstablished { name: String },
    #[error("failed to read CRD {name}")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// How long a CRD that exists may take to become established (right after `kubectl apply`).
const ESTABLISH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Checks that the CRD `name` exists and is established, giving a just-created CRD a moment to become
/// established. `chart` names the Helm chart that ships it.
pub async fn require(client: &Client, name: &str, chart: &'static str) -> Result<(), CrdError> {
    let deadline = tokio::time::Instant::now() + ESTABLISH_WAIT;
    loop {
        match check(client, name, chart).await {
            Err(CrdError::NotEstablished { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            outcome => return outcome,
        }
    }
}

async fn check(client: &Client, name: &str, chart: &'static str) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = match api.get_opt(name).await {
        Ok(Some(crd)) => crd,
        Ok(None) => {
            return Err(CrdError::Missing {
                name: name.to_string(),
                chart,
            });
        }
        Err(source) => {
            return Err(CrdError::Api {
                name: name.to_string(),
                source,
            });
        }
    };
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    if established {
        Ok(())
    } else {
        Err(CrdError::NotEstablished {
            name: name.to_string(),
        })
    }
}
