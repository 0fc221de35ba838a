//! PassCom's demo data: one JSON file per airline (`seed/a.json`, …) describing a weekly
//! timetable, and the loader that turns it into dated segments and seat maps for the coming
//! days. Segment ids are derived from flight and departure (`PA101-20261122-0900`) and every
//! insert skips what exists, so loading twice changes nothing. Only departures still in the
//! future are created. [`legacy`] is the original PassCom's demo, for its own clients.

pub mod legacy;

use anyhow::{bail, Context};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::city::city_key;
use serde::Deserialize;

pub mod scale;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timetable {
    pub airline: String,
    pub name: String,
    pub currency: String,
    /// How many days ahead to create departures for.
    pub days: u32,
    pub seat_rows: u32,
    pub seat_letters: String,
    pub flights: Vec<Flight>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flight {
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departures_utc: Vec<String>,
    pub duration_minutes: i64,
    /// A decimal string such as "289.90".
    pub price: String,
}

const BUNDLED: [(&str, &str); 3] =
    [("a", include_str!("../a.json")), ("b", include_str!("../b.json")), ("c", include_str!("../c.json"))];

impl Timetable {
    pub fn parse(json: &str) -> anyhow::Result<Self> {
        let timetable: Timetable = serde_json::from_str(json).context("reading the timetable")?;
        if !(1..=99).contains(&timetable.seat_rows) || timetable.seat_letters.is_empty() {
            bail!("seat maps have 1-99 rows and at least one letter");
        }
        if !timetable.seat_letters.bytes().all(|b| b.is_ascii_uppercase()) {
            bail!("seat letters are capital letters");
        }
        Ok(timetable)
    }

    /// The demo timetable shipped for airline `a`, `b` or `c`.
    pub fn bundled(airline: &str) -> Option<Self> {
        BUNDLED.iter().find(|(code, _)| *code == airline).and_then(|(_, json)| Self::parse(json).ok())
    }
}

/// A dated departure, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    pub segment_id: String,
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    pub price_cents: i64,
}

fn cents(price: &str) -> anyhow::Result<i64> {
    let (units, fraction) = price.split_once('.').unwrap_or((price, "00"));
    if fraction.len() != 2 {
        bail!("price `{price}` needs two decimals");
    }
    Ok(units.parse::<i64>()? * 100 + fraction.parse::<i64>()?)
}

/// Every departure of the timetable in the `days` days from `now`'s date that is still at
/// least an hour away.
pub fn departures(timetable: &Timetable, now: DateTime<Utc>, days: u32) -> anyhow::Result<Vec<Departure>> {
    let mut out = Vec::new();
    for day in 0..=i64::from(days) {
        let date = (now + Duration::days(day)).date_naive();
        for flight in &timetable.flights {
            for time in &flight.departures_utc {
                let time = NaiveTime::parse_from_str(time, "%H:%M")
                    .with_context(|| format!("{}: time `{time}`", flight.flight_no))?;
                let departs_at = date.and_time(time).and_utc();
                if departs_at < now + Duration::hours(1) {
                    continue;
                }
                out.push(Departure {
                    segment_id: format!("{}-{}", flight.flight_no, departs_at.format("%Y%m%d-%H%M")),
                    flight_no: flight.flight_no.clone(),
                    origin: flight.origin.clone(),
                    destination: flight.destination.clone(),
                    departs_at,
                    arrives_at: departs_at + Duration::minutes(flight.duration_minutes),
                    price_cents: cents(&flight.price)?,
                });
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub segments: usize,
    pub seats: usize,
}

/// Inserts the departures and their seat maps; existing segments are left as they are.
///
/// One statement: a new segment and its seats appear together or not at all, so seats are made
/// only for the segments this call created, and loading again (the scale data is 2.7 million
/// seats an airline) costs a lookup per segment rather than one per seat. The seats are made by
/// PostgreSQL from `generate_series`, never sent row by row.
pub async fn load(
    conn: &mut AsyncPgConnection,
    departures: &[Departure],
    currency: &str,
    seat_rows: u32,
    seat_letters: &str,
) -> anyhow::Result<Loaded> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = BigInt)]
        segments: i64,
    }
    let column = |f: fn(&Departure) -> String| departures.iter().map(f).collect::<Vec<String>>();
    let letters: Vec<String> = seat_letters.chars().map(String::from).collect();
    let seats_per_segment = i32::try_from(seat_rows)? * i32::try_from(letters.len())?;
    let created = diesel::sql_query(
        "WITH new AS (
           INSERT INTO segments (segment_id, flight_no, origin, origin_key, destination, destination_key,
                                 departs_at, arrives_at, price_cents, currency, seats_total)
           SELECT d.*, $10, $13
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::timestamptz[], $8::timestamptz[], $9::bigint[]) AS d
           ON CONFLICT (segment_id) DO NOTHING
           RETURNING segment_id),
         seated AS (
           INSERT INTO seats (segment_id, seat)
           SELECT new.segment_id, r.n::text || l.letter
             FROM new, generate_series(1, $11) AS r(n), unnest($12::text[]) AS l(letter))
         SELECT count(*) AS segments FROM new",
    )
    .bind::<Array<Text>, _>(column(|d| d.segment_id.clone()))
    .bind::<Array<Text>, _>(column(|d| d.flight_no.clone()))
    .bind::<Array<Text>, _>(column(|d| d.origin.clone()))
    .bind::<Array<Text>, _>(column(|d| city_key(&d.origin)))
    .bind::<Array<Text>, _>(column(|d| d.destination.clone()))
    .bind::<Array<Text>, _>(column(|d| city_key(&d.destination)))
    .bind::<Array<Timestamptz>, _>(departures.iter().map(|d| d.departs_at).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(departures.iter().map(|d| d.arrives_at).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(departures.iter().map(|d| d.price_cents).collect::<Vec<_>>())
    .bind::<Text, _>(currency)
    .bind::<Integer, _>(i32::try_from(seat_rows)?)
    .bind::<Array<Text>, _>(&letters)
    .bind::<Integer, _>(seats_per_segment)
    .get_result::<Created>(conn)
    .await
    .context("inserting segments and seats")?;
    let segments = usize::try_from(created.segments)?;
    Ok(Loaded { segments, seats: segments * usize::try_from(seats_per_segment)? })
}

/// The benchmark's own segments, so that it never sells the demo seats and never runs out: each
/// run (`run` is any fresh number) adds `count` segments per airline on a chain of three made-up
/// cities, a → b → c, far in the future, with 990 seats each (rows 1-99, letters A-K without I).
pub const BENCH_CITIES: [&str; 4] = ["Bench Alpha", "Bench Beta", "Bench Gamma", "Bench Delta"];
pub const BENCH_SEAT_ROWS: u32 = 99;
pub const BENCH_SEAT_LETTERS: &str = "ABCDEFGHJK";

pub fn bench_departures(airline: &str, run: u64, count: u32, now: DateTime<Utc>) -> anyhow::Result<Vec<Departure>> {
    let hop = match airline {
        "a" => 0,
        "b" => 1,
        "c" => 2,
        other => bail!("benchmark segments exist for airlines a, b and c, not `{other}`"),
    };
    let day = (now + Duration::days(200)).date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    Ok((0..count)
        .map(|k| {
            // Each airline's k-th segment connects to the next airline's k-th, two hours later.
            let departs_at = day + Duration::hours(i64::from(k) * 6 + hop * 2);
            Departure {
                segment_id: format!("BENCH{run}-{airline}{k}"),
                flight_no: format!("BX{}{k:02}", hop + 1),
                origin: BENCH_CITIES[hop as usize].to_owned(),
                destination: BENCH_CITIES[hop as usize + 1].to_owned(),
                departs_at,
                arrives_at: departs_at + Duration::minutes(60),
                price_cents: 10_000,
            }
        })
        .collect())
}

/// Loads a whole timetable for its configured number of days.
pub async fn load_timetable(
    conn: &mut AsyncPgConnection,
    timetable: &Timetable,
    now: DateTime<Utc>,
) -> anyhow::Result<Loaded> {
    let departures = departures(timetable, now, timetable.days)?;
    let mut total = Loaded::default();
    // A statement per few days of the scale schedule (360,000 seats) rather than one for all
    // of it: an interrupted load keeps what it made, and each transaction stays modest.
    for chunk in departures.chunks(2000) {
        let loaded = load(conn, chunk, &timetable.currency, timetable.seat_rows, &timetable.seat_letters).await?;
        total.segments += loaded.segments;
        total.seats += loaded.seats;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn bundled_timetables_parse_and_only_future_departures_are_made() {
        for code in ["a", "b", "c"] {
            let timetable = Timetable::bundled(code).expect("bundled timetable");
            assert!(timetable.flights.len() >= 8, "{code} has at least 8 flights");
            let now = Utc.with_ymd_and_hms(2030, 5, 1, 12, 0, 0).unwrap();
            let deps = departures(&timetable, now, 2).unwrap();
            assert!(deps.iter().all(|d| d.departs_at >= now + Duration::hours(1)));
            assert!(deps.iter().all(|d| d.arrives_at > d.departs_at));
            let mut ids: Vec<_> = deps.iter().map(|d| &d.segment_id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), deps.len(), "segment ids are unique");
        }
    }

    #[test]
    fn prices_are_exact() {
        assert_eq!(cents("289.90").unwrap(), 28990);
        assert!(cents("1.5").is_err());
    }
}
