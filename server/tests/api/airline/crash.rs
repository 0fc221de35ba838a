//! A flight cancelled while a booking on it is between its holds and its commit, and the
//! flight's owner SIGKILLed right after the cancellation: once it is back, the booking is sold
//! and disrupted everywhere, and cancelling it frees every seat. No seat lost, none sold twice.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::staff_helpers::*;

#[tokio::test]
async fn an_owner_killed_after_cancelling_a_flight_with_a_booking_in_flight_ends_disrupted_everywhere() {
    let mut fed = ProcessFederation::start(Options::empty().with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "2500")).await;
    let client = Client::default();
    let (a, b, c) = (fed.url("a"), fed.url("b"), fed.url("c"));
    let staff = staff_token(&client, fed.db("a"), "a", &a).await;
    let start = t0();
    let flight =
        publish_one(&client, &a, &staff, new_segment("KX1", "Pelotas", "Rio Grande", start, "200.00", 5)).await;
    seed_segments(fed.db("b"), &[departure("B9-1", "Rio Grande", "Torres", start, 150, 60, 10000)], 5).await;
    let token = client.passenger(&c).await;

    // c coordinates: it holds at a and at b, then pauses before deciding.
    let booking = {
        let (client, c, token, flight) = (client.clone(), c.clone(), token.clone(), flight.clone());
        tokio::spawn(async move {
            let legs = json!([{"airline": "a", "segment_id": flight, "seat": "4A"}, {"airline": "b", "segment_id": "B9-1", "seat": "4A"}]);
            client
                .try_send(
                    client.http.post(format!("{c}/api/v1/bookings")).bearer_auth(&token).json(&json!({ "legs": legs })),
                )
                .await
        })
    };
    let held =
        eventually(Duration::from_secs(10), || async { seat_state(fed.db("a"), &flight, "4A").await.0 == "held" })
            .await;
    assert!(held, "a holds the seat for the booking");
    let cancelled = cancel_flight(&client, &a, &staff, &flight, "Runway closed").await;
    assert_eq!((cancelled.status, &cancelled.body["disrupted_passes"]), (200, &json!(0)), "{}", cancelled.body);
    fed.server("a").kill();

    // Both holds were granted before the cancellation: c commits (a yes vote cannot be taken
    // back), and its commit reaches a only when a is back.
    let answer = booking.await.unwrap().expect("c answers");
    assert_eq!(answer.status, 201, "{}", answer.body);
    let pass_id = answer.body["pass_id"].as_str().unwrap().to_owned();
    fed.server("a").restart().await;

    for base in [&a, &b, &c] {
        let disrupted = eventually(Duration::from_secs(20), || async {
            pass_status(&client, base, &token, &pass_id).await["status"] == "disrupted"
        })
        .await;
        assert!(disrupted, "disrupted at {base}: {}", pass_status(&client, base, &token, &pass_id).await);
    }
    let pass = pass_status(&client, &b, &token, &pass_id).await;
    assert_eq!(
        (pass["disruptions"][0]["leg"].as_u64(), pass["disruptions"][0]["reason"].as_str()),
        (Some(0), Some("Runway closed"))
    );
    assert_eq!(seat_state(fed.db("a"), &flight, "4A").await, ("sold".to_owned(), Some(pass_id.parse().unwrap())));
    assert!(seat_becomes(fed.db("b"), "B9-1", "4A", "sold").await);
    // Nothing else on the flight sells, before or after the restart.
    let refused = client.book(&b, &token, &[("a", &flight, "5A")]).await;
    assert_ne!(refused.status, 201, "{}", refused.body);

    // The passenger cancels at b: both seats are freed at their owners.
    assert_eq!(client.delete(&format!("{b}/api/v1/passes/{pass_id}"), Some(&token)).await.status, 200);
    let freed = eventually(Duration::from_secs(15), || async {
        seat_state(fed.db("a"), &flight, "4A").await.0 == "available"
            && seat_state(fed.db("b"), "B9-1", "4A").await.0 == "available"
    })
    .await;
    assert!(freed, "every seat of the cancelled pass is free again");
    for code in AIRLINES {
        let taken = fed.db(code).count("SELECT count(*) AS n FROM seats WHERE status <> 'available'").await;
        assert_eq!(taken, 0, "no seat left held or sold at {code}");
    }
}
