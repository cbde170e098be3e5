//! The fixtures' WasmCloudHostConfigs (ours and the old operator's examples) and the inputs a reconcile
//! would resolve for them: shared by host-operator/tests/host_cli_contract.rs and, included by path, by
//! tests/tests/host_cli_real.rs. Reads the fixture files only.

use std::path::Path;

use serde::Deserialize as _;
use wasmcloud_host_operator::inputs::{Authority, AuthoritySource, Inputs};
use wasmcloud_operator_types::WasmCloudHostConfig;

/// Every WasmCloudHostConfig in the fixtures under `repo_root`, by file, in namespace `east` with a UID.
pub fn fixtures(repo_root: &Path) -> Vec<(String, WasmCloudHostConfig)> {
    let root = repo_root.join("operator-types/tests/fixtures");
    let mut found = Vec::new();
    for dir in ["ours", "old-operator"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("fixture");
            for document in serde_yaml::Deserializer::from_str(&text) {
                let value = serde_yaml::Value::deserialize(document).expect("yaml");
                if value.get("kind").and_then(serde_yaml::Value::as_str) != Some("WasmCloudHostConfig") {
                    continue;
                }
                let mut whc: WasmCloudHostConfig = serde_yaml::from_value(value).expect("host config");
                whc.metadata.namespace.get_or_insert_with(|| "east".into());
                whc.metadata.uid = Some("5d1c7a57-0000-4000-8000-000000000001".into());
                found.push((path.display().to_string(), whc));
            }
        }
    }
    assert!(
        found.len() >= 3,
        "fixtures: {found:?}",
        found = found.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    found
}

/// Inputs with NATS credentials and, with `with_ca`, one certificate authority.
pub fn inputs(with_ca: bool) -> Inputs {
    Inputs {
        nats_creds: true,
        authorities: if with_ca {
            vec![Authority {
                volume: "corp-ca".into(),
                source: AuthoritySource::Secret("corp-ca".into()),
                crt_keys: vec!["ca.crt".into()],
            }]
        } else {
            Vec::new()
        },
        checksum: "0123456789abcdef".into(),
        ..Inputs::default()
    }
}
