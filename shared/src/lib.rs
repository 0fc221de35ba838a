//! What two PassCom parties must agree on: airline codes and other ids, the request and response
//! bodies of the public and internal APIs, the RFC 9457 error body, and the typed client that
//! servers use to call each other. No actix, no diesel: a client can depend on this alone.

pub mod airline;
pub mod api;
pub mod city;
pub mod client;
pub mod ids;
pub mod internal;
pub mod problem;

pub use ids::{AirlineCode, SeatCode, SegmentId, SegmentIds, MAX_LEGS};
pub use problem::{Code, Problem};
