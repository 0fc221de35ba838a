//! Holds that cannot outlive their booking: a hold delayed in the network past its booking's
//! deadline, and a participant that does not answer at all. The client has its answer within
//! the booking's deadline, and the seat is never blocked for a booking that is over.

use std::time::{Duration, Instant};

use super::proxy::{Link, Proxy};
use crate::helpers::*;

/// a and b with short booking deadlines, where a reaches b only through a proxy; a
/// passenger's token at a and one of b's segments.
async fn a_and_b_through_a_proxy() -> (Proxy, TestFederation, String, String) {
    let proxy = Proxy::start().await;
    let fed = TestFederation::start_airlines(&["a", "b"], fast_booking().via("a", "b", proxy.port)).await;
    proxy.forward_to(&fed.url("b"));
    let (client, a) = (fed.client(), fed.url("a"));
    let token = client.passenger(&a).await;
    let segment = first_segment(&client, &a, "b").await["segment_id"].as_str().unwrap().to_owned();
    (proxy, fed, token, segment)
}

fn fast_booking() -> Options {
    Options::demo().with("PASSCOM_BOOKING_DEADLINE_MS", "1000").with("PASSCOM_HOLD_CHECK_SECS", "3")
}

#[tokio::test]
async fn a_hold_delivered_after_its_deadline_does_not_block_the_seat() {
    let (proxy, fed, token, segment) = a_and_b_through_a_proxy().await;
    let (client, a) = (fed.client(), fed.url("a"));

    // The hold sits in the link for 5 s; the link is healthy again before the coordinator's
    // abort is sent, so the abort overtakes the hold, as in the fault campaign.
    proxy.set(Link::Stall(Duration::from_secs(5)));
    let started = Instant::now();
    let legs = [("b", segment.as_str(), "7C")];
    let (answer, ()) = tokio::join!(client.book(&a, &token, &legs), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        proxy.set(Link::Pass);
    });
    let took = started.elapsed();
    answer.assert_problem(503, "airline_unavailable");
    eprintln!("a booking through a stalled link answered in {took:?}");
    assert!(took < Duration::from_millis(2500), "the client waited {took:?} for a stalled participant");

    // However the late hold lands (about 5 s after the request), the seat is free again soon,
    // with no pass anywhere.
    tokio::time::sleep_until((started + Duration::from_secs(7)).into()).await;
    let b_db = &fed.app("b").db;
    let free = seat_freed(b_db, &segment, "7C").await;
    assert!(free, "the seat is free again: {:?}", seat_state(b_db, &segment, "7C").await);
    let other = client.passenger(&a).await;
    let booked = client.book(&a, &other, &[("b", &segment, "7C")]).await;
    assert_eq!(booked.status, 201, "another passenger gets the seat: {}", booked.body);
}

#[tokio::test]
async fn a_hung_participant_costs_the_client_the_booking_deadline_not_two_timeouts() {
    let (proxy, fed, token, segment) = a_and_b_through_a_proxy().await;
    let (client, a) = (fed.client(), fed.url("a"));

    proxy.set(Link::BlackHole);
    let started = Instant::now();
    let answer = client.book(&a, &token, &[("b", &segment, "8C")]).await;
    let took = started.elapsed();
    answer.assert_problem(503, "airline_unavailable");
    eprintln!("a booking needing a hung participant answered in {took:?}");
    assert!(took < Duration::from_millis(2500), "the client waited {took:?} for a hung participant");

    // Answers lost: the hold lands at b but a never hears of it, nor of its aborts; once the
    // link heals, every hold that landed is freed.
    proxy.set(Link::DropAnswers);
    let dropped = client.book(&a, &token, &[("b", &segment, "9C")]).await;
    dropped.assert_problem(503, "airline_unavailable");
    let b_db = &fed.app("b").db;
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.set(Link::Pass);
    let freed = eventually(Duration::from_secs(15), || async {
        seat_state(b_db, &segment, "8C").await.0 == "available"
            && seat_state(b_db, &segment, "9C").await.0 == "available"
    });
    assert!(freed.await, "both seats are free again");
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM passes").await, 0, "no pass was made");
}

#[tokio::test]
async fn a_participant_asks_about_an_old_hold_long_before_its_ttl() {
    let fed = TestFederation::start_airlines(&["a", "b"], fast_booking()).await;
    let (client, a) = (fed.client(), fed.url("a"));
    let segment = first_segment(&client, &a, "b").await["segment_id"].as_str().unwrap().to_owned();
    // A hold taken 20 s ago for a booking a never decided (its intent lost with a crash, say):
    // its TTL has ten minutes to run.
    let b_db = &fed.app("b").db;
    let hold = format!(
        "UPDATE seats SET status = 'held', booking_id = gen_random_uuid(), coordinator = 'a', \
         held_until = now() + interval '580 seconds' WHERE segment_id = '{segment}' AND seat = '5D' \
         RETURNING 1::bigint AS n"
    );
    assert_eq!(b_db.count(&hold).await, 1);
    assert!(seat_freed(b_db, &segment, "5D").await, "b asked a, which knows no such booking, and freed the seat");
}
