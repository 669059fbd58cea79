//! The chaos test's pieces (the test itself is `tests/chaos.rs`; what it
//! proves and how to run it: `docs/reliability.md`, "Chaos").
//!
//! - `cluster`: server nodes, a throwaway Redis, a fresh PostgreSQL database;
//! - `proxy`: the load balancer between SDKs and nodes that cuts and stalls
//!   connections;
//! - `sdks`: Rust clients in process, Node clients in a child process;
//! - `changes`: random flag and segment changes through the admin API.

pub mod changes;
pub mod cluster;
pub mod proxy;
pub mod sdks;
