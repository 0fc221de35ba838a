//! Booking an itinerary across airlines (DESIGN §4): the request parsed into an itinerary, the
//! coordinator's two-phase commit over the legs' owners and its durable log, the participant's
//! holds, ids that name their seller, idempotency keys, cancellation, and the workers that
//! finish what a crash interrupted.

pub mod cancel;
pub mod coordinator;
pub mod deadline;
pub mod idempotency;
pub mod itinerary;
pub mod log;
pub mod owners;
pub mod participant;
pub mod pass_id;
pub mod recovery;
