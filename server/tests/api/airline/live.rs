//! Live events (staff and passengers, Server-Sent Events) and sales figures.

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::staff_helpers::*;

const LETTERS: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

/// Books the seats of `rows` (whole rows of six, then `extra` seats of the next row) at `base`
/// in parties of at most nine; returns the pass ids.
async fn sell(client: &Client, base: &str, token: &str, segment: &str, seats: &[String]) -> Vec<String> {
    let mut passes = Vec::new();
    for party in seats.chunks(9) {
        let passengers: Vec<Value> = (0..party.len()).map(|i| json!({"name": format!("P{i}")})).collect();
        let body = json!({"passengers": passengers, "legs": [{"airline": "a", "segment_id": segment, "seats": party}]});
        let answer = client.post(&format!("{base}/api/v1/bookings"), Some(token), &body).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        passes.push(answer.body["pass_id"].as_str().unwrap().to_owned());
    }
    passes
}

fn seats(from: usize, count: usize) -> Vec<String> {
    (from..from + count).map(|i| format!("{}{}", 1 + i / 6, LETTERS[i % 6])).collect()
}

#[tokio::test]
async fn the_staff_stream_receives_a_sale_within_a_second_and_replays_from_last_event_id() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let (a, b) = (fed.url("a"), fed.url("b"));
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let staff_b = staff_token(&client, &fed.app("b").db, "b", &b).await;
    let mut stream = Sse::open(&format!("{a}/api/v1/airline/events"), &staff, None).await;
    let mut stream_b = Sse::open(&format!("{b}/api/v1/airline/events"), &staff_b, None).await;
    let id = publish_one(&client, &a, &staff, new_segment("EV1", "Lages", "Itajai", t0(), "80.00", 5)).await;
    let published = stream.next(Duration::from_secs(2)).await.expect("the publication");
    assert_eq!(
        (published.event.as_str(), published.data["segment_id"].as_str()),
        ("segment_published", Some(id.as_str()))
    );

    let token = client.passenger(&a).await;
    let begun = Instant::now();
    let sold = client.book(&a, &token, &[("a", &id, "1A")]).await;
    assert_eq!(sold.status, 201);
    let sale = stream.next(Duration::from_secs(1)).await.expect("a sale within a second of the answer");
    let latency = begun.elapsed();
    eprintln!("sale event {latency:?} after the booking was sent");
    assert_eq!(sale.event, "sale");
    assert_eq!((sale.data["pass_id"].as_str(), sale.data["seats"].as_i64()), (sold.body["pass_id"].as_str(), Some(1)));
    assert_eq!(sale.data["amount"]["amount"], "80.00");
    assert!(sale.id > published.id);
    drop(stream);

    // While nobody listens: a sale coordinated by b, a price change, a cancelled pass.
    let other = client.passenger(&b).await;
    let second = client.book(&b, &other, &[("a", &id, "2B")]).await;
    assert_eq!(second.status, 201);
    assert!(seat_becomes(&fed.app("a").db, &id, "2B", "sold").await, "a sells once b's pass reaches it");
    let patch = client.http.patch(format!("{a}/api/v1/airline/segments/{id}")).bearer_auth(&staff);
    assert_eq!(client.send(patch.json(&json!({"price": {"amount": "90.00", "currency": "BRL"}}))).await.status, 200);
    let pass = sold.body["pass_id"].as_str().unwrap();
    assert_eq!(client.delete(&format!("{a}/api/v1/passes/{pass}"), Some(&token)).await.status, 200);

    let mut replay = Sse::open(&format!("{a}/api/v1/airline/events"), &staff, Some(sale.id)).await;
    let missed = replay.drain(Duration::from_millis(1500)).await;
    let kinds: Vec<&str> = missed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["sale", "price_changed", "cancellation"], "{missed:?}");
    assert!(missed.windows(2).all(|w| w[0].id < w[1].id) && missed[0].id > sale.id);
    assert_eq!(missed[1].data["detail"]["price"]["amount"], "90.00");
    assert_eq!(missed[2].data["pass_id"].as_str(), Some(pass));
    assert!(stream_b.next(Duration::from_millis(300)).await.is_none(), "b's staff hear nothing of a's flights");

    // A party's seats are one sale: each seat's trigger adds to the row the first one wrote.
    let party = sell(&client, &a, &token, &id, &seats(12, 3)).await;
    let merged = replay.drain(Duration::from_millis(1500)).await;
    let sales: Vec<_> =
        merged.iter().map(|e| (e.event.as_str(), e.data["pass_id"].as_str(), e.data["seats"].as_i64())).collect();
    assert_eq!(sales, [("sale", Some(party[0].as_str()), Some(3))], "{merged:?}");
    assert_eq!(merged[0].data["amount"]["amount"], "270.00", "three seats at 90.00");
}

/// Streams read only the events of finished transactions, in their transactions' order: an
/// event whose transaction began first and commits last is neither lost nor sent after the
/// events behind it.
#[tokio::test]
async fn an_event_whose_transaction_commits_late_is_neither_lost_nor_sent_out_of_order() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let a = fed.url("a");
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let id = publish_one(&client, &a, &staff, new_segment("EV3", "Lages", "Itajai", t0(), "80.00", 5)).await;
    let mut stream = Sse::open(&format!("{a}/api/v1/airline/events"), &staff, None).await;
    assert!(stream.drain(Duration::from_millis(500)).await.iter().all(|e| e.event == "segment_published"));

    let mut slow = fed.app("a").db.conn().await;
    let detail = r#"{"price": {"amount": "85.00", "currency": "BRL"}}"#;
    slow.batch_execute(&format!(
        "BEGIN; INSERT INTO events (audience, kind, segment_id, detail) VALUES ('airline', 'price_changed', '{id}', '{detail}')"
    ))
    .await
    .unwrap();
    let token = client.passenger(&a).await;
    assert_eq!(client.book(&a, &token, &[("a", &id, "1A")]).await.status, 201);
    assert!(
        stream.next(Duration::from_millis(1500)).await.is_none(),
        "the sale waits for the transaction that began before it"
    );
    slow.batch_execute("COMMIT").await.unwrap();
    let got = stream.drain(Duration::from_millis(1500)).await;
    let kinds: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["price_changed", "sale"], "{got:?}");
    assert!(got[0].id < got[1].id);

    let mut resumed = Sse::open(&format!("{a}/api/v1/airline/events"), &staff, Some(got[0].id)).await;
    let after_first: Vec<String> =
        resumed.drain(Duration::from_millis(800)).await.into_iter().map(|e| e.event).collect();
    assert_eq!(after_first, ["sale"], "resuming after the late event sends only what followed it");
}

#[tokio::test]
async fn a_passenger_hears_of_their_passes_at_any_airline() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let (a, c) = (fed.url("a"), fed.url("c"));
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let id = publish_one(&client, &a, &staff, new_segment("EV2", "Lages", "Itajai", t0(), "80.00", 5)).await;
    let token = client.passenger(&c).await;
    let stranger = client.passenger(&c).await;
    let mut mine = Sse::open(&format!("{c}/api/v1/passes/events"), &token, None).await;
    let mut theirs = Sse::open(&format!("{c}/api/v1/passes/events"), &stranger, None).await;

    let sold = client.book(&a, &token, &[("a", &id, "1A")]).await;
    let pass_id = sold.body["pass_id"].as_str().unwrap();
    let confirmed = mine.next(Duration::from_secs(5)).await.expect("confirmed, heard at c");
    assert_eq!((confirmed.event.as_str(), confirmed.data["pass_id"].as_str()), ("confirmed", Some(pass_id)));
    assert_eq!(cancel_flight(&client, &a, &staff, &id, "Storm").await.status, 200);
    let disrupted = mine.next(Duration::from_secs(5)).await.expect("disrupted");
    assert_eq!((disrupted.event.as_str(), disrupted.data["status"].as_str()), ("disrupted", Some("disrupted")));
    drop(mine);
    assert_eq!(client.delete(&format!("{a}/api/v1/passes/{pass_id}"), Some(&token)).await.status, 200);
    let mut replay = Sse::open(&format!("{c}/api/v1/passes/events"), &token, Some(disrupted.id)).await;
    let cancelled = replay.next(Duration::from_secs(5)).await.expect("cancelled, replayed");
    assert_eq!(cancelled.event, "cancelled");
    assert!(theirs.next(Duration::from_millis(300)).await.is_none(), "nobody hears of another's pass");
    let staff_stream = client.send(client.http.get(format!("{c}/api/v1/passes/events")).bearer_auth(&staff)).await;
    staff_stream.assert_problem(403, "forbidden");
}

#[tokio::test]
async fn low_availability_fires_exactly_once_when_the_163rd_of_180_seats_is_sold() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty().unlimited()).await;
    let client = fed.client();
    let a = fed.url("a");
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let id = publish_one(&client, &a, &staff, new_segment("LOW1", "Lages", "Itajai", t0(), "120.00", 30)).await;
    let token = client.passenger(&a).await;
    // The staff's events of one kind, as the feed gives them now.
    let events_of = async |kind: &str| -> Vec<Event> {
        airline_events(&a, &staff).await.into_iter().filter(|e| e.event == kind).collect()
    };
    // Events are numbered by the sequencer's next round, a moment after the commit.
    let sequenced = async |kind: &str, n: usize| {
        let seen = eventually(Duration::from_secs(5), || async { events_of(kind).await.len() >= n }).await;
        assert!(seen, "{n} {kind} event(s) within 5 s");
        events_of(kind).await
    };

    let parties = sell(&client, &a, &token, &id, &seats(0, 162)).await;
    assert!(events_of("low_availability").await.is_empty(), "162 sold, 18 free: not yet");
    sell(&client, &a, &token, &id, &seats(162, 1)).await;
    let alerts = sequenced("low_availability", 1).await;
    assert_eq!(alerts.len(), 1, "the 163rd seat: {alerts:?}");
    assert_eq!(
        (alerts[0].data["segment_id"].as_str(), alerts[0].data["seats"].as_i64()),
        (Some(id.as_str()), Some(17))
    );
    assert_eq!(alerts[0].data["detail"], json!({"seats_total": 180, "seats_available": 17}));
    sell(&client, &a, &token, &id, &seats(163, 2)).await;
    assert_eq!(events_of("low_availability").await.len(), 1, "said once, not on every later sale");

    // Back over 10 % (a party of nine cancels), then under again: said again.
    assert_eq!(client.delete(&format!("{a}/api/v1/passes/{}", parties[0]), Some(&token)).await.status, 200);
    // The alert is lowered when the sequencer counts the seats after the cancellation: sell
    // again only once it has, or both may fall in one round that never sees 10 % free.
    sequenced("cancellation", 1).await;
    assert_eq!(events_of("low_availability").await.len(), 1);
    sell(&client, &a, &token, &id, &seats(0, 9)).await;
    assert_eq!(sequenced("low_availability", 2).await.len(), 2, "under again after going back over");

    let sales = client.get(&format!("{a}/api/v1/airline/sales"), Some(&staff)).await;
    assert_eq!(sales.status, 200, "{}", sales.body);
    let segment = &sales.body["segments"][0];
    assert_eq!((segment["seats_sold"].as_i64(), segment["seats_total"].as_i64()), (Some(165), Some(180)));
    assert_eq!(segment["revenue"]["amount"], "19800.00");
    assert_eq!(segment["load_factor"].as_f64(), Some(0.9167));
    let day = &sales.body["days"][0];
    assert_eq!((day["segments"].as_i64(), day["seats_sold"].as_i64()), (Some(1), Some(165)), "{}", sales.body);
    assert_eq!(day["day"], json!(t0().format("%Y-%m-%d").to_string()));
}
