//! Start-up check that `core.oam.dev` is ours to serve: KubeVela also defines applications.core.oam.dev,
//! and the old wasmCloud operator served core.oam.dev/v1beta1 through an aggregated APIService. Either
//! would fight the bridge over the same objects, so it refuses to start and says what it found. Reads
//! one CRD and one APIService.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::{Api, Client};
use wasmcloud_operator_types::crds::OWNER_LABEL;

const CRD: &str = "applications.core.oam.dev";
const API_SERVICE: &str = "v1beta1.core.oam.dev";

/// Another owner of the group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Clash {
    #[error(
        "CRD {CRD} was not installed by this project (it lacks the label {}={}); KubeVela defines the same \
         CRD. Run the bridge in a cluster without KubeVela, or install our CRD from deploy/crds",
        OWNER_LABEL.0,
        OWNER_LABEL.1
    )]
    ForeignCrd,
    #[error(
        "APIService {API_SERVICE} sends core.oam.dev/v1beta1 to the Service {0} (the old wasmCloud operator's \
         aggregated API); remove it with `kubectl delete apiservice {API_SERVICE}` before starting the bridge"
    )]
    AggregatedApi(String),
}

/// Decides from what the cluster holds. Pure.
pub fn clash(crd: Option<&CustomResourceDefinition>, api_service: Option<&APIService>) -> Option<Clash> {
    if let Some(service) = api_service
        .and_then(|a| a.spec.as_ref())
        .and_then(|s| s.service.as_ref())
    {
        let namespace = service.namespace.clone().unwrap_or_default();
        let name = service.name.clone().unwrap_or_default();
        return Some(Clash::AggregatedApi(format!("{namespace}/{name}")));
    }
    let ours = crd.is_some_and(|crd| {
        crd.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL.0))
            .map(String::as_str)
            == Some(OWNER_LABEL.1)
    });
    if crd.is_some() && !ours {
        Some(Clash::ForeignCrd)
    } else {
        None
    }
}

/// Reads the CRD and the APIService and fails on a clash.
pub async fn check(client: &Client) -> anyhow::Result<()> {
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get_opt(CRD)
        .await?;
    let api_service = Api::<APIService>::all(client.clone())
        .get_opt(API_SERVICE)
        .await?;
    match clash(crd.as_ref(), api_service.as_ref()) {
        Some(clash) => Err(clash.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(labels: &serde_json::Value) -> CustomResourceDefinition {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": CRD, "labels": labels},
            "spec": {"group": "core.oam.dev", "names": {"kind": "Application", "plural": "applications"},
                     "scope": "Namespaced", "versions": []}
        }))
        .expect("crd")
    }

    fn api_service(service: &serde_json::Value) -> APIService {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": API_SERVICE},
            "spec": {"group": "core.oam.dev", "version": "v1beta1", "groupPriorityMinimum": 1000,
                     "versionPriority": 15, "service": service}
        }))
        .expect("api service")
    }

    #[test]
    fn our_crd_with_the_local_api_service_is_fine() {
        let ours = crd(&serde_json::json!({"app.kubernetes.io/part-of": "wasmcloud-operator"}));
        // The API server registers a local APIService (no Service) for every CRD group.
        assert_eq!(
            clash(Some(&ours), Some(&api_service(&serde_json::Value::Null))),
            None
        );
        assert_eq!(clash(None, None), None);
    }

    #[test]
    fn kubevela_crd_or_the_old_aggregated_api_is_a_clash() {
        let kubevela = crd(&serde_json::json!({"app.kubernetes.io/name": "vela-core"}));
        assert_eq!(clash(Some(&kubevela), None), Some(Clash::ForeignCrd));
        let old = api_service(&serde_json::json!({"namespace": "wasmcloud", "name": "wadm-operator"}));
        let clash = clash(None, Some(&old)).expect("clash");
        assert!(clash.to_string().contains("wasmcloud/wadm-operator"), "{clash}");
        assert!(
            clash
                .to_string()
                .contains("kubectl delete apiservice v1beta1.core.oam.dev")
        );
    }
}
