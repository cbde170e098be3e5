//! The host-operator's errors: what went wrong with the user's input (reported on the object, waits
//! for a change) versus what went wrong talking to the API server (retried with backoff). Pure types.

/// A problem with what the user asked for. Reported as a condition and a Warning Event; nothing is
/// created or changed until the input changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("Secret {name} not found")]
    SecretNotFound { name: String },
    #[error("Secret {name} has no key {key}")]
    SecretKeyMissing { name: String, key: String },
    #[error("Secret {name} key {key}: {problem}")]
    SecretInvalid {
        name: String,
        key: String,
        problem: String,
    },
    #[error("ConfigMap {name} not found")]
    ConfigMapNotFound { name: String },
    #[error("{field}: {problem}")]
    Conflict { field: String, problem: String },
    #[error("{field}: {problem} (the pods run wasmCloud host {version})")]
    NotSupportedByHost {
        field: String,
        problem: String,
        version: String,
    },
    /// `problem` concerns the registry credentials' source, so the hosts' copy of them was removed.
    #[error("{problem}; its copy {copy} was removed, so the hosts hold no stale registry credentials")]
    CopyWithdrawn { problem: Box<InputError>, copy: String },
    /// A child's name is taken by an object this host config does not control.
    #[error(
        "{kind} {name} already exists and {holder}; this WasmCloudHostConfig never takes over an object it did not create: delete or rename that {kind}, or rename the WasmCloudHostConfig (rechecked with backoff)"
    )]
    ChildConflict {
        kind: String,
        name: String,
        holder: String,
    },
}

impl InputError {
    /// The Secret this error is about, if it is about one.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Self::SecretNotFound { name }
            | Self::SecretKeyMissing { name, .. }
            | Self::SecretInvalid { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The condition reason (and Event reason) for this error.
    pub fn reason(&self) -> &'static str {
        use wasmcloud_operator_types::contract::reasons;
        match self {
            Self::SecretNotFound { .. } => reasons::SECRET_NOT_FOUND,
            Self::SecretKeyMissing { .. } | Self::SecretInvalid { .. } => reasons::SECRET_INVALID,
            Self::ConfigMapNotFound { .. } => reasons::CONFIG_MAP_NOT_FOUND,
            Self::Conflict { .. } | Self::NotSupportedByHost { .. } => reasons::INVALID_SPEC,
            Self::ChildConflict { .. } => reasons::CHILD_CONFLICT,
            Self::CopyWithdrawn { problem, .. } => problem.reason(),
        }
    }
}

/// A failure to reach or write the API server: retried with exponential backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read {what}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to apply {what}")]
    Apply {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete {what}")]
    Delete {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to write the status")]
    Status {
        #[source]
        source: kube::Error,
    },
    #[error("object has no {0}")]
    Malformed(&'static str),
    /// A child's name is taken by an object this host config does not control (reported on the object
    /// first; retried with backoff, since the other object is not watched).
    #[error("{0}")]
    NotOurs(InputError),
    #[error("failed to serialize {what}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// A bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
            Self::Status { .. } => "status",
            Self::Malformed(_) => "malformed",
            Self::NotOurs(_) => "not_ours",
            Self::Serialize { .. } => "serialize",
        }
    }
}

impl Error {
    /// For the status, when a write or read of a child failed part way: what failed and the API
    /// server's code and reason, never its message (which may quote the offending value).
    pub fn partial_failure(&self) -> Option<String> {
        let (verb, what, source) = match self {
            Self::Apply { what, source } => ("apply", what, source),
            Self::Delete { what, source } => ("delete", what, source),
            Self::Read { what, source } => ("read", what, source),
            _ => return None,
        };
        let answer = match source {
            kube::Error::Api(status) => format!("the API server answered {} {}", status.code, status.reason),
            _ => "no answer from the API server".to_string(),
        };
        Some(format!("failed to {verb} {what}: {answer}"))
    }
}

impl wasmcloud_operator_types::runtime::controller::ReconcileError for Error {
    fn category(&self) -> &'static str {
        Error::category(self)
    }
}
