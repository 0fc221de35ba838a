//! The catalog: this airline's segments and seat maps (`local`), every airline's segments as
//! one list (`federated`), and the search for routes over them (`route_search`).

pub mod federated;
pub mod local;
pub mod route_search;
