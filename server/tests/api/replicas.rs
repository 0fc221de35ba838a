//! Two replicas of airline a on its one database behind a real HAProxy, one SIGKILLed while
//! multi-airline bookings run through HAProxy. The other replica's workers take over what the
//! dead one left (recovery, outbox), nothing is sold twice or half, every 201 holds everywhere,
//! and bookings go on through the same address.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::helpers::*;
use crate::invariants::{invariant_violations, quiet};

/// Recovery aborts an undecided booking this long after it began: the default, the booking
/// deadline (`PASSCOM_BOOKING_DEADLINE_MS`, 2.5 s) plus `PREPARE_MARGIN`.
fn prepare_timeout() -> Duration {
    Duration::from_millis(2500) + passcom_server::config::PREPARE_MARGIN
}
/// Recovery leaves a booking decided this long ago to its request (`recovery::GRACE`).
const RECOVERY_GRACE: Duration = Duration::from_secs(2);

/// When a request was sent, and its status (`None`: no answer).
type Sent = (Instant, Option<u16>);

#[tokio::test]
async fn a_replica_killed_mid_booking_leaves_nothing_half_done_and_bookings_go_on() {
    let options = Options::demo()
        .unlimited()
        .two_replicas_of_a()
        // Every booking stands still a moment after its holds and after its decision, so that
        // the kill finds bookings in both windows where a crash leaves work behind.
        .with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "300")
        .with("PASSCOM_FAULT_PAUSE_AFTER_DECISION_MS", "300");
    let mut fed = ProcessFederation::start(options).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let mut catalog = Vec::new();
    for (from, to, legs) in
        [("Porto%20Alegre", "Recife", 3), ("Porto%20Alegre", "Sao%20Paulo", 2), ("Curitiba", "Sao%20Paulo", 1)]
    {
        catalog.push(itinerary(&client, &a, from, to, legs).await);
    }
    assert!(catalog.iter().any(|legs| legs.iter().any(|(airline, _)| airline != "a")), "{catalog:?}");
    let seats: Vec<String> = (1..=12).flat_map(|row| ["A", "B", "C"].map(|l| format!("{row}{l}"))).collect();

    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let acknowledged: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(9);
    let lanes: Vec<_> = (0..12)
        .map(|_| {
            let (client, a, token, catalog, seats) =
                (client.clone(), a.clone(), token.clone(), catalog.clone(), seats.clone());
            let (sent, acknowledged) = (sent.clone(), acknowledged.clone());
            tokio::spawn(async move {
                while Instant::now() < stop_at {
                    let (legs, seat) = {
                        let mut rng = rand::thread_rng();
                        (catalog.choose(&mut rng).unwrap().clone(), seats.choose(&mut rng).unwrap().clone())
                    };
                    let at = Instant::now();
                    let answer = try_book(&client, &a, &token, &legs, &seat).await;
                    if let Some(pass) = answer.as_ref().filter(|a| a.status == 201) {
                        acknowledged.lock().await.push((pass.body["pass_id"].as_str().unwrap().to_owned(), false));
                    }
                    sent.lock().await.push((at, answer.map(|a| a.status)));
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(2500)).await;
    fed.server("a1").kill();
    let killed = Instant::now();
    let db = fed.db("a");
    let stuck: Vec<Uuid> = {
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        use passcom_server::schema::bookings;
        let mut conn = db.conn().await;
        bookings::table.filter(bookings::finished.eq(false)).select(bookings::booking_id).load(&mut conn).await.unwrap()
    };
    assert!(!stuck.is_empty(), "the kill found bookings in flight");
    let ids = stuck.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    let unfinished = format!("SELECT count(*) AS n FROM bookings WHERE NOT finished AND booking_id IN ({ids})");
    let held = format!("SELECT count(*) AS n FROM seats WHERE status = 'held' AND booking_id IN ({ids})");
    let finished = eventually(prepare_timeout() + Duration::from_secs(15), || async {
        db.count(&unfinished).await == 0
            && fed.db("b").count(&held).await == 0
            && fed.db("c").count(&held).await == 0
            && db.count(&held).await == 0
    })
    .await;
    let took = killed.elapsed();
    eprintln!("{} bookings in flight at the kill, finished everywhere {took:?} after it", stuck.len());
    assert!(finished, "the surviving replica finishes the dead one's bookings");
    // Undecided bookings are aborted once prepare_timeout() old, then their aborts go out after
    // the grace; a few recovery rounds of margin for a loaded machine.
    let bound = prepare_timeout() + RECOVERY_GRACE + Duration::from_secs(3);
    assert!(took < bound, "stuck bookings finished after {took:?}, the README promises under {bound:?}");

    for lane in lanes {
        lane.await.unwrap();
    }
    let sent = sent.lock().await;
    // HAProxy sees a dead replica within about 0.6 s; a request that reaches it before that is
    // refused a connection and sent to the other one.
    let after: Vec<_> = sent.iter().filter(|(at, _)| *at > killed + Duration::from_secs(1)).collect();
    let cut_off = sent.iter().filter(|(at, status)| *at <= killed && status.is_none_or(|s| s >= 500)).count();
    let refused: Vec<_> = after.iter().filter(|(_, status)| !matches!(status, Some(201 | 409))).collect();
    let booked_after = after.iter().filter(|(_, status)| *status == Some(201)).count();
    eprintln!(
        "{} bookings sent, {cut_off} in flight at the kill cut off, {} sent after it: {booked_after} booked",
        sent.len(),
        after.len()
    );
    assert!(refused.is_empty(), "every booking after the kill is answered 201 or 409: {refused:?}");
    assert!(booked_after >= 3, "bookings go on through HAProxy after the kill: {after:?}");

    assert!(eventually(Duration::from_secs(60), || quiet(&fed)).await, "the federation settles");
    let acknowledged = acknowledged.lock().await;
    let violations = invariant_violations(&fed, &acknowledged).await;
    assert!(violations.is_empty(), "invariant violations:\n{}", violations.join("\n"));
}
