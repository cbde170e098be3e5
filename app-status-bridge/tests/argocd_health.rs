//! deploy/argocd/health.lua run the way Argo CD runs a health check from argocd-cm: Lua 5.1 with only the
//! base, package, table and os libraries (no string library, so no string methods either), `obj` set to
//! the live object, and a `{status, message}` table returned. Cases come from health_test.yaml, in Argo
//! CD's own layout.

use std::path::{Path, PathBuf};

use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table};

/// Argo CD's valid health statuses.
const STATUSES: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/argocd")
}

#[derive(serde::Deserialize)]
struct Cases {
    tests: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    #[serde(rename = "inputPath")]
    input_path: String,
    #[serde(rename = "healthStatus")]
    health: Expected,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Expected {
    status: String,
    message: String,
}

/// Runs the script against one object in a VM with Argo CD's restricted library set.
fn health_of(script: &str, object: &serde_json::Value) -> Expected {
    let lua = Lua::new_with(
        StdLib::PACKAGE | StdLib::TABLE | StdLib::OS,
        LuaOptions::default(),
    )
    .expect("restricted Lua VM");
    let options = mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let obj = lua.to_value_with(object, options).expect("object converts");
    lua.globals().set("obj", obj).expect("obj set");
    let result: Table = lua
        .load(script)
        .set_name("health.lua")
        .eval()
        .expect("script returns a table");
    Expected {
        status: result.get("status").expect("status"),
        message: result
            .get::<Option<String>>("message")
            .expect("message")
            .unwrap_or_default(),
    }
}

#[test]
fn every_phase_maps_to_the_intended_argo_cd_health() {
    let script = std::fs::read_to_string(argocd_dir().join("health.lua")).expect("health.lua");
    let cases: Cases =
        serde_yaml::from_str(&std::fs::read_to_string(argocd_dir().join("health_test.yaml")).expect("cases"))
            .expect("cases parse");
    assert_eq!(cases.tests.len(), 9);
    for case in cases.tests {
        let object: serde_json::Value = serde_yaml::from_str(
            &std::fs::read_to_string(argocd_dir().join(&case.input_path)).expect("input"),
        )
        .expect("input parses");
        let health = health_of(&script, &object);
        assert!(
            STATUSES.contains(&health.status.as_str()),
            "{}: invalid status {}",
            case.input_path,
            health.status
        );
        assert_eq!(health, case.health, "{}", case.input_path);
    }
}

#[test]
fn the_vm_really_lacks_the_string_library() {
    let lua = Lua::new_with(
        StdLib::PACKAGE | StdLib::TABLE | StdLib::OS,
        LuaOptions::default(),
    )
    .expect("vm");
    assert!(
        lua.load("return ('x'):lower()").eval::<String>().is_err(),
        "string methods must fail here"
    );
}

#[test]
fn the_argocd_cm_patch_carries_the_same_script() {
    let script = std::fs::read_to_string(argocd_dir().join("health.lua")).expect("health.lua");
    let patch: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(argocd_dir().join("argocd-cm-patch.yaml")).expect("patch"),
    )
    .expect("patch parses");
    let embedded = patch["data"]["resource.customizations.health.core.oam.dev_Application"]
        .as_str()
        .expect("key");
    assert_eq!(embedded, script);
}
