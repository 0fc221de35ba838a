//! Airline operations against real servers: staff accounts and who may do what, publishing,
//! hostile bodies; in the submodules, price changes, cancelled flights and the passes they
//! disrupt (also with a server killed), live events and sales figures.

mod crash;
mod disruptions;
mod live;

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::staff_helpers::*;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn staff_of_b_cannot_touch_a_s_flights_and_passengers_get_403_on_every_staff_route() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let (a, b) = (fed.url("a"), fed.url("b"));
    let staff_a = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let staff_b = staff_token(&client, &fed.app("b").db, "b", &b).await;
    let passenger = client.passenger(&a).await;

    let claims = claims_of(&staff_a);
    assert_eq!(
        (claims["role"].as_str(), claims["airline"].as_str(), claims["iss"].as_str()),
        (Some("staff"), Some("a"), Some("a"))
    );
    assert_eq!(claims_of(&passenger).get("role").and_then(Value::as_str), Some("passenger"));
    let me = client.get(&format!("{a}/api/v1/me"), Some(&staff_a)).await;
    assert_eq!(me.status, 200, "a staff token names an existing account: {}", me.body);

    let segment = publish_one(&client, &a, &staff_a, new_segment("SA1", "Lages", "Itajai", t0(), "100.00", 5)).await;
    let routes = |token: Option<&str>| {
        let token = token.map(str::to_owned);
        let (client, a, segment) = (client.clone(), a.clone(), segment.clone());
        async move {
            let t = token.as_deref();
            vec![
                publish(&client, &a, t.unwrap_or(""), &[new_segment("SA2", "Lages", "Itajai", t0(), "1.00", 1)]).await,
                client
                    .send(
                        with(client.http.patch(format!("{a}/api/v1/airline/segments/{segment}")), t)
                            .json(&json!({"price": {"amount": "1.00", "currency": "BRL"}})),
                    )
                    .await,
                client
                    .post(&format!("{a}/api/v1/airline/segments/{segment}/cancellation"), t, &json!({"reason": "x"}))
                    .await,
                client.get(&format!("{a}/api/v1/airline/sales"), t).await,
                client.send(with(client.http.get(format!("{a}/api/v1/airline/events")), t)).await,
            ]
        }
    };
    for token in [&staff_b, &passenger] {
        for answer in routes(Some(token)).await {
            answer.assert_problem(403, "forbidden");
        }
    }
    for answer in routes(None).await {
        assert!(matches!(answer.status, 401 | 403), "{}", answer.body);
    }
    // a's staff at b's server: b's flights are not theirs either.
    publish(&client, &b, &staff_a, &[new_segment("SA3", "Lages", "Itajai", t0(), "1.00", 1)])
        .await
        .assert_problem(403, "forbidden");
    // Staff tokens do not buy passes.
    client.book(&a, &staff_a, &[("a", &segment, "1A")]).await.assert_problem(403, "forbidden");
    assert_eq!(
        fed.app("a").db.count("SELECT count(*) AS n FROM segments").await,
        1,
        "nothing but the first publication"
    );
    let detail = client.get(&format!("{a}/api/v1/segments/a/{segment}"), None).await;
    assert_eq!(detail.body["price"]["amount"], "100.00", "the refused price change wrote nothing");
}

fn with(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

#[tokio::test]
async fn the_staff_command_creates_an_account_that_logs_in_and_refuses_a_passenger_s_login() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let a = fed.url("a");
    let command = |login: &str, env_password: Option<&str>, stdin: &str| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_passcom-server"));
        cmd.args(["staff", "add", login])
            .env_clear()
            .env("PASSCOM_AIRLINE", "a")
            .env("DATABASE_URL", &fed.app("a").db.url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(password) = env_password {
            cmd.env("PASSCOM_STAFF_PASSWORD", password);
        }
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let made = command("ops.manager", Some(PASSWORD), "");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let session = client.login(&a, "ops.manager").await;
    assert_eq!(claims_of(&session.access_token)["role"], "staff");

    // From stdin, again: the password changes, the account stays.
    let again = command("ops.manager", None, "another good password\n");
    assert!(again.status.success() && String::from_utf8_lossy(&again.stdout).contains("password changed"));
    let login = client
        .post(
            &format!("{a}/api/v1/sessions"),
            None,
            &json!({"login": "ops.manager", "password": "another good password"}),
        )
        .await;
    assert_eq!(login.status, 200);

    client.register(&a, "paula").await;
    let refused = command("paula", Some(PASSWORD), "");
    assert_eq!(refused.status.code(), Some(1), "a passenger's login is not made staff");
    assert_eq!(claims_of(&client.login(&a, "paula").await.access_token)["role"], "passenger");
    let short = command("ops.two", Some("short"), "");
    assert!(!short.status.success(), "passwords follow the same rules");
    // Registering the staff login as a passenger is refused like any taken login.
    let taken = client
        .post(&format!("{a}/api/v1/accounts"), None, &json!({"login": "ops.manager", "password": PASSWORD}))
        .await;
    taken.assert_problem(409, "login_taken");
}

#[tokio::test]
async fn a_batch_of_100_segments_is_published_in_one_call_and_searched_everywhere() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let a = fed.url("a");
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let start = t0();
    let batch: Vec<Value> = (0..100)
        .map(|i| {
            new_segment(&format!("PB{i}"), "Chapeco", "Joinville", start + chrono::Duration::minutes(i), "250.00", 30)
        })
        .collect();
    let begun = std::time::Instant::now();
    let answer = publish(&client, &a, &staff, &batch).await;
    let took = begun.elapsed();
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["segments"].as_array().unwrap().len(), 100);
    assert_eq!(
        answer.body["segments"][7]["segment_id"],
        format!("PB7-{}", (start + chrono::Duration::minutes(7)).format("%Y%m%d-%H%M"))
    );
    eprintln!("published 100 segments (18,000 seats) in {took:?}");
    let db = &fed.app("a").db;
    assert_eq!(db.count("SELECT count(*) AS n FROM seats").await, 100 * 180);
    assert_eq!(db.count("SELECT count(*) AS n FROM segments WHERE seats_total = 180").await, 100);

    let sales = client.get(&format!("{a}/api/v1/airline/sales"), Some(&staff)).await;
    let rows = sales.body["segments"].as_array().unwrap();
    assert_eq!(rows.len(), 100, "{}", sales.body);
    assert!(rows.iter().all(|r| r["seats_sold"] == 0 && r["revenue"]["amount"] == "0.00"), "nothing sold, no revenue");
    // A window in the query string is the staff page's way of asking.
    let from = chrono::Utc::now().date_naive();
    let window = format!("{a}/api/v1/airline/sales?from={from}&to={}", from + chrono::Duration::days(30));
    let windowed = client.get(&window, Some(&staff)).await;
    assert_eq!(windowed.status, 200, "{}", windowed.body);

    // Every airline lists them at once: a page of segments asks the owner.
    for code in AIRLINES {
        let url = format!("{}/api/v1/segments?origin=Chapeco&destination=Joinville&limit=500", fed.url(code));
        let all = eventually(Duration::from_secs(4), || async {
            client.get(&url, None).await.body["segments"].as_array().map_or(0, Vec::len) == 100
        })
        .await;
        assert!(all, "airline {code} lists all 100");
    }
    let date = start.format("%Y-%m-%d");
    let routes = client
        .get(
            &format!("{}/api/v1/routes?origin=Chapeco&destination=Joinville&date={date}&max_legs=1", fed.url("c")),
            None,
        )
        .await;
    assert!(!routes.body["routes"].as_array().unwrap().is_empty(), "{}", routes.body);

    // One id already taken: the whole batch is refused, nothing is written.
    let mut again: Vec<Value> =
        (0..5).map(|i| new_segment(&format!("PC{i}"), "Chapeco", "Lages", start, "1.00", 1)).collect();
    again.push(batch[3].clone());
    publish(&client, &a, &staff, &again).await.assert_problem(409, "segment_exists");
    assert_eq!(db.count("SELECT count(*) AS n FROM segments").await, 100);
    assert_eq!(db.count("SELECT count(*) AS n FROM seats").await, 100 * 180);
}

#[tokio::test]
async fn hostile_staff_bodies_get_4xx_and_write_nothing() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let a = fed.url("a");
    let staff = staff_token(&client, &fed.app("a").db, "a", &a).await;
    let good = new_segment("HX1", "Lages", "Itajai", t0(), "10.00", 5);
    let spoiled = |field: &str, value: Value| {
        let mut segment = good.clone();
        segment[field] = value;
        json!({ "segments": [segment] })
    };
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let bodies = vec![
        spoiled("departs_at", json!(past)),
        spoiled("arrives_at", good["departs_at"].clone()),
        spoiled("origin", json!("")),
        spoiled("destination", json!("   ")),
        spoiled("destination", json!("LAGES")),
        spoiled("origin", json!("x".repeat(101))),
        spoiled("flight_no", json!("<script>")),
        spoiled("seats", json!({"rows": 0, "letters": "AB"})),
        spoiled("seats", json!({"rows": 1000, "letters": "AB"})),
        spoiled("seats", json!({"rows": 3, "letters": "AAB"})),
        spoiled("seats", json!({"rows": 3, "letters": "a1"})),
        spoiled("seats", json!({"rows": -1, "letters": "AB"})),
        spoiled("price", json!({"amount": "-1.00", "currency": "BRL"})),
        spoiled("price", json!({"amount": 12.5, "currency": "BRL"})),
        spoiled("price", json!({"amount": "99999999999.00", "currency": "BRL"})),
        spoiled("price", json!({"amount": "1.00", "currency": "brl"})),
        spoiled("segment_id", json!("no spaces allowed")),
        spoiled("segment_id", json!("x".repeat(65))),
        spoiled("surprise", json!(1)),
        json!({ "segments": [] }),
        json!({ "segments": [good.clone(), good.clone()] }),
        json!({ "segments": "all of them" }),
        json!([good.clone()]),
        json!(null),
    ];
    for body in &bodies {
        let answer = client.post(&format!("{a}/api/v1/airline/segments"), Some(&staff), body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        answer.assert_problem(400, "invalid_body");
    }
    let raw_body = |body: Vec<u8>| {
        let request = client.http.post(format!("{a}/api/v1/airline/segments")).bearer_auth(&staff);
        client.send(request.header("content-type", "application/json").body(body))
    };
    raw_body(b"{\"segments\": [".to_vec()).await.assert_problem(400, "invalid_body");
    let big = raw_body(vec![b' '; 600 * 1024]).await;
    assert_eq!(big.status, 413);
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM segments").await, 0, "nothing was written");

    let id = publish_one(&client, &a, &staff, good.clone()).await;
    let patch = |body: Value, segment: &str| {
        client.send(client.http.patch(format!("{a}/api/v1/airline/segments/{segment}")).bearer_auth(&staff).json(&body))
    };
    patch(json!({"price": {"amount": "1.00", "currency": "USD"}}), &id).await.assert_problem(400, "invalid_body");
    patch(json!({"price": {"amount": "1.00", "currency": "BRL"}, "seats": 3}), &id)
        .await
        .assert_problem(400, "invalid_body");
    patch(json!({"price": {"amount": "1.00", "currency": "BRL"}}), "NOPE-1").await.assert_problem(404, "not_found");
    patch(json!({"price": {"amount": "1.00", "currency": "BRL"}}), "bad%20id")
        .await
        .assert_problem(400, "invalid_path");
    for reason in [json!(""), json!("x".repeat(201)), json!("line\nbreak"), json!(7)] {
        let answer = client
            .post(&format!("{a}/api/v1/airline/segments/{id}/cancellation"), Some(&staff), &json!({ "reason": reason }))
            .await;
        answer.assert_problem(400, "invalid_body");
    }
    cancel_flight(&client, &a, &staff, "NOPE-1", "weather").await.assert_problem(404, "not_found");
    for query in ["from=2026-13-01", "from=2030-01-02&to=2030-01-01", "from=2030-01-01&to=2032-01-01", "when=today"] {
        client
            .get(&format!("{a}/api/v1/airline/sales?{query}"), Some(&staff))
            .await
            .assert_problem(400, "invalid_query");
    }
    let bad_id = client
        .send(
            client
                .http
                .get(format!("{a}/api/v1/airline/events"))
                .bearer_auth(&staff)
                .header("last-event-id", "yesterday"),
        )
        .await;
    bad_id.assert_problem(400, "invalid_header");
    let detail = client.get(&format!("{a}/api/v1/segments/a/{id}"), None).await;
    assert_eq!(detail.body["price"]["amount"], "10.00", "no refusal changed anything");
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM segments WHERE cancelled_at IS NOT NULL").await, 0);
}
