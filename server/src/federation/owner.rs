//! Whose data is it: this airline's own database, or a peer reached over the internal API.
//! Callers match on this once instead of comparing airline codes by hand.

use super::Peer;

#[derive(Clone, Copy)]
pub enum Owner<'a> {
    Here,
    Peer(&'a Peer),
}
