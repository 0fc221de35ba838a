//! A flight staff want to publish, checked once: a [`Flight`] exists only if every field is
//! sane, so the schedule's SQL never re-checks raw input.

use chrono::{DateTime, Duration, Utc};
use passcom_shared::airline::{NewSegment, SeatLayout};
use passcom_shared::api::Money;
use passcom_shared::city::city_key;
use passcom_shared::SegmentId;

/// The longest flight accepted.
const MAX_DURATION: Duration = Duration::hours(24);
/// How far ahead a flight may be published.
const MAX_AHEAD: Duration = Duration::days(400);
const MAX_CITY_CHARS: usize = 100;
/// 10 000 000.00 in any currency: beyond any fare, well inside an i64 of cents.
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct Flight {
    pub segment_id: SegmentId,
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    pub price: Money,
    pub rows: u32,
    pub letters: String,
}

impl Flight {
    pub fn seats_total(&self) -> i64 {
        i64::from(self.rows) * self.letters.len() as i64
    }

    /// Checks one requested segment; the error names the field.
    pub fn parse(raw: NewSegment, now: DateTime<Utc>) -> Result<Self, String> {
        let flight_no = raw.flight_no.trim().to_owned();
        let flight_ok = (2..=8).contains(&flight_no.len())
            && flight_no.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && flight_no.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
        if !flight_ok {
            return Err("`flight_no` must be 2-8 capital letters and digits, starting with a letter".into());
        }
        let origin = city("origin", &raw.origin)?;
        let destination = city("destination", &raw.destination)?;
        if city_key(&origin) == city_key(&destination) {
            return Err("`origin` and `destination` are the same city".into());
        }
        if raw.departs_at <= now {
            return Err("`departs_at` must be in the future".into());
        }
        if raw.departs_at > now + MAX_AHEAD {
            return Err(format!("`departs_at` may be at most {} days ahead", MAX_AHEAD.num_days()));
        }
        if raw.arrives_at <= raw.departs_at {
            return Err("`arrives_at` must be after `departs_at`".into());
        }
        if raw.arrives_at - raw.departs_at > MAX_DURATION {
            return Err(format!("a flight lasts at most {} hours", MAX_DURATION.num_hours()));
        }
        let price = price(raw.price)?;
        let SeatLayout { rows, letters } = layout(raw.seats)?;
        let segment_id = match raw.segment_id {
            Some(id) => id,
            // As the demo data names them: the flight and its departure (UTC).
            None => SegmentId::parse(&format!("{flight_no}-{}", raw.departs_at.format("%Y%m%d-%H%M")))
                .map_err(|e| e.to_string())?,
        };
        Ok(Flight {
            segment_id,
            flight_no,
            origin,
            destination,
            departs_at: raw.departs_at,
            arrives_at: raw.arrives_at,
            price,
            rows,
            letters,
        })
    }
}

fn city(field: &str, raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_CITY_CHARS || name.chars().any(char::is_control) {
        return Err(format!("`{field}` must be a city name of 1-{MAX_CITY_CHARS} characters"));
    }
    if city_key(name).is_empty() {
        return Err(format!("`{field}` has no letters"));
    }
    Ok(name.to_owned())
}

/// A price of at most [`MAX_PRICE_CENTS`] in a currency of three capital letters.
pub fn price(price: Money) -> Result<Money, String> {
    if price.currency.len() != 3 || !price.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("`price.currency` must be three capital letters, like BRL".into());
    }
    if !(0..=MAX_PRICE_CENTS).contains(&price.cents) {
        return Err(format!("`price.amount` must be 0.00 to {}.00", MAX_PRICE_CENTS / 100));
    }
    Ok(price)
}

fn layout(layout: SeatLayout) -> Result<SeatLayout, String> {
    if !(1..=99).contains(&layout.rows) {
        return Err("`seats.rows` must be 1-99".into());
    }
    let letters = layout.letters.as_bytes();
    let distinct = letters.iter().enumerate().all(|(i, l)| !letters[..i].contains(l));
    if !(1..=10).contains(&letters.len()) || !letters.iter().all(u8::is_ascii_uppercase) || !distinct {
        return Err("`seats.letters` must be 1-10 distinct capital letters, like ABCDEF".into());
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(now: DateTime<Utc>) -> NewSegment {
        NewSegment {
            segment_id: None,
            flight_no: "PC100".into(),
            origin: "Porto Alegre".into(),
            destination: "Recife".into(),
            departs_at: now + Duration::hours(3),
            arrives_at: now + Duration::hours(6),
            price: Money { cents: 49990, currency: "BRL".into() },
            seats: SeatLayout { rows: 30, letters: "ABCDEF".into() },
        }
    }

    #[test]
    fn a_sane_flight_gets_an_id_from_its_number_and_departure() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let flight = Flight::parse(raw(now), now).unwrap();
        assert_eq!(flight.segment_id.as_str(), "PC100-20270115-1100");
        assert_eq!(flight.seats_total(), 180);
    }

    #[test]
    fn every_insane_field_is_refused_and_named() {
        let now = Utc::now();
        type Spoil = fn(&mut NewSegment);
        let cases: Vec<(Spoil, &str)> = vec![
            (|r| r.flight_no = "x".into(), "flight_no"),
            (|r| r.origin = "  ".into(), "origin"),
            (|r| r.destination = "PÓRTO alegre ".into(), "same city"),
            (|r| r.departs_at -= Duration::hours(4), "future"),
            (|r| r.arrives_at = r.departs_at, "after"),
            (|r| r.arrives_at += Duration::hours(30), "at most"),
            (|r| r.price.currency = "reais".into(), "currency"),
            (|r| r.price.cents = MAX_PRICE_CENTS + 1, "amount"),
            (|r| r.seats.rows = 0, "rows"),
            (|r| r.seats.letters = "AAB".into(), "letters"),
            (|r| r.seats.letters = "ab".into(), "letters"),
            (|r| r.seats.letters = String::new(), "letters"),
        ];
        for (spoil, word) in cases {
            let mut segment = raw(now);
            spoil(&mut segment);
            let err = Flight::parse(segment, now).unwrap_err();
            assert!(err.contains(word), "{err} should name {word}");
        }
    }
}
