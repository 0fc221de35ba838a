//! Airline operations: what an airline's staff do with its own flights. Staff accounts,
//! schedule changes (publish, price, cancel), the passes a cancelled flight disrupts, the event
//! feeds of the committed state, and sales figures.

pub mod disruption;
pub mod events;
pub mod flight;
pub mod sales;
pub mod schedule;
pub mod staff;
