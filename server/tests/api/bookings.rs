//! Booking across airlines, against in-process servers: races, idempotency, passes,
//! cancellation, hostile bodies, and the failures of Redis and of the lock itself.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

fn legs_of(itinerary: &[(String, String)], seats: &[&str]) -> Vec<(String, String, String)> {
    itinerary.iter().zip(seats).map(|((a, s), seat)| (a.clone(), s.clone(), (*seat).to_owned())).collect()
}

async fn book_legs(client: &Client, base: &str, token: &str, legs: &[(String, String, String)]) -> Answer {
    let legs: Vec<(&str, &str, &str)> =
        legs.iter().map(|(a, s, seat)| (a.as_str(), s.as_str(), seat.as_str())).collect();
    client.book(base, token, &legs).await
}

#[tokio::test]
async fn thirty_buys_of_one_seat_at_each_server_sell_it_once() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let segment = first_segment(&client, &fed.url("a"), "b").await;
    let segment_id = segment["segment_id"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for code in ["a", "b", "c"] {
        tokens.push((fed.url(code), client.passenger(&fed.url(code)).await));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(90));
    let mut attempts = Vec::new();
    for (base, token) in &tokens {
        for _ in 0..30 {
            let (client, barrier, segment_id) = (client.clone(), barrier.clone(), segment_id.clone());
            attempts.push(async move {
                barrier.wait().await;
                client.book(base, token, &[("b", &segment_id, "7C")]).await
            });
        }
    }
    let answers = join_all(attempts).await;
    let created: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    let conflicts =
        answers.iter().filter(|a| a.status == 409 && ["seat_locked", "seat_taken"].contains(&a.code())).count();
    assert_eq!(created.len(), 1, "exactly one sale");
    assert_eq!(conflicts, 89, "every other buyer gets a clear 409");
    for loser in answers.iter().filter(|a| a.status == 409) {
        loser.assert_problem(409, loser.code());
        assert_eq!(loser.body["leg"], 0, "the refusal names the leg");
    }
    let pass_id = created[0].body["pass_id"].as_str().unwrap();
    assert_eq!(created[0].headers["location"], format!("/api/v1/passes/{pass_id}").as_str());
    assert!(seat_becomes(&fed.app("b").db, &segment_id, "7C", "sold").await);
    let (status, booking) = seat_state(&fed.app("b").db, &segment_id, "7C").await;
    assert_eq!((status.as_str(), booking.map(|b| b.to_string())), ("sold", Some(pass_id.to_owned())));
    assert_eq!(seats_not_available(&fed.app("b").db).await, 1, "nothing else is held or sold");
    assert_eq!(redis_locks(&fed.prefix).await, 0, "every lock was released");
    // The pass reaches the other airlines through its seller's outbox, a moment after the sale.
    let stored = format!("SELECT count(*) AS n FROM passes WHERE pass_id = '{pass_id}'");
    for app in &fed.apps {
        assert!(app.db.count_becomes(&stored, 1).await, "the pass is stored at {}", app.airline);
    }
}

#[tokio::test]
async fn of_two_overlapping_itineraries_one_wins_and_the_loser_leaves_nothing() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let route = itinerary(&client, &fed.url("a"), "Porto%20Alegre", "Recife", 3).await;
    let (ta, tc) = (client.passenger(&fed.url("a")).await, client.passenger(&fed.url("c")).await);
    for (round, (first, second)) in [("1A", "1B"), ("2A", "2B"), ("3A", "3B")].into_iter().enumerate() {
        // Both want the same seat on the middle leg; each has its own seats elsewhere.
        let one = legs_of(&route, &[first, "9F", first]);
        let two = legs_of(&route, &[second, "9F", second]);
        let middle = &route[1];
        let (url_a, url_c) = (fed.url("a"), fed.url("c"));
        let (x, y) = tokio::join!(book_legs(&client, &url_a, &ta, &one), book_legs(&client, &url_c, &tc, &two));
        let winners = [&x, &y].iter().filter(|a| a.status == 201).count();
        assert!(winners <= 1, "round {round}: both won");
        for answer in [&x, &y] {
            assert!(answer.status == 201 || answer.status == 409, "round {round}: {}", answer.body);
        }
        if winners == 1 {
            let loser_seats = if x.status == 201 { &two } else { &one };
            for (airline, segment, seat) in [&loser_seats[0], &loser_seats[2]] {
                // The loser's answer waits for its aborts only so long; recovery sends the rest.
                assert!(
                    seat_freed(&fed.app(airline).db, segment, seat).await,
                    "round {round}: the loser's {airline} seat is free again"
                );
            }
        }
        let expected = if winners == 1 { "sold" } else { "available" };
        assert!(seat_becomes(&fed.app(&middle.0).db, &middle.1, "9F", expected).await, "round {round}: {expected}");
        // The next round starts from a free middle seat, so that there is a race again.
        if winners == 1 {
            let winner = if x.status == 201 { (&x, &ta) } else { (&y, &tc) };
            let pass_id = winner.0.body["pass_id"].as_str().unwrap();
            pass_arrives(&client, &fed.url("b"), winner.1, pass_id).await;
            assert_eq!(
                client.delete(&format!("{}/api/v1/passes/{pass_id}", fed.url("b")), Some(winner.1)).await.status,
                200
            );
            assert!(seat_freed(&fed.app(&middle.0).db, &middle.1, "9F").await);
        }
    }
    assert_eq!(redis_locks(&fed.prefix).await, 0);
    for app in &fed.apps {
        assert_eq!(
            app.db.count("SELECT count(*) AS n FROM seats WHERE status = 'held'").await,
            0,
            "no hold left at {}",
            app.airline
        );
    }
}

#[tokio::test]
async fn a_seat_refused_by_another_owner_is_named_by_its_leg_of_the_itinerary() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let a = fed.url("a");
    let route = itinerary(&client, &a, "Porto%20Alegre", "Recife", 3).await;
    let legs = legs_of(&route, &["5D", "5D", "5D"]);
    let (leg, (owner, segment, seat)) =
        legs.iter().enumerate().skip(1).find(|(_, (airline, _, _))| airline != "a").expect("a later leg not at a");
    let sold = client
        .book(
            &fed.url(owner),
            &client.passenger(&fed.url(owner)).await,
            &[(owner.as_str(), segment.as_str(), seat.as_str())],
        )
        .await;
    assert_eq!(sold.status, 201, "{}", sold.body);

    // The owner refuses the first (and only) seat it was asked to hold; the passenger hears
    // of the itinerary's leg, in the field and in the words alike.
    let answer = book_legs(&client, &a, &client.passenger(&a).await, &legs).await;
    answer.assert_problem(409, "seat_taken");
    assert_eq!((answer.body["leg"].clone(), answer.body["airline"].clone()), (json!(leg), json!(owner)));
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with(&format!("leg {leg}: seat {seat} on {owner}/{segment}")), "{detail}");
}

#[tokio::test]
async fn a_coordinator_refusing_its_own_seat_aborts_the_holds_elsewhere() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let a = fed.url("a");
    let route = itinerary(&client, &a, "Porto%20Alegre", "Recife", 3).await;
    let legs = legs_of(&route, &["4D", "4D", "4D"]);
    let own = legs.iter().position(|(airline, _, _)| airline == "a").expect("the route has a leg at a");
    let token = client.passenger(&a).await;
    // Someone else already bought the seat of the itinerary's leg at a, through b.
    let (_, segment, seat) = &legs[own];
    let first = client.book(&fed.url("b"), &client.passenger(&fed.url("b")).await, &[("a", segment, seat)]).await;
    assert_eq!(first.status, 201, "{}", first.body);

    // a holds the other legs first and sells its own in the decision, which is refused.
    let answer = book_legs(&client, &a, &token, &legs).await;
    answer.assert_problem(409, "seat_taken");
    assert_eq!((answer.body["leg"].clone(), answer.body["airline"].clone()), (json!(own), json!("a")));
    for (airline, segment, seat) in legs.iter().filter(|(airline, _, _)| airline != "a") {
        assert!(seat_freed(&fed.app(airline).db, segment, seat).await, "the hold at {airline} is given back");
    }
    let aborted = "SELECT count(*) AS n FROM bookings WHERE state = 'aborted' AND finished";
    assert!(
        fed.app("a").db.count_becomes(aborted, 1).await,
        "the coordinator logged the abort and every owner acknowledged it"
    );
    let passes = client.get(&format!("{a}/api/v1/passes"), Some(&token)).await;
    assert_eq!(passes.body["passes"], json!([]), "no pass for the refused itinerary");
    assert_eq!(redis_locks(&fed.prefix).await, 0);
}

#[tokio::test]
async fn a_booking_too_slow_to_decide_is_abandoned_everywhere() {
    // The coordinator stalls after the holds for longer than recovery lets a booking prepare.
    let options =
        Options::demo().with("PASSCOM_PREPARE_TIMEOUT_SECS", "1").with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "2500");
    let fed = TestFederation::start(options).await;
    let client = fed.client();
    let a = fed.url("a");
    let route = itinerary(&client, &a, "Porto%20Alegre", "Recife", 3).await;
    let legs = legs_of(&route, &["6B", "6B", "6B"]);
    let token = client.passenger(&a).await;

    let answer = book_legs(&client, &a, &token, &legs).await;
    answer.assert_problem(503, "booking_timed_out");
    for (airline, segment, seat) in &legs {
        let (status, _) = seat_state(&fed.app(airline).db, segment, seat).await;
        assert_eq!(status, "available", "nothing is held or sold at {airline}");
    }
    let aborted = fed.app("a").db.count("SELECT count(*) AS n FROM bookings WHERE state = 'aborted'").await;
    assert_eq!(aborted, 1, "recovery's abort stands; the late coordinator did not commit");
    let passes = client.get(&format!("{a}/api/v1/passes"), Some(&token)).await;
    assert_eq!(passes.body["passes"], json!([]));
}

#[tokio::test]
async fn passes_are_everywhere_and_only_their_owner_sees_or_cancels_them() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let route = itinerary(&client, &fed.url("b"), "Porto%20Alegre", "Recife", 3).await;
    let token = client.passenger(&fed.url("b")).await;
    let stranger = client.passenger(&fed.url("a")).await;
    let legs = legs_of(&route, &["4D", "4D", "4D"]);
    let booked = book_legs(&client, &fed.url("b"), &token, &legs).await;
    assert_eq!(booked.status, 201, "{}", booked.body);
    let pass = booked.body.clone();
    assert_eq!((pass["status"].as_str(), pass["sold_by"].as_str()), (Some("confirmed"), Some("b")));
    assert_eq!(pass["legs"].as_array().unwrap().len(), 3);
    let cents: i64 = pass["legs"].as_array().unwrap().iter().map(|l| cents_of(&l["price"])).sum();
    assert_eq!(cents_of(&pass["total_price"]), cents);
    let pass_id = pass["pass_id"].as_str().unwrap().to_owned();
    for (airline, segment, seat) in &legs {
        assert!(seat_becomes(&fed.app(airline).db, segment, seat, "sold").await, "{airline} sold its leg");
    }

    for code in ["a", "b", "c"] {
        let url = fed.url(code);
        let arrived = eventually(Duration::from_secs(10), || async {
            client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&token)).await.status == 200
        })
        .await;
        assert!(arrived, "the pass reached {code}");
        let one = client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&token)).await;
        assert_eq!(one.body, pass, "the same pass at {code}");
        let list = client.get(&format!("{url}/api/v1/passes"), Some(&token)).await;
        assert_eq!(list.body["passes"], json!([pass.clone()]));
        client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&stranger)).await.assert_problem(404, "not_found");
        assert_eq!(client.get(&format!("{url}/api/v1/passes"), Some(&stranger)).await.body["passes"], json!([]));
        client
            .delete(&format!("{url}/api/v1/passes/{pass_id}"), Some(&stranger))
            .await
            .assert_problem(404, "not_found");
    }
    client.get(&format!("{}/api/v1/passes", fed.url("a")), None).await.assert_problem(401, "unauthorized");
    client
        .get(&format!("{}/api/v1/passes/not-a-uuid", fed.url("a")), Some(&token))
        .await
        .assert_problem(400, "invalid_path");

    let cancelled = client.delete(&format!("{}/api/v1/passes/{pass_id}", fed.url("c")), Some(&token)).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")));
    let again = client.delete(&format!("{}/api/v1/passes/{pass_id}", fed.url("c")), Some(&token)).await;
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("cancelled")), "cancelling twice is harmless");
    for (airline, segment, seat) in &legs {
        let freed = eventually(Duration::from_secs(10), || async {
            seat_state(&fed.app(airline).db, segment, seat).await == ("available".to_owned(), None)
        })
        .await;
        assert!(freed, "{airline} freed its seat");
    }
    for code in ["a", "b", "c"] {
        let url = fed.url(code);
        let shown = eventually(Duration::from_secs(10), || async {
            client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&token)).await.body["status"] == "cancelled"
        })
        .await;
        assert!(shown, "cancelled at {code}");
    }
    // The seat can be sold again.
    let rebooked = book_legs(&client, &fed.url("a"), &stranger, &legs).await;
    assert_eq!(rebooked.status, 201, "{}", rebooked.body);
}

fn cents_of(money: &Value) -> i64 {
    let (units, cents) = money["amount"].as_str().unwrap().split_once('.').unwrap();
    units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let segment = first_segment(&client, &fed.url("a"), "c").await;
    let segment_id = segment["segment_id"].as_str().unwrap();
    let token = client.passenger(&fed.url("a")).await;
    let url = format!("{}/api/v1/bookings", fed.url("a"));
    let body = json!({"legs": [{"airline": "c", "segment_id": segment_id, "seat": "12B"}]});
    let post = |key: &'static str, body: Value| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            client.send(client.http.post(&url).bearer_auth(&token).header("idempotency-key", key).json(&body)).await
        }
    };
    let first = post("order-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retries = join_all((0..3).map(|_| post("order-1", body.clone()))).await;
    for retry in &retries {
        assert!(retry.status == 201 || retry.code() == "request_in_progress", "{}", retry.body);
        if retry.status == 201 {
            assert_eq!(retry.body, first.body, "the same pass, not a second one");
            assert_eq!(retry.headers["idempotent-replayed"], "true");
        }
    }
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM bookings").await, 1, "one booking for one key");
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM passes").await, 1);

    let other = json!({"legs": [{"airline": "c", "segment_id": segment_id, "seat": "12C"}]});
    post("order-1", other).await.assert_problem(422, "idempotency_key_reused");

    // A refusal is an answer too, and is replayed as such.
    let taken = post("order-2", body.clone()).await;
    taken.assert_problem(409, "seat_taken");
    let replay = post("order-2", body.clone()).await;
    assert_eq!((replay.status, replay.body.clone()), (409, taken.body.clone()));
    let bad_key =
        client.send(client.http.post(&url).bearer_auth(&token).header("idempotency-key", "").json(&body)).await;
    bad_key.assert_problem(400, "invalid_header");
}

#[tokio::test]
async fn hostile_booking_bodies_get_a_4xx_and_hold_nothing() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    let route = itinerary(&client, &base, "Porto%20Alegre", "Recife", 3).await;
    let leg = |i: usize, seat: &str| json!({"airline": route[i].0, "segment_id": route[i].1, "seat": seat});
    let later = itinerary(&client, &base, "Sao%20Paulo", "Belo%20Horizonte", 1).await;
    let seven: Vec<Value> =
        (0..7).map(|i| json!({"airline": "a", "segment_id": format!("X-{i}"), "seat": "1A"})).collect();
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"legs": "everything"}), 400, "invalid_body"),
        (json!({"legs": [{"airline": 1, "segment_id": route[0].1, "seat": "1A"}]}), 400, "invalid_body"),
        (json!({"legs": [{"airline": "a", "segment_id": route[0].1}]}), 400, "invalid_body"),
        (json!({"legs": [leg(0, "1A")], "price": "0.00"}), 400, "invalid_body"),
        (json!({"legs": []}), 400, "invalid_itinerary"),
        (json!({ "legs": seven }), 400, "invalid_itinerary"),
        (json!({"legs": [{"airline": "zz", "segment_id": route[0].1, "seat": "1A"}]}), 400, "invalid_itinerary"),
        (json!({"legs": [{"airline": route[0].0, "segment_id": "NO-SUCH-1", "seat": "1A"}]}), 400, "invalid_itinerary"),
        (json!({"legs": [leg(0, "99Z")]}), 400, "invalid_itinerary"),
        (json!({"legs": [leg(0, "A1")]}), 400, "invalid_body"),
        (json!({"legs": [leg(0, "1A"), leg(2, "1A")]}), 400, "invalid_itinerary"),
        (json!({"legs": [leg(1, "1A"), leg(0, "1A")]}), 400, "invalid_itinerary"),
        (json!({"legs": [leg(0, "1A"), leg(0, "1B")]}), 400, "invalid_itinerary"),
        (
            json!({"legs": [leg(0, "1A"), {"airline": later[0].0, "segment_id": later[0].1, "seat": "1A"}]}),
            400,
            "invalid_itinerary",
        ),
    ];
    for (body, status, code) in &cases {
        let answer = client.post(&format!("{base}/api/v1/bookings"), Some(&token), body).await;
        assert_eq!((answer.status, answer.code()), (*status, *code), "{body}: {}", answer.body);
        answer.assert_problem(*status, code);
    }
    let answer = client.post(&format!("{base}/api/v1/bookings"), None, &json!({"legs": [leg(0, "1A")]})).await;
    answer.assert_problem(401, "unauthorized");
    let huge = client
        .send(
            client
                .http
                .post(format!("{base}/api/v1/bookings"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(vec![b'['; 3 << 20]),
        )
        .await;
    huge.assert_problem(413, "payload_too_large");
    for app in &fed.apps {
        assert_eq!(seats_not_available(&app.db).await, 0, "nothing held or sold at {}", app.airline);
        assert_eq!(app.db.count("SELECT count(*) AS n FROM passes").await, 0);
    }
    assert_eq!(redis_locks(&fed.prefix).await, 0);
}

#[tokio::test]
async fn an_expired_lock_cannot_cause_a_double_sale() {
    // Locks expire after 200 ms while every coordinator pauses 1.5 s between prepare and
    // decision: the second buyer gets the lock, and the owner's database refuses it.
    let options =
        Options::demo().with("PASSCOM_LOCK_TTL_MS", "200").with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "1500");
    let fed = TestFederation::start(options).await;
    let client = fed.client();
    let segment = first_segment(&client, &fed.url("a"), "b").await;
    let segment_id = segment["segment_id"].as_str().unwrap().to_owned();
    let (ta, tc) = (client.passenger(&fed.url("a")).await, client.passenger(&fed.url("c")).await);
    let first = {
        let (client, url, segment_id, ta) = (client.clone(), fed.url("a"), segment_id.clone(), ta.clone());
        tokio::spawn(async move { client.book(&url, &ta, &[("b", &segment_id, "5E")]).await })
    };
    let held = eventually(Duration::from_secs(5), || async {
        seat_state(&fed.app("b").db, &segment_id, "5E").await.0 == "held"
    })
    .await;
    assert!(held);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(redis_locks(&fed.prefix).await, 0, "the first buyer's lock has expired");
    let second = client.book(&fed.url("c"), &tc, &[("b", &segment_id, "5E")]).await;
    second.assert_problem(409, "seat_taken");
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(seat_becomes(&fed.app("b").db, &segment_id, "5E", "sold").await);
    let (status, booking) = seat_state(&fed.app("b").db, &segment_id, "5E").await;
    assert_eq!(
        (status.as_str(), booking.map(|b| b.to_string())),
        ("sold", first.body["pass_id"].as_str().map(str::to_owned))
    );
}

#[tokio::test]
async fn without_redis_bookings_fail_fast_and_reads_still_work() {
    let port = free_port();
    let mut redis = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let redis_url = format!("redis://127.0.0.1:{port}");
    let up = eventually(Duration::from_secs(5), || async {
        match redis::Client::open(redis_url.as_str()).unwrap().get_multiplexed_async_connection().await {
            Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(up, "a private Redis for this test");
    let fed = TestFederation::start(Options::demo().with("REDIS_URL", redis_url.clone())).await;
    let client = fed.client();
    let token = client.passenger(&fed.url("a")).await;
    let segment = first_segment(&client, &fed.url("a"), "b").await;
    let segment_id = segment["segment_id"].as_str().unwrap().to_owned();
    assert_eq!(client.book(&fed.url("a"), &token, &[("b", &segment_id, "1A")]).await.status, 201);

    redis.kill().unwrap();
    redis.wait().unwrap();
    let refused = client.book(&fed.url("a"), &token, &[("b", &segment_id, "2A")]).await;
    refused.assert_problem(503, "lock_service_unavailable");
    assert_eq!(seats_not_available(&fed.app("b").db).await, 1, "only the earlier sale; nothing held");
    let ready = client.get(&format!("{}/readyz", fed.url("a")), None).await;
    assert_eq!((ready.status, ready.body["checks"]["redis"].clone()), (503, json!(false)));
    assert_eq!(client.get(&format!("{}/api/v1/segments", fed.url("a")), None).await.status, 200, "reads work");
    assert_eq!(client.get(&format!("{}/api/v1/passes", fed.url("a")), Some(&token)).await.status, 200);
    assert_eq!(
        client.get(&format!("{}/api/v1/routes?origin=Recife&destination=Salvador", fed.url("c")), None).await.status,
        200
    );
}
