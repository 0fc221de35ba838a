//! PostgreSQL going away under a running server, the way a restart looks from the server's
//! side: its connections terminated by an administrator (mid-statement and idle), then new ones
//! refused for a while. Only this test's own database is touched.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::helpers::*;

#[derive(diesel::QueryableByName)]
pub(super) struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub pid: i32,
}

async fn admin_conn() -> AsyncPgConnection {
    AsyncPgConnection::establish(&admin_url()).await.unwrap()
}

/// Terminates every connection to `db` but `spare`'s ("terminating connection due to
/// administrator command"), as a PostgreSQL restart does.
pub(super) async fn terminate_server_connections(db: &TestDb, spare: i32) {
    let sql = format!(
        "SELECT pg_terminate_backend(pid)::int AS pid FROM pg_stat_activity WHERE datname = '{}' AND pid <> {spare}",
        db.name
    );
    diesel::sql_query(sql).load::<Pid>(&mut admin_conn().await).await.unwrap();
}

/// Refuses (or allows again) new connections to `db`, as a PostgreSQL that is restarting does.
pub(super) async fn allow_connections(db: &TestDb, allowed: bool) {
    let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allowed}", db.name);
    diesel::sql_query(sql).execute(&mut admin_conn().await).await.unwrap();
}

async fn waiting_on_a_lock(db: &TestDb) -> bool {
    let sql = format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
        db.name
    );
    db.count(&sql).await > 0
}

#[tokio::test]
async fn a_database_restart_is_a_503_never_a_500_and_the_server_recovers() {
    let fed = TestFederation::start_airlines(&["a"], Options::demo()).await;
    let (client, a, db) = (fed.client(), fed.url("a"), &fed.app("a").db);
    let token = client.passenger(&a).await;
    let segment = first_segment(&client, &a, "a").await["segment_id"].as_str().unwrap().to_owned();

    // A booking whose UPDATE waits on a row we lock is mid-statement when its connection dies.
    let mut locker = db.conn().await;
    let locker_pid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(&mut locker).await.unwrap();
    locker
        .batch_execute(&format!("BEGIN; SELECT 1 FROM seats WHERE segment_id = '{segment}' AND seat = '3A' FOR UPDATE"))
        .await
        .unwrap();
    let booking = {
        let (client, a, token, segment) = (client.clone(), a.clone(), token.clone(), segment.clone());
        tokio::spawn(async move { client.book(&a, &token, &[("a", &segment, "3A")]).await })
    };
    assert!(eventually(Duration::from_secs(10), || waiting_on_a_lock(db)).await, "the booking waits on the row");
    terminate_server_connections(db, locker_pid.pid).await;
    let answer = booking.await.unwrap();
    answer.assert_problem(503, "database_unavailable");
    locker.batch_execute("ROLLBACK").await.unwrap();

    // New connections refused for a while, as while PostgreSQL starts again.
    allow_connections(db, false).await;
    terminate_server_connections(db, 0).await;
    drop(locker);
    for _ in 0..3 {
        let passes = client.get(&format!("{a}/api/v1/passes"), Some(&token)).await;
        passes.assert_problem(503, "database_unavailable");
        let booked = client.book(&a, &token, &[("a", &segment, "4A")]).await;
        booked.assert_problem(503, "database_unavailable");
    }
    let ready = client.get(&format!("{a}/readyz"), None).await;
    assert_eq!((ready.status, ready.body["checks"]["database"].as_bool()), (503, Some(false)), "{}", ready.body);

    allow_connections(db, true).await;
    let back = eventually(Duration::from_secs(10), || async {
        let answer = client.book(&a, &token, &[("a", &segment, "3A")]).await;
        assert_ne!(answer.status, 500, "{}", answer.body);
        answer.status == 201
    })
    .await;
    assert!(back, "bookings work again once the database is back");
    assert_eq!(seats_not_available(db).await, 1, "only the booking after the outage took a seat");
}
