//! The harness for integration tests: the local environment (real API server, NATS, wadm), a fresh
//! namespace per test with a dump on failure, waits with deadlines, a wadm API client, the product's
//! binaries as processes, the real node (pods that run, images built here), and the lattice-host simulator (a test double, also in a mode that follows
//! host pods).

pub mod audit;
pub mod bench;
pub mod env;
pub mod events;
pub mod http_apps;
pub mod lattice_sim;
pub mod namespace;
pub mod pki;
pub mod pod_hosts;
pub mod pods;
pub mod process;
pub mod real_node;
pub mod stall_proxy;
pub mod wadm;
pub mod wait;
