//! An Idempotency-Key whose booking failed with a 5xx, the database gone at its decision: the
//! retry books, instead of `request_in_progress` until recovery aborts the booking a minute later.

use std::time::{Duration, Instant};

use serde_json::json;

use super::database::{allow_connections, terminate_server_connections};
use crate::helpers::*;

#[tokio::test]
async fn a_key_whose_booking_failed_with_a_5xx_can_be_retried_at_once() {
    let options = Options::demo().with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "1500");
    let fed = TestFederation::start_airlines(&["a", "b"], options).await;
    let (client, a) = (fed.client(), fed.url("a"));
    let (a_db, b_db) = (&fed.app("a").db, &fed.app("b").db);
    let token = client.passenger(&a).await;
    let segment = first_segment(&client, &a, "b").await["segment_id"].as_str().unwrap().to_owned();
    let body = json!({"legs": [{"airline": "b", "segment_id": segment, "seat": "11E"}]});
    let post = || {
        let url = format!("{a}/api/v1/bookings");
        client.send(client.http.post(url).bearer_auth(&token).header("idempotency-key", "trip-1").json(&body))
    };

    // b holds the seat; then a's database goes away before a decides.
    let (first, ()) = tokio::join!(post(), async {
        let held =
            eventually(Duration::from_secs(10), || async { seat_state(b_db, &segment, "11E").await.0 == "held" });
        assert!(held.await, "b holds the seat");
        allow_connections(a_db, false).await;
        terminate_server_connections(a_db, 0).await;
    });
    first.assert_problem(503, "database_unavailable");
    allow_connections(a_db, true).await;

    let retrying = Instant::now();
    let mut answer = post().await;
    while answer.status != 201 && retrying.elapsed() < Duration::from_secs(15) {
        assert_eq!(answer.code(), "request_in_progress", "{}", answer.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
        answer = post().await;
    }
    assert_eq!(answer.status, 201, "the retry books: {}", answer.body);
    // The failed booking is over once its deadline (2.5 s by default) is: not a minute later.
    assert!(retrying.elapsed() < Duration::from_secs(10), "retried for {:?}", retrying.elapsed());
    let pass_id = answer.body["pass_id"].as_str().unwrap().to_owned();
    assert!(seat_becomes(b_db, &segment, "11E", "sold").await);
    let (status, owner) = seat_state(b_db, &segment, "11E").await;
    assert_eq!((status.as_str(), owner.map(|o| o.to_string())), ("sold", Some(pass_id)), "sold to the retry");
    let replay = post().await;
    assert_eq!((replay.status, replay.body.clone()), (201, answer.body), "and the key replays it");
    assert_eq!(a_db.count("SELECT count(*) AS n FROM passes").await, 1, "one pass for one key");
}
