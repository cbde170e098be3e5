//! Hand-written pieces of the CRD schemas that derive can't express: bounds, list-map markers, CEL
//! rules with messages. Pure functions of a schema generator.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A Kubernetes object name in the same namespace (DNS subdomain).
pub fn object_name(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 253,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",
            "message": "must be the name of an object in this namespace (lowercase letters, digits, '-' and '.')"
        }]
    })
}

/// A TCP port.
pub fn port(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "integer",
        "format": "int32",
        "minimum": 1,
        "maximum": 65535
    })
}

/// A short list of short strings.
pub fn string_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 64,
        "items": {"type": "string", "minLength": 1, "maxLength": 253}
    })
}

/// A list of conditions, merged by type.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let item = Condition::json_schema(generator);
    json_schema!({
        "type": "array",
        "maxItems": 16,
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"]
    })
}

/// An object whose content is free-form (kept by the apiserver as written).
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Removes the top-level `required` list, for "additions" that are merged into operator-built objects.
pub fn drop_required(schema: &mut Schema) {
    schema.remove("required");
}

/// Removes every `description` below the top of an embedded Kubernetes type (PodSpec, Container,
/// Volume): `kubectl explain` documents those types already, and their prose would make the CRD too
/// large for a client-side `kubectl apply`.
pub fn strip_nested_descriptions(schema: &mut Schema) {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("description");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    if let Some(properties) = schema.get_mut("properties") {
        strip(properties);
    }
    if let Some(items) = schema.get_mut("items") {
        strip(items);
    }
}
