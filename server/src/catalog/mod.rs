//! The catalog: this airline's segments and seat maps (`local`), every airline's segments as
//! one list (`federated`), the search for routes over them (`route_search`), and that search as
//! a request runs it (`search`).

pub mod federated;
pub mod local;
pub mod route_search;
pub mod search;
