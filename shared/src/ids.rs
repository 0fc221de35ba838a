//! Identifier types. Each is parsed once at the edge and is valid from then on.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct IdError(pub String);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
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
    };
}

string_id!(
    /// An airline's code: 1–8 lowercase ASCII letters or digits (`a`, `b`, `c`).
    AirlineCode,
    |s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
    "airline code (1-8 lowercase letters or digits)"
);

string_id!(
    /// A segment id, unique within its airline: 1–64 ASCII letters, digits or `-`.
    SegmentId,
    |s| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
    "segment id (1-64 letters, digits or '-')"
);

string_id!(
    /// A seat on a segment: a row number then a letter, as `1A` or `30F`.
    SeatCode,
    |s| {
        let (row, letter) = s.split_at(s.len().saturating_sub(1));
        (1..=3).contains(&row.len())
            && row.bytes().all(|b| b.is_ascii_digit())
            && !row.starts_with('0')
            && letter.len() == 1
            && letter.bytes().all(|b| b.is_ascii_uppercase())
    },
    "seat (a row number and a capital letter, like 12C)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_parse_like_a_seat_map() {
        assert!(SeatCode::parse("1A").is_ok());
        assert!(SeatCode::parse("30F").is_ok());
        for bad in ["", "A", "0A", "1a", "1234A", "12", "1AA", " 1A"] {
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
