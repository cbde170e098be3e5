//! The CustomResourceDefinitions generated from the types, and the files they are written to.
//! Pure: no client.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{Application, WasmCloudHostConfig};

/// One generated CRD and the file name it is checked in under (in deploy/crds/ and the owning chart).
#[derive(Debug)]
pub struct GeneratedCrd {
    pub file_name: &'static str,
    pub crd: CustomResourceDefinition,
}

/// Every CRD the project defines.
pub fn all() -> Vec<GeneratedCrd> {
    vec![
        GeneratedCrd {
            file_name: "wasmcloudhostconfigs.k8s.wasmcloud.dev.yaml",
            crd: WasmCloudHostConfig::crd(),
        },
        GeneratedCrd {
            file_name: "applications.core.oam.dev.yaml",
            crd: Application::crd(),
        },
    ]
}

/// The name of the CRD that defines `K` (what `kubectl get crd` shows).
pub fn name_of<K: CustomResourceExt>() -> String {
    K::crd_name().to_string()
}
