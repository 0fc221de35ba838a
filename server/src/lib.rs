//! One airline's PassCom company server: the public API passengers use, the internal API the
//! airlines use with each other, the booking protocol that sells seats across them, and the
//! workers that replicate writes and recover interrupted bookings.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod booking;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod db;
pub mod error;
pub mod federation;
pub mod legacy;
pub mod limits;
pub mod locks;
pub mod metrics;
pub mod operations;
pub mod passes;
pub mod replication;
pub mod routes;
pub mod schema;
pub mod stall;
pub mod startup;
pub mod telemetry;
pub mod workers;
