//! Integration tests: real servers on real ports, real PostgreSQL and Redis. One binary.

mod helpers;

mod bookings;
mod federation;
mod foundation;
