//! The original PassCom API (the Flask system of `../shared/seeds/002_*.txt`), spoken at the
//! root of every server so that its pages and scripts run against us unchanged. It is an
//! adapter and nothing more: accounts, catalog reads, route search, bookings, passes and
//! cancellation all go through the same code as `/api/v1`, so every guarantee holds here too.
//!
//! What it adds is naming: the original calls segments and seats by small integers
//! (`id_trecho`, `id_assento`) and seats by number (`numero`). Those integers are columns of our
//! own tables (`legacy_id`, given once per airline and never changed), and a seat's number is
//! its position in its segment's seat map. `wire` has the original bodies, `error` its refusals
//! (`{"message": …}` in Portuguese), `cors` lets its pages call us from their own origin.

pub mod accounts;
pub mod booking;
pub mod catalog;
pub mod cors;
pub mod error;
pub mod wire;
