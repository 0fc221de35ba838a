//! Identifier types. Each is parsed once at the edge and is valid from then on.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct IdError(pub String);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal, $pattern:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(IdError(format!(concat!("`{}` is not a valid ", $what), raw.chars().take(70).collect::<String>())))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .description(Some($what))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

string_id!(
    /// An airline's code: 1–8 lowercase ASCII letters or digits (`a`, `b`, `c`).
    AirlineCode,
    |s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
    "airline code (1-8 lowercase letters or digits)",
    "^[a-z0-9]{1,8}$"
);

string_id!(
    /// A segment id, unique within its airline: 1–64 ASCII letters, digits or `-`.
    SegmentId,
    |s| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
    "segment id (1-64 letters, digits or '-')",
    "^[A-Za-z0-9-]{1,64}$"
);

string_id!(
    /// A seat on a segment: a row number then a letter, as `1A` or `30F`.
    SeatCode,
    |s| {
        // Judged on bytes: a split by byte position may fall inside a multi-byte character.
        let Some((&letter, row)) = s.as_bytes().split_last() else { return false };
        (1..=3).contains(&row.len())
            && row.iter().all(u8::is_ascii_digit)
            && row.first() != Some(&b'0')
            && letter.is_ascii_uppercase()
    },
    "seat (a row number and a capital letter, like 12C)",
    "^[1-9][0-9]{0,2}[A-Z]$"
);

/// The most legs an itinerary has, and so the most segments one lookup names.
pub const MAX_LEGS: usize = 6;

/// Up to [`MAX_LEGS`] segment ids, comma-separated on the wire (`?ids=A1,B2`). More are refused,
/// never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentIds(Vec<SegmentId>);

impl SegmentIds {
    pub fn new(ids: Vec<SegmentId>) -> Result<Self, IdError> {
        if ids.len() > MAX_LEGS {
            return Err(IdError(format!("at most {MAX_LEGS} segment ids, not {}", ids.len())));
        }
        Ok(Self(ids))
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        Self::new(raw.split(',').map(SegmentId::parse).collect::<Result<_, _>>()?)
    }

    pub fn as_slice(&self) -> &[SegmentId] {
        &self.0
    }
}

impl fmt::Display for SegmentIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.0.iter().map(SegmentId::as_str).collect();
        f.write_str(&ids.join(","))
    }
}

impl Serialize for SegmentIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SegmentIds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_parse_like_a_seat_map() {
        assert!(SeatCode::parse("1A").is_ok());
        assert!(SeatCode::parse("30F").is_ok());
        for bad in ["", "A", "0A", "1a", "1234A", "12", "1AA", " 1A", "1é", "1😀", "é", "😀A", "1\u{0}"] {
            assert!(SeatCode::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn airline_codes_are_short_lowercase() {
        assert!(AirlineCode::parse("a").is_ok());
        assert!(AirlineCode::parse("A").is_err());
        assert!(AirlineCode::parse("").is_err());
        assert!(AirlineCode::parse("abcdefghi").is_err());
    }

    #[test]
    fn deserializing_checks_the_format() {
        assert!(serde_json::from_str::<SegmentId>("\"A101-20261122\"").is_ok());
        assert!(serde_json::from_str::<SegmentId>("\"../etc\"").is_err());
    }
}

#[cfg(test)]
mod segment_ids {
    use super::*;

    #[test]
    fn a_list_of_ids_is_refused_past_the_most_legs_not_cut() {
        let six = SegmentIds::parse("A,B,C,D,E,F").unwrap();
        assert_eq!(six.as_slice().len(), 6);
        assert_eq!(six.to_string(), "A,B,C,D,E,F");
        assert!(SegmentIds::parse("A,B,C,D,E,F,G").is_err());
        assert!(SegmentIds::parse("A,,B").is_err());
        assert!(SegmentIds::parse("A,../x").is_err());
    }
}

/// Every parser of outside input, fed anything: it never panics, and accepts exactly the
/// documented grammar (checked against a second, character-by-character reading of it).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn seat_grammar(s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        match chars.split_last() {
            Some((letter, row)) => {
                letter.is_ascii_uppercase()
                    && (1..=3).contains(&row.len())
                    && row.iter().all(char::is_ascii_digit)
                    && row[0] != '0'
            }
            None => false,
        }
    }

    proptest! {
        #[test]
        fn seats_accept_exactly_their_grammar(s in "\\PC{0,6}|[0-9]{0,4}[A-Za-z\u{e9}\u{1F600}]{0,2}") {
            prop_assert_eq!(SeatCode::parse(&s).is_ok(), seat_grammar(&s), "{:?}", s);
        }

        #[test]
        fn every_seat_of_the_grammar_is_accepted(s in "[1-9][0-9]{0,2}[A-Z]") {
            prop_assert_eq!(SeatCode::parse(&s).map(|c| c.to_string()), Ok(s));
        }

        #[test]
        fn airline_codes_accept_exactly_their_grammar(s in "\\PC{0,10}|[a-z0-9]{0,9}") {
            let grammar = (1..=8).contains(&s.chars().count()) && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            prop_assert_eq!(AirlineCode::parse(&s).is_ok(), grammar, "{:?}", s);
        }

        #[test]
        fn segment_ids_accept_exactly_their_grammar(s in "\\PC{0,70}|[A-Za-z0-9-]{0,66}") {
            let grammar = (1..=64).contains(&s.chars().count()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            prop_assert_eq!(SegmentId::parse(&s).is_ok(), grammar, "{:?}", s);
        }

        #[test]
        fn id_lists_take_one_to_six_valid_ids(ids in prop::collection::vec("[A-Za-z0-9-]{1,8}|\\PC{0,3}", 0..9)) {
            let raw = ids.join(",");
            let grammar = !ids.is_empty()
                && ids.len() <= MAX_LEGS
                && ids.iter().all(|id| SegmentId::parse(id).is_ok());
            prop_assert_eq!(SegmentIds::parse(&raw).is_ok(), grammar, "{:?}", raw);
        }

        #[test]
        fn ids_survive_json_of_anything(s in "\\PC{0,20}") {
            let json = serde_json::to_string(&s).unwrap_or_default();
            let _ = serde_json::from_str::<SeatCode>(&json);
            let _ = serde_json::from_str::<SegmentIds>(&json);
            let _ = serde_json::from_str::<AirlineCode>(&json);
        }
    }
}
