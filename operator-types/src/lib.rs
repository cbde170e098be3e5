//! Types shared by the wasmCloud operators: the `WasmCloudHostConfig` and `Application` CRDs and the
//! contract between the binaries (names, labels, conditions). With the `runtime` feature, also the
//! controller plumbing the three binaries share.

pub mod application;
pub mod conditions;
pub mod contract;
pub mod crds;
pub mod host_config;
pub mod redact;
mod schema;

#[cfg(feature = "runtime")]
pub mod runtime;

pub use application::{Application, ApplicationPhase, ApplicationSpec, ApplicationStatus};
pub use host_config::{WasmCloudHostConfig, WasmCloudHostConfigSpec, WasmCloudHostConfigStatus};
