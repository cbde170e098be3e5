//! The leaf configuration the host-operator writes, as nats-server itself reads it (`nats-server -t`): strings
//! are quoted with NATS' own escapes, so characters that JSON would escape differently still parse, and the
//! JSON escapes the old quoting produced would not.

use std::process::Command;

use wasmcloud_host_operator::build::leaf_config::{CA_BUNDLE_PATH, RemoteFiles, nats_conf, nats_quote};
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::pki::certificate_authority;
use wasmcloud_operator_types::WasmCloudHostConfigSpec;

fn nats_server_accepts(env: &TestEnv, config: &str) -> anyhow::Result<Result<(), String>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, config)?;
    let output = Command::new(env.tools_bin.join("nats-server"))
        .args(["-t", "-c"])
        .arg(&path)
        .output()?;
    Ok(if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

#[tokio::test]
async fn the_generated_leaf_config_parses_in_nats_server_with_odd_characters_in_its_strings()
-> anyhow::Result<()> {
    let env = TestEnv::get();
    let spec: WasmCloudHostConfigSpec = serde_json::from_value(serde_json::json!({
        "lattice": "blue", "version": "1.4.2", "leafNodeDomain": "le\"af\\\u{7}\u{1b}é$x",
    }))?;
    for creds in [false, true] {
        let config = nats_conf(
            &spec,
            RemoteFiles {
                creds,
                ca_bundle: false,
            },
        );
        nats_server_accepts(&env, &config)?
            .map_err(|e| anyhow::anyhow!("nats-server rejected\n{config}\n{e}"))?;
    }
    // What JSON quoting would have written for a control character is refused by NATS.
    let json = format!(
        "port: 4222\nserver_name: {}\n",
        serde_json::Value::String("a\u{7}".into())
    );
    assert!(
        nats_server_accepts(&env, &json)?.is_err(),
        "NATS refuses JSON's \\u escapes: {json}"
    );
    let ours = format!("port: 4222\nserver_name: {}\n", nats_quote("a\u{7}"));
    nats_server_accepts(&env, &ours)?.map_err(|e| anyhow::anyhow!("{ours}: {e}"))?;
    Ok(())
}

#[tokio::test]
async fn a_tls_remote_parses_with_and_without_the_authorities_bundle() -> anyhow::Result<()> {
    let env = TestEnv::get();
    let spec: WasmCloudHostConfigSpec = serde_json::from_value(serde_json::json!({
        "lattice": "blue", "version": "1.4.2", "natsAddress": "tls://hub.example.com",
    }))?;
    let dir = tempfile::tempdir()?;
    let cert = certificate_authority(dir.path())?;
    for ca_bundle in [false, true] {
        let config = nats_conf(
            &spec,
            RemoteFiles {
                creds: true,
                ca_bundle,
            },
        )
        // In a pod the bundle is mounted at CA_BUNDLE_PATH; here it is a file of this test.
        .replace(CA_BUNDLE_PATH, &cert.display().to_string());
        assert!(config.contains("tls {"), "{config}");
        nats_server_accepts(&env, &config)?
            .map_err(|e| anyhow::anyhow!("nats-server rejected\n{config}\n{e}"))?;
    }
    Ok(())
}
