//! A booking's id, which becomes its pass's id, names the airline that sold it. Every owner of
//! a leg learns the id at its hold, long before the pass is replicated; without the seller in
//! the id, an owner could replicate a pass of its own under it to an airline that owns no leg,
//! and be believed because it arrived first. With it, a pass under another seller's id is
//! refused wherever it arrives.
//!
//! The id is a UUIDv7 (time-ordered, so the indexes stay local) made version 8, with its last
//! 16 bits replaced by a tag of the seller's code: 58 random bits per millisecond remain.

use passcom_shared::AirlineCode;
use uuid::Uuid;

/// A new booking id sold by `seller`.
pub fn new(seller: &AirlineCode) -> Uuid {
    let mut bytes = *Uuid::now_v7().as_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[14..].copy_from_slice(&tag(seller));
    Uuid::from_bytes(bytes)
}

/// Whether `id` may be a pass sold by `seller`. Ids made before the seller was part of them
/// (other versions) cannot be judged and are let through: every one of them was replicated
/// long ago, and a new id can never equal one.
pub fn may_be_sold_by(id: Uuid, seller: &AirlineCode) -> bool {
    id.get_version_num() != 8 || id.as_bytes()[14..] == tag(seller)
}

/// Airlines whose tags are equal could not tell each other's passes apart; the federation's
/// configuration refuses them.
pub fn tags_collide(x: &AirlineCode, y: &AirlineCode) -> bool {
    tag(x) == tag(y)
}

/// 32-bit FNV-1a of the code, folded to 16 bits: the same in every build and on every airline.
fn tag(seller: &AirlineCode) -> [u8; 2] {
    let hash = seller.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    (((hash >> 16) ^ hash) as u16).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> AirlineCode {
        AirlineCode::parse(raw).unwrap()
    }

    #[test]
    fn an_id_names_its_seller_and_no_other() {
        let (a, b) = (code("a"), code("b"));
        let id = new(&a);
        assert_eq!((id.get_version_num(), id.get_variant()), (8, uuid::Variant::RFC4122));
        assert!(may_be_sold_by(id, &a));
        assert!(!may_be_sold_by(id, &b));
        assert!(may_be_sold_by(Uuid::now_v7(), &b), "an id from before the tag");
    }

    #[test]
    fn ids_stay_time_ordered_and_distinct() {
        let a = code("a");
        let ids: Vec<Uuid> = (0..1000).map(|_| new(&a)).collect();
        assert!(ids.windows(2).all(|w| w[0].as_bytes()[..6] <= w[1].as_bytes()[..6]));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn the_demo_airlines_have_distinct_tags() {
        let codes = ["a", "b", "c", "d", "e"].map(code);
        for (i, x) in codes.iter().enumerate() {
            for y in &codes[i + 1..] {
                assert!(!tags_collide(x, y), "{x} and {y}");
            }
        }
    }
}
