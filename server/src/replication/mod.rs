//! Replication between airlines (DESIGN §5): the outbox stores writes other airlines must see
//! and delivers them until acknowledged; the inbox checks and applies what peers send.

pub mod inbox;
pub mod outbox;
