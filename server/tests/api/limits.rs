//! What one client may do: login attempts, bookings per minute, seats per flight.

use std::time::Instant;

use futures::future::join_all;
use serde_json::json;

use crate::helpers::*;

async fn log_in(client: &Client, base: &str, login: &str, password: &str) -> Answer {
    client.post(&format!("{base}/api/v1/sessions"), None, &json!({"login": login, "password": password})).await
}

#[track_caller]
fn assert_throttled(answer: &Answer) {
    answer.assert_problem(429, "too_many_requests");
    let wait: u64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "Retry-After: {wait}");
}

#[tokio::test]
async fn logins_are_throttled_per_login_with_a_retry_after() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let (client, base) = (fed.client(), fed.url("a"));
    client.register(&base, "ana").await;
    client.register(&base, "bia").await;
    let started = Instant::now();
    let flood = join_all((0..50).map(|_| log_in(&client, &base, "ana", "wrong password"))).await;
    let elapsed = started.elapsed();
    let refused = flood.iter().filter(|a| a.status == 401).count();
    let throttled: Vec<&Answer> = flood.iter().filter(|a| a.status == 429).collect();
    assert_eq!((refused, throttled.len()), (5, 45), "5 tries, then 429 without checking the password");
    throttled.iter().for_each(|a| assert_throttled(a));
    println!("50 wrong passwords for one login answered in {elapsed:?}");

    assert_throttled(&log_in(&client, &base, "ana", PASSWORD).await);
    assert_eq!(log_in(&client, &base, "bia", PASSWORD).await.status, 200, "other logins are not affected");
    // Correct passwords do not use up the allowance.
    for _ in 0..10 {
        assert_eq!(log_in(&client, &base, "bia", PASSWORD).await.status, 200);
    }
}

#[tokio::test]
async fn logins_are_throttled_per_client_address() {
    let options = Options::empty().with("PASSCOM_LOGIN_ATTEMPTS_PER_ADDRESS", "8");
    let fed = TestFederation::start_airlines(&["a"], options).await;
    let (client, base) = (fed.client(), fed.url("a"));
    client.register(&base, "ana").await;
    for i in 0..8 {
        log_in(&client, &base, &format!("nobody{i}"), "wrong password").await.assert_problem(401, "bad_credentials");
    }
    assert_throttled(&log_in(&client, &base, "nobody-else", "wrong password").await);
    assert_throttled(&log_in(&client, &base, "ana", PASSWORD).await);
}

#[tokio::test]
async fn one_passenger_gets_at_most_nine_seats_on_a_flight() {
    let fed = TestFederation::start(Options::demo().with("PASSCOM_BOOKINGS_PER_MINUTE", "0")).await;
    let client = fed.client();
    let token = client.passenger(&fed.url("a")).await;
    // At the coordinator's own flight (one local transaction) and at another airline's (two
    // phases), 20 buys at once of distinct seats.
    for airline in ["a", "c"] {
        let segment = first_segment(&client, &fed.url("a"), airline).await["segment_id"].as_str().unwrap().to_owned();
        let seats: Vec<String> = (1..=20).map(|row| format!("{row}A")).collect();
        let base = fed.url("a");
        let buys = seats.iter().map(|seat| {
            let (client, base, token, segment) = (&client, &base, &token, &segment);
            async move { client.book(base, token, &[(airline, segment, seat)]).await }
        });
        let answers = join_all(buys).await;
        let sold = answers.iter().filter(|a| a.status == 201).count();
        assert_eq!(sold, 9, "{airline}: {:?}", answers.iter().map(|a| a.code()).collect::<Vec<_>>());
        for refused in answers.iter().filter(|a| a.status != 201) {
            refused.assert_problem(409, "seat_limit_reached");
        }
        let other = client.passenger(&fed.url("b")).await;
        assert_eq!(client.book(&fed.url("b"), &other, &[(airline, &segment, "25F")]).await.status, 201);
    }
    for app in &fed.apps {
        let released = app.db.count_becomes("SELECT count(*) AS n FROM seats WHERE status = 'held'", 0).await;
        assert!(released, "no hold is left at {}", app.airline);
    }
}

#[tokio::test]
async fn bookings_per_account_are_rate_limited() {
    let fed = TestFederation::start(Options::demo().with("PASSCOM_BOOKINGS_PER_MINUTE", "3")).await;
    let client = fed.client();
    let token = client.passenger(&fed.url("a")).await;
    let segment = first_segment(&client, &fed.url("a"), "a").await["segment_id"].as_str().unwrap().to_owned();
    for seat in ["1A", "1B", "1C"] {
        assert_eq!(client.book(&fed.url("a"), &token, &[("a", &segment, seat)]).await.status, 201);
    }
    // The count is shared by every airline: another server refuses too.
    assert_throttled(&client.book(&fed.url("b"), &token, &[("a", &segment, "1D")]).await);
    let other = client.passenger(&fed.url("a")).await;
    assert_eq!(client.book(&fed.url("a"), &other, &[("a", &segment, "1D")]).await.status, 201);
}
