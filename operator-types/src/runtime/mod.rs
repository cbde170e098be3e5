//! Controller plumbing the three binaries share (feature `runtime`): CLI arguments, logging, the admin
//! HTTP server, metrics, an instrumented kube client, CRD checks, leader election and shutdown.

pub mod admin;
pub mod announce;
pub mod app;
pub mod apply;
pub mod backoff;
pub mod cli;
pub mod client;
pub mod controller;
pub mod crd_check;
pub mod drift;
#[cfg(any(test, feature = "fake-api"))]
pub mod fake_api;
#[cfg(any(test, feature = "fake-api"))]
pub mod fake_wadm;
pub mod leader;
pub mod metrics;
pub mod nats;
pub mod ownership;
pub mod readiness;
pub mod shutdown;

pub mod telemetry;
pub mod tracker;
pub mod wadm;
pub mod watch_config;
pub mod write_gate;
