//! Booking an itinerary across airlines (DESIGN §4): the coordinator's two-phase commit, the
//! participant's holds, idempotency keys, and the recovery worker that finishes what a crash
//! interrupted.

pub mod coordinator;
pub mod finished;
pub mod idempotency;
pub mod participant;
pub mod recovery;
