//! Whose a model in wadm is: the mark (the Application's UID) the bridge writes into every manifest it
//! puts, read back from what wadm stores; whether a name or lattice can be a NATS subject token at all.
//! Pure.

use kube::ResourceExt;
use serde_json::Value;
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::contract::annotations;

/// Who put a stored manifest, as far as the bridge is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// It carries this Application's UID.
    Ours,
    /// It carries no mark: put by `wash`, another client, or a bridge before marks.
    Unmarked,
    /// It carries another Application's mark (`<namespace>/<name>` when known).
    Other(String),
}

impl Provenance {
    /// The provenance of `stored` (a manifest wadm returned) for the Application with `uid`.
    pub fn of(stored: &Value, uid: &str) -> Self {
        let annotation = |key: &str| {
            stored
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match annotation(annotations::OWNER_UID) {
            Some(mark) if mark == uid => Self::Ours,
            Some(mark) => Self::Other(annotation(annotations::OWNER).unwrap_or(mark)),
            None => Self::Unmarked,
        }
    }

    /// How a model of another provenance came to be there, for a condition message.
    pub fn describe(&self) -> String {
        match self {
            Self::Ours => "was put by this Application".into(),
            Self::Unmarked => "was not put by this Application (it has no owner mark: wash, another cluster or another client)".into(),
            Self::Other(owner) => format!("belongs to the Application {owner}"),
        }
    }
}

/// Whether `app` asks to take over a model it did not put (the `adopt-model` annotation).
pub fn adopts(app: &Application) -> bool {
    app.annotations()
        .get(annotations::ADOPT_MODEL)
        .is_some_and(|v| v == "true")
}

/// Why `value` (a model name or a lattice) can't be used with wadm, or `None` when it can. wadm puts both
/// into NATS subjects (`wadm.api.<lattice>.model.<op>.<name>`) and JetStream keys, which take letters,
/// digits, '-' and '_' safely; anything else (a '.', a wildcard, whitespace, a non-ASCII letter) is refused
/// here, before anything is put — wadm would fail on it later, and a model it can't name can't be deleted.
pub fn subject_token_problem(what: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    let mut bad: Vec<String> = value
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        .map(|c| format!("{c:?}"))
        .collect();
    bad.dedup();
    (!bad.is_empty()).then(|| {
        format!(
            "the {what} {value:?} can't be used with wadm: it contains {} (wadm's NATS subjects and keys take only letters, digits, '-' and '_')",
            bad.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(annotations: &Value) -> Value {
        json!({"metadata": {"name": "shop", "annotations": annotations}, "spec": {}})
    }

    #[test]
    fn the_mark_is_the_uid() {
        let ours =
            stored(&json!({"k8s.wasmcloud.dev/owner-uid": "u1", "k8s.wasmcloud.dev/owner": "east/shop"}));
        assert_eq!(Provenance::of(&ours, "u1"), Provenance::Ours);
        assert_eq!(Provenance::of(&ours, "u2"), Provenance::Other("east/shop".into()));
        assert_eq!(
            Provenance::of(&stored(&json!({"version": "v1"})), "u1"),
            Provenance::Unmarked
        );
        assert_eq!(Provenance::of(&json!({}), "u1"), Provenance::Unmarked);
        assert!(
            Provenance::Other("west/shop".into())
                .describe()
                .contains("west/shop")
        );
    }

    #[test]
    fn names_and_lattices_must_be_subject_tokens() {
        assert_eq!(subject_token_problem("name", "shop-1_A"), None);
        assert!(subject_token_problem("name", "shop.v2").is_some_and(|p| p.contains("'.'")));
        assert!(subject_token_problem("lattice", "a b").is_some_and(|p| p.contains("' '")));
        assert!(subject_token_problem("lattice", "a>").is_some());
        assert!(subject_token_problem("lattice", "").is_some_and(|p| p.contains("empty")));
        assert!(
            subject_token_problem("lattice", "ünï").is_some_and(|p| p.contains("'ü'")),
            "wadm's storage fails on it, and then so would the finalizer"
        );
    }
}
