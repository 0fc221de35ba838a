//! Faults that do not break safety but used to break liveness: Redis and PostgreSQL going away,
//! holds delayed in the network, hung peers. Each test checks the invariants and the bound the
//! README promises, with room for a loaded 2-core machine.

mod database;
mod holds;
mod idempotency;
mod paused;
mod postgres_restart;
mod proxy;
mod redis_down;
mod stale;
