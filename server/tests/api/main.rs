//! Integration tests: real servers on real ports, real PostgreSQL and Redis. One binary.

// A harness that cannot set up its world should stop the test loudly.
#![allow(clippy::unwrap_used)]

mod helpers;
mod invariants;
mod load_balancer;
mod staff_helpers;

mod airline;
mod bookings;
mod crashes;
mod faults;
mod federation;
mod foundation;
mod legacy;
mod limits;
mod openapi;
mod replicas;
mod robustness;
mod search;
mod trust;
