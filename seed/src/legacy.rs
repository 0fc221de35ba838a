//! The original PassCom's demo data, for its own clients (the pages and the concurrency script
//! that speak the original API, see the server's `legacy` module): two segments per airline with
//! ten seats each, numbered the way the original numbered them, and its demo accounts.
//!
//! The original segments had no dates; ours must depart in the future, so they depart two days
//! after the day the seed runs, chained a → b → c an hour apart (Cidade A1 → B1 → C1 → D1 on
//! segments 1, A2 → B2 → C2 → D2 on segments 2). Loading again moves them to two days after
//! that run and changes nothing else. Seat ids interleave the two segments as the original's
//! did (segment 1 has seats 1, 3, 5, …; segment 2 has 2, 4, 6, …), so its documented examples
//! hold: seat 5 of segment 1 is seat number 3, seat 10 of segment 2 is number 5. Seat number
//! `n` is our seat `{n}A`, one seat per row, so that its position in the seat map is `n`.

use anyhow::{bail, Context};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::city::city_key;

/// Seats per original segment.
pub const LEGACY_SEATS: i64 = 10;
pub const LEGACY_PRICE_CENTS: i64 = 10_000;

/// The original demo accounts: `usuario_shared_N` / `senhaN`, the same at every airline.
pub const LEGACY_USERS: [(&str, &str, &str); 3] = [
    ("00000000-0000-4000-8000-00000000a001", "usuario_shared_1", "senha1"),
    ("00000000-0000-4000-8000-00000000a002", "usuario_shared_2", "senha2"),
    ("00000000-0000-4000-8000-00000000a003", "usuario_shared_3", "senha3"),
];

/// One of the original segments as this airline stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacySegment {
    /// `id_trecho`: 1 or 2.
    pub legacy_id: i64,
    pub segment_id: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
}

impl LegacySegment {
    /// `(id_assento, our seat code)` of each of its seats, by seat number.
    pub fn seats(&self) -> Vec<(i64, String)> {
        (1..=LEGACY_SEATS).map(|n| (2 * (n - 1) + self.legacy_id, format!("{n}A"))).collect()
    }
}

/// Airline `airline`'s two original segments, for a seed run at `now`.
pub fn legacy_segments(airline: &str, now: DateTime<Utc>) -> anyhow::Result<Vec<LegacySegment>> {
    let (hop, from, to) = match airline {
        "a" => (0, 'A', 'B'),
        "b" => (1, 'B', 'C'),
        "c" => (2, 'C', 'D'),
        other => bail!("the original demo has airlines a, b and c, not `{other}`"),
    };
    let day = (now + Duration::days(2)).date_naive().and_hms_opt(8, 0, 0).unwrap_or_default().and_utc();
    Ok([1, 2]
        .into_iter()
        .map(|n: i64| {
            // a's segment 1 at 08:00, b's at 10:00, c's at 12:00; segments 2 an hour after.
            let departs_at = day + Duration::hours(hop * 2 + n - 1);
            LegacySegment {
                legacy_id: n,
                segment_id: format!("ORIG-{n}"),
                origin: format!("Cidade {from}{n}"),
                destination: format!("Cidade {to}{n}"),
                departs_at,
                arrives_at: departs_at + Duration::minutes(60),
            }
        })
        .collect())
}

/// Loads the original segments, seats and accounts into airline `airline`'s database.
pub async fn load_legacy(conn: &mut AsyncPgConnection, airline: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    for segment in legacy_segments(airline, now)? {
        insert_segment(conn, &segment).await?;
    }
    for (user_id, login, password) in LEGACY_USERS {
        insert_user(conn, user_id, login, password).await?;
    }
    Ok(())
}

async fn insert_segment(conn: &mut AsyncPgConnection, segment: &LegacySegment) -> anyhow::Result<()> {
    diesel::sql_query(
        "INSERT INTO segments (segment_id, legacy_id, flight_no, origin, origin_key, destination, destination_key,
                               departs_at, arrives_at, price_cents, currency, seats_total)
         VALUES ($1, $2, replace($1, '-', ''), $3, $4, $5, $6, $7, $8, $9, 'BRL', $10)
         ON CONFLICT (segment_id) DO UPDATE SET departs_at = EXCLUDED.departs_at, arrives_at = EXCLUDED.arrives_at",
    )
    .bind::<Text, _>(&segment.segment_id)
    .bind::<BigInt, _>(segment.legacy_id)
    .bind::<Text, _>(&segment.origin)
    .bind::<Text, _>(city_key(&segment.origin))
    .bind::<Text, _>(&segment.destination)
    .bind::<Text, _>(city_key(&segment.destination))
    .bind::<Timestamptz, _>(segment.departs_at)
    .bind::<Timestamptz, _>(segment.arrives_at)
    .bind::<BigInt, _>(LEGACY_PRICE_CENTS)
    .bind::<diesel::sql_types::Integer, _>(LEGACY_SEATS as i32)
    .execute(conn)
    .await
    .with_context(|| format!("inserting the original segment {}", segment.legacy_id))?;
    let (ids, codes): (Vec<i64>, Vec<String>) = segment.seats().into_iter().unzip();
    diesel::sql_query(
        "INSERT INTO seats (segment_id, legacy_id, seat)
         SELECT $1, s.id, s.seat FROM unnest($2::bigint[], $3::text[]) AS s(id, seat)
         ON CONFLICT (segment_id, seat) DO NOTHING",
    )
    .bind::<Text, _>(&segment.segment_id)
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<Text>, _>(codes)
    .execute(conn)
    .await
    .with_context(|| format!("inserting the seats of the original segment {}", segment.legacy_id))?;
    Ok(())
}

/// The account goes straight into the database, at every airline, with the same id: the
/// original passwords (`senha2`) are shorter than registration through our API allows (8), but
/// logging in only checks the hash, so the original clients can log in with them unchanged.
async fn insert_user(conn: &mut AsyncPgConnection, user_id: &str, login: &str, password: &str) -> anyhow::Result<()> {
    let user_id: uuid::Uuid = user_id.parse()?;
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password of {login}: {e}"))?
        .to_string();
    diesel::sql_query(
        "WITH claim AS (INSERT INTO login_claims (login, user_id) VALUES ($2, $1) ON CONFLICT DO NOTHING)
         INSERT INTO users (user_id, login, password_hash, home_airline) VALUES ($1, $2, $3, 'a')
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(user_id)
    .bind::<Text, _>(login)
    .bind::<Text, _>(hash)
    .execute(conn)
    .await
    .with_context(|| format!("inserting the account {login}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_examples_name_real_seats() {
        let now = Utc::now();
        let a = legacy_segments("a", now).unwrap();
        // The concurrency script: segment 1, seat 5 at airline a.
        assert!(a[0].seats().contains(&(5, "3A".to_owned())));
        // The documentation: seat 10 of c's segment 2 is number 5.
        let c = legacy_segments("c", now).unwrap();
        assert!(c[1].seats().contains(&(10, "5A".to_owned())));
        let b = legacy_segments("b", now).unwrap();
        assert_eq!((a[0].destination.as_str(), b[0].origin.as_str()), ("Cidade B1", "Cidade B1"));
        assert!(b[0].departs_at >= a[0].arrives_at + Duration::minutes(30));
        assert!(legacy_segments("d", now).is_err());
    }
}
