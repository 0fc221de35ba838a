//! Pieces shared by the load tools (`stress` and `bench`): a client for the public API,
//! test-user creation, latency percentiles and outcome tallies, command-line parsing, and the
//! benchmark's rows and measurements (`bench`).
//!
//! The tools talk to PassCom only through its public API, the way a passenger's client would, so
//! that what they measure and check is what a passenger sees.

pub mod args;
pub mod bench;
pub mod client;
pub mod stats;
pub mod users;

/// The local federation started by `scripts/federation up`: airlines a, b and c.
pub const DEFAULT_SERVERS: &str = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003";
