//! The loader against a real PostgreSQL (`PASSCOM_TEST_DATABASE_URL`, an admin URL): a scratch
//! database migrated with the server's own migrations, dropped afterwards.

// A harness that cannot set up its world should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Duration, Utc};
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use passcom_seed::load_timetable;
use passcom_seed::scale::scale_timetable;

fn admin_url() -> String {
    std::env::var("PASSCOM_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:54329/postgres".into())
}

/// Runs `test` against a migrated database of its own, dropped afterwards, also when `test`
/// panics (the panic is then passed on).
async fn with_scratch_db<F, Fut>(test: F)
where
    F: FnOnce(AsyncPgConnection) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("passcom_seed_test_{}_{nanos}", std::process::id());
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("{}/{name}", admin_url().rsplit_once('/').unwrap().0);
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut dirs: Vec<_> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        conn.batch_execute(&std::fs::read_to_string(dir.join("up.sql")).unwrap()).await.unwrap();
    }
    let outcome = tokio::spawn(test(conn)).await;
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    segments: i64,
    #[diesel(sql_type = BigInt)]
    seats: i64,
    #[diesel(sql_type = BigInt)]
    wrong_totals: i64,
}

#[tokio::test]
async fn the_scale_schedule_loads_once_with_full_seat_maps() {
    with_scratch_db(|conn| async move { loads_once_with_full_seat_maps(conn).await }).await;
}

async fn loads_once_with_full_seat_maps(mut conn: AsyncPgConnection) {
    let mut timetable = scale_timetable("b").unwrap();
    timetable.days = 2;
    let now = Utc::now();
    let first = load_timetable(&mut conn, &timetable, now).await.unwrap();
    assert!(first.segments >= 2 * 250, "{first:?}");
    assert_eq!(first.seats, first.segments * 180);

    let again = load_timetable(&mut conn, &timetable, now).await.unwrap();
    assert_eq!((again.segments, again.seats), (0, 0), "a second load changes nothing");
    // A day later, the loader adds the new day and skips the rest.
    let later = load_timetable(&mut conn, &timetable, now + Duration::days(1)).await.unwrap();
    assert!(later.segments >= 250 && later.segments < first.segments, "{later:?}");

    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM segments) AS segments, (SELECT count(*) FROM seats) AS seats,
                (SELECT count(*) FROM segments s
                  WHERE seats_total <> (SELECT count(*) FROM seats t WHERE t.segment_id = s.segment_id)) AS wrong_totals",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(counts.segments as usize, first.segments + later.segments);
    assert_eq!(counts.seats as usize, counts.segments as usize * 180);
    assert_eq!(counts.wrong_totals, 0, "seats_total matches the seat map");
}
