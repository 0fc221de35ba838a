//! Price changes and cancelled flights: passes keep what they paid; a cancelled flight stops
//! selling at once and disrupts its passes at every airline, also the bookings in flight.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::staff_helpers::*;

/// a's published flight between b's and c's: Bage →b Pelotas →a Rio Grande →c Torres.
async fn three_airlines(fed: &TestFederation, staff_a: &str, rows: u32) -> [String; 3] {
    let start = t0();
    seed_segments(&fed.app("b").db, &[departure("B1-1", "Bage", "Pelotas", start, 0, 60, 10000)], rows).await;
    seed_segments(&fed.app("c").db, &[departure("C1-1", "Rio Grande", "Torres", start, 260, 60, 30000)], rows).await;
    let flight = new_segment("AX1", "Pelotas", "Rio Grande", start + chrono::Duration::minutes(120), "200.00", rows);
    let a_leg = publish_one(&fed.client(), &fed.url("a"), staff_a, flight).await;
    ["B1-1".to_owned(), a_leg, "C1-1".to_owned()]
}

#[tokio::test]
async fn a_price_change_does_not_change_the_price_of_passes_already_sold() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let (a, b, c) = (fed.url("a"), fed.url("b"), fed.url("c"));
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let id = publish_one(&client, &a, &staff, new_segment("PR1", "Lages", "Itajai", t0(), "100.00", 6)).await;
    let token = client.passenger(&b).await;
    let sold = client.book(&b, &token, &[("a", &id, "1A")]).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    let pass_id = sold.body["pass_id"].as_str().unwrap().to_owned();

    let url = format!("{a}/api/v1/airline/segments/{id}");
    let changed = client
        .send(
            client
                .http
                .patch(&url)
                .bearer_auth(&staff)
                .json(&json!({"price": {"amount": "150.00", "currency": "BRL"}})),
        )
        .await;
    assert_eq!((changed.status, &changed.body["price"]["amount"]), (200, &json!("150.00")), "{}", changed.body);

    for base in [&a, &b, &c] {
        let kept = eventually(Duration::from_secs(5), || async {
            let pass = pass_status(&client, base, &token, &pass_id).await;
            pass["legs"][0]["price"]["amount"] == "100.00" && pass["total_price"]["amount"] == "100.00"
        })
        .await;
        assert!(kept, "the pass at {base} keeps its price");
    }
    // Looked up fresh at the owner: the new price, and a new booking pays it.
    assert_eq!(client.get(&format!("{c}/api/v1/segments/a/{id}"), None).await.body["price"]["amount"], "150.00");
    let later = client.book(&c, &token, &[("a", &id, "2A")]).await;
    assert_eq!(later.body["total_price"]["amount"], "150.00", "{}", later.body);
    assert!(seat_becomes(&fed.app("a").db, &id, "2A", "sold").await, "a sells once c's pass reaches it");
    let sales = client.get(&format!("{a}/api/v1/airline/sales"), Some(&staff)).await;
    let row = &sales.body["segments"][0];
    assert_eq!((row["seats_sold"].as_i64(), &row["revenue"]["amount"]), (Some(2), &json!("250.00")), "{}", sales.body);
}

#[tokio::test]
async fn a_cancelled_flight_disrupts_its_passes_at_every_airline_and_the_rest_can_be_cancelled() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let (a, b, c) = (fed.url("a"), fed.url("b"), fed.url("c"));
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let legs = three_airlines(&fed, &staff, 5).await;
    let token = client.passenger(&b).await;
    let trip: Vec<(&str, &str, &str)> = vec![("b", &legs[0], "2C"), ("a", &legs[1], "2C"), ("c", &legs[2], "2C")];
    let sold = client.book(&b, &token, &trip).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    let pass_id = sold.body["pass_id"].as_str().unwrap().to_owned();
    assert!(seat_becomes(&fed.app("a").db, &legs[1], "2C", "sold").await, "a sells once b's pass reaches it");
    let other = client.passenger(&a).await;
    assert_eq!(client.book(&a, &other, &[("a", &legs[1], "3A")]).await.status, 201);

    let cancelled = cancel_flight(&client, &a, &staff, &legs[1], "Engine maintenance").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["disrupted_passes"], 2);

    for base in [&a, &b, &c] {
        let disrupted = eventually(Duration::from_secs(5), || async {
            pass_status(&client, base, &token, &pass_id).await["status"] == "disrupted"
        })
        .await;
        assert!(disrupted, "the pass is disrupted at {base}");
        let pass = pass_status(&client, base, &token, &pass_id).await;
        let why = &pass["disruptions"][0];
        assert_eq!((why["leg"].as_u64(), why["airline"].as_str()), (Some(1), Some("a")), "{pass}");
        assert_eq!(
            (why["segment_id"].as_str(), why["reason"].as_str()),
            (Some(legs[1].as_str()), Some("Engine maintenance"))
        );
    }
    // Its unsold seats stop selling at once, and it is no longer listed.
    let again = client.book(&b, &token, &[("a", &legs[1], "4D")]).await;
    assert!(matches!(again.code(), "flight_cancelled" | "invalid_itinerary"), "{}", again.body);
    assert_eq!(seat_state(&fed.app("a").db, &legs[1], "4D").await.0, "available");
    let listed = client.get(&format!("{c}/api/v1/segments?airline=a"), None).await;
    assert!(listed.body["segments"].as_array().unwrap().is_empty(), "{}", listed.body);
    client.get(&format!("{a}/api/v1/segments/a/{}", legs[1]), None).await.assert_problem(404, "not_found");
    let repeat = cancel_flight(&client, &a, &staff, &legs[1], "again").await;
    assert_eq!(
        (repeat.status, &repeat.body["reason"], &repeat.body["disrupted_passes"]),
        (200, &json!("Engine maintenance"), &json!(0))
    );
    let price = client
        .send(
            client
                .http
                .patch(format!("{a}/api/v1/airline/segments/{}", legs[1]))
                .bearer_auth(&staff)
                .json(&json!({"price": {"amount": "1.00", "currency": "BRL"}})),
        )
        .await;
    price.assert_problem(409, "flight_cancelled");

    // The passenger cancels the rest at c: every leg's seat is free again at its owner.
    let done = client.delete(&format!("{c}/api/v1/passes/{pass_id}"), Some(&token)).await;
    assert_eq!((done.status, &done.body["status"]), (200, &json!("cancelled")), "{}", done.body);
    for (airline, segment) in [("b", &legs[0]), ("a", &legs[1]), ("c", &legs[2])] {
        assert!(seat_freed(&fed.app(airline).db, segment, "2C").await, "seat 2C on {airline}/{segment} is free again");
    }
    for base in [&a, &b, &c] {
        let gone = eventually(Duration::from_secs(5), || async {
            pass_status(&client, base, &token, &pass_id).await["status"] == "cancelled"
        })
        .await;
        assert!(gone, "cancelled at {base}, never back to disrupted");
    }
}

#[tokio::test]
async fn a_flight_cancelled_while_bookings_on_it_are_in_flight_sells_nothing_but_disrupted_passes() {
    // Coordinators pause after the holds: some bookings hold a seat before the cancellation
    // commits and are committed after it.
    let fed = TestFederation::start(Options::empty().with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "1000")).await;
    let client = fed.client();
    let staff = staff_token(&client, &fed.app("a").db, "a", &fed.url("a")).await;
    let legs = three_airlines(&fed, &staff, 10).await;
    let flight = legs[1].clone();
    let tokens = [
        client.passenger(&fed.url("a")).await,
        client.passenger(&fed.url("b")).await,
        client.passenger(&fed.url("c")).await,
    ];
    let mut bookings = Vec::new();
    for i in 0..48usize {
        let seat = format!("{}{}", 1 + i / 6, ["A", "B", "C", "D", "E", "F"][i % 6]);
        let (coordinator, token) = (AIRLINES[i % 3], tokens[i % 3].clone());
        let (client, base, flight, onward) = (client.clone(), fed.url(coordinator), flight.clone(), legs[2].clone());
        bookings.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(8 * i as u64)).await;
            // Every other booking also takes the same seat on c's onward flight (two-phase).
            let mut trip = vec![("a", flight.as_str(), seat.as_str())];
            if i % 2 == 1 {
                trip.push(("c", onward.as_str(), seat.as_str()));
            }
            (client.try_send(client.http.post(format!("{base}/api/v1/bookings")).bearer_auth(&token).json(&json!({
                "legs": trip.iter().map(|(a, s, seat)| json!({"airline": a, "segment_id": s, "seat": seat})).collect::<Vec<_>>()
            }))).await, token)
        }));
    }
    let held = eventually(Duration::from_secs(5), || async {
        fed.app("a")
            .db
            .count(&format!("SELECT count(*) AS n FROM seats WHERE segment_id = '{flight}' AND status = 'held'"))
            .await
            > 0
    })
    .await;
    assert!(held, "some booking holds a seat on the flight");
    let cancel = cancel_flight(&client, &fed.url("a"), &staff, &flight, "Crew shortage").await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);

    let mut created: Vec<(Value, String)> = Vec::new();
    for booking in bookings {
        if let (Some(answer), token) = booking.await.unwrap() {
            assert!(answer.status == 201 || answer.status == 409 || answer.status == 400, "{}", answer.body);
            if answer.status == 201 {
                created.push((answer.body, token));
            }
        }
    }
    let quiet = eventually(Duration::from_secs(15), || async {
        let mut busy = 0;
        for code in AIRLINES {
            busy += fed.app(code).db.count("SELECT count(*) AS n FROM seats WHERE status = 'held'").await;
            busy += fed.app(code).db.count("SELECT count(*) AS n FROM outbox").await;
        }
        busy == 0
    })
    .await;
    assert!(quiet, "every booking settled and replicated");

    // Every seat sold on the flight belongs to a pass that is disrupted, everywhere.
    let sold = fed
        .app("a")
        .db
        .count(&format!("SELECT count(*) AS n FROM seats WHERE segment_id = '{flight}' AND status = 'sold'"))
        .await;
    let disrupted_later = created.iter().filter(|(p, _)| p["legs"].as_array().unwrap().len() == 2).count();
    assert_eq!(sold as usize, created.len(), "one seat per successful booking");
    let after = fed
        .app("a")
        .db
        .count(&format!(
            "SELECT count(*) AS n FROM events WHERE kind = 'sale' AND segment_id = '{flight}'
            AND id > (SELECT id FROM events WHERE kind = 'flight_cancelled')"
        ))
        .await;
    eprintln!(
        "{} bookings succeeded ({disrupted_later} two-phase, {after} sold after the cancellation); {} refused",
        created.len(),
        48 - created.len()
    );
    assert!(after >= 1, "a hold granted before the cancellation was sold after it, and disrupted");
    let mut seats = HashSet::new();
    for (pass, token) in &created {
        let pass_id = pass["pass_id"].as_str().unwrap();
        assert!(seats.insert(pass["legs"][0]["seat"].as_str().unwrap().to_owned()), "no seat sold twice");
        for code in AIRLINES {
            let status = pass_status(&client, &fed.url(code), token, pass_id).await;
            assert_eq!(status["status"], "disrupted", "pass {pass_id} at {code}: {status}");
        }
    }
    for code in AIRLINES {
        let confirmed = fed
            .app(code)
            .db
            .count(&format!(
                "SELECT count(*) AS n FROM passes WHERE status = 'confirmed' AND legs::text LIKE '%{flight}%'"
            ))
            .await;
        assert_eq!(confirmed, 0, "no confirmed pass on the cancelled flight at {code}");
    }
    // c's onward seats are sold exactly for the two-leg passes that succeeded.
    let onward_sold =
        fed.app("c").db.count("SELECT count(*) AS n FROM seats WHERE segment_id = 'C1-1' AND status = 'sold'").await;
    assert_eq!(onward_sold as usize, disrupted_later, "no onward seat lost or sold without its pass");
}
