//! The generated CRDs are structural (what the apiserver requires), bounded, and carry their CEL rules.
//! Pure: the same rules are exercised against a real API server in tests/.

use serde_json::Value;
use wasmcloud_operator_types::crds;

/// Walks a schema and returns the paths of nodes that break the structural-schema rules we rely on.
fn structural_problems(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(map) = node.as_object() else { return };
    let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !map.contains_key("type") && !preserves && !int_or_string {
        problems.push(format!("{path}: no type"));
    }
    let known = crds::KNOWN_FORMATS;
    if let Some(format) = map
        .get("format")
        .and_then(Value::as_str)
        .filter(|f| !known.contains(f))
    {
        problems.push(format!(
            "{path}: format {format} makes the API server warn on every apply"
        ));
    }
    for forbidden in ["$ref", "definitions", "$defs", "oneOf", "additionalItems"] {
        if map.contains_key(forbidden) {
            problems.push(format!("{path}: has {forbidden}"));
        }
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            structural_problems(child, &format!("{path}.{name}"), problems);
        }
    }
    if let Some(items) = map.get("items") {
        structural_problems(items, &format!("{path}[]"), problems);
    }
    if let Some(extra) = map.get("additionalProperties").filter(|v| v.is_object()) {
        structural_problems(extra, &format!("{path}{{}}"), problems);
    }
}

fn schema_of(index: usize) -> Value {
    let crd = &crds::all()[index].crd;
    serde_json::to_value(&crd.spec.versions[0].schema).expect("serializes")["openAPIV3Schema"].clone()
}

#[test]
fn generated_crds_are_structural() {
    for (index, generated) in crds::all().iter().enumerate() {
        let mut problems = Vec::new();
        structural_problems(&schema_of(index), generated.file_name, &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[test]
fn both_kinds_have_status_subresources_short_names_and_the_wasmcloud_category() {
    for generated in crds::all() {
        let version = &generated.crd.spec.versions[0];
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        assert!(
            generated
                .crd
                .spec
                .names
                .categories
                .as_deref()
                .unwrap_or_default()
                .contains(&"wasmcloud".into())
        );
        assert!(
            generated
                .crd
                .spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty())
        );
    }
}

#[test]
fn every_cel_rule_has_a_message_and_every_list_or_map_a_bound() {
    fn walk(node: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(map) = node.as_object() else { return };
        if let Some(rules) = map.get("x-kubernetes-validations").and_then(Value::as_array) {
            for rule in rules {
                if rule
                    .get("message")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    problems.push(format!("{path}: rule without message: {rule}"));
                }
            }
            let is_list = map.get("type") == Some(&Value::String("array".into()));
            if is_list && !map.contains_key("maxItems") {
                problems.push(format!("{path}: CEL over a list with no maxItems"));
            }
            let is_map = map.contains_key("additionalProperties");
            if is_map && !map.contains_key("maxProperties") {
                problems.push(format!("{path}: CEL over a map with no maxProperties"));
            }
        }
        for key in ["properties"] {
            if let Some(props) = map.get(key).and_then(Value::as_object) {
                for (name, child) in props {
                    walk(child, &format!("{path}.{name}"), problems);
                }
            }
        }
        if let Some(items) = map.get("items") {
            walk(items, &format!("{path}[]"), problems);
        }
    }
    for (index, generated) in crds::all().iter().enumerate() {
        let mut problems = Vec::new();
        walk(&schema_of(index), generated.file_name, &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[test]
fn host_config_crd_fits_a_client_side_kubectl_apply() {
    // kubectl apply (client side) stores the object in an annotation capped at 256 KiB.
    let json = serde_json::to_string(&crds::all()[0].crd).expect("serializes");
    assert!(json.len() < 200 * 1024, "CRD is {} bytes", json.len());
}

#[test]
fn printer_columns_are_the_ones_people_read() {
    let columns = |index: usize| -> Vec<String> {
        crds::all()[index].crd.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(columns(0), ["Lattice", "Mode", "Ready", "Apps", "Age"]);
    assert_eq!(columns(1), ["Phase", "Deployed Version", "Lattice", "Age"]);
}

#[test]
fn every_field_of_ours_is_described_for_kubectl_explain() {
    // Embedded Kubernetes types are documented by `kubectl explain pod.spec` etc.; their prose is
    // stripped to keep the CRD small.
    const EMBEDDED: [&str; 3] = [
        "podTemplateAdditions",
        "containerTemplateAdditions",
        "authorities",
    ];
    fn walk(node: &Value, path: &str, undescribed: &mut Vec<String>) {
        let Some(props) = node.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, child) in props {
            let here = format!("{path}.{name}");
            if child
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                undescribed.push(here.clone());
            }
            if !EMBEDDED.contains(&name.as_str()) && name != "metadata" {
                walk(child, &here, undescribed);
                if let Some(items) = child.get("items") {
                    walk(items, &format!("{here}[]"), undescribed);
                }
            }
        }
    }
    for index in 0..2 {
        let mut undescribed = Vec::new();
        let schema = schema_of(index);
        walk(&schema["properties"]["spec"], "spec", &mut undescribed);
        walk(&schema["properties"]["status"], "status", &mut undescribed);
        assert!(
            undescribed.is_empty(),
            "fields without a description: {undescribed:#?}"
        );
    }
}
