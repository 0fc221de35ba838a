//! A server that no input can crash: odd bytes, odd methods, odd timing, odd query strings,
//! and what a panic does if one is reached anyway.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn a_seat_ending_in_a_multibyte_character_is_a_400_and_the_server_keeps_serving() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    let segment = first_segment(&client, &base, "a").await["segment_id"].as_str().unwrap().to_owned();
    for seat in ["1é", "1😀", "é", "12\u{301}"] {
        let answer = client.book(&base, &token, &[("a", &segment, seat)]).await;
        answer.assert_problem(400, "invalid_body");
    }
    assert_eq!(client.get(&format!("{base}/healthz"), None).await.status, 200);
    assert_eq!(client.book(&base, &token, &[("a", &segment, "1A")]).await.status, 201);
}

#[tokio::test]
async fn unknown_http_methods_fold_into_one_metric_label() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let base = fed.url("a");
    let long = "X".repeat(2000);
    for method in ["FOOBAR", "PROPFIND", long.as_str()] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = client.send(client.http.request(method, format!("{base}/healthz"))).await;
        assert_eq!(answer.status, 405, "{}", answer.body);
    }
    let metrics = client.get(&format!("{base}/metrics"), None).await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(!metrics.contains("FOOBAR") && !metrics.contains("PROPFIND") && !metrics.contains("XXXX"));
}

#[tokio::test]
async fn concurrent_duplicates_never_overwrite_the_first_answer_of_a_key() {
    let fed = TestFederation::start(Options::demo().unlimited()).await;
    let client = fed.client();
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    let mut segments = Vec::new();
    for airline in ["a", "c"] {
        segments.push(first_segment(&client, &base, airline).await["segment_id"].as_str().unwrap().to_owned());
    }
    let url = format!("{base}/api/v1/bookings");
    for round in 0..16 {
        // Alternately the coordinator's own flight (one transaction) and c's (two phases).
        let (airline, segment) = if round % 2 == 0 { ("a", &segments[0]) } else { ("c", &segments[1]) };
        let body = json!({"legs": [{"airline": airline, "segment_id": segment, "seat": format!("{}B", round + 1)}]});
        let key = format!("round-{round}-{}", uuid::Uuid::new_v4());
        let post =
            || client.send(client.http.post(&url).bearer_auth(&token).header("idempotency-key", &key).json(&body));
        let answers = join_all((0..20).map(|_| post())).await;
        let created: Vec<&Value> = answers.iter().filter(|a| a.status == 201).map(|a| &a.body).collect();
        assert!(!created.is_empty(), "round {round}: {:?}", answers.iter().map(|a| a.code()).collect::<Vec<_>>());
        assert!(created.iter().all(|b| *b == created[0]), "round {round}: one pass");
        // A duplicate loses at the key or, earlier, at the seat lock; either way it stores nothing.
        for other in answers.iter().filter(|a| a.status != 201) {
            assert!(["request_in_progress", "seat_locked"].contains(&other.code()), "{}", other.body);
        }
        for _ in 0..2 {
            let replay = post().await;
            assert_eq!((replay.status, &replay.body), (201, created[0]), "round {round}: the replay is the 201");
        }
    }
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM passes").await, 16, "one pass per key");
}

#[tokio::test]
async fn head_works_wherever_get_does() {
    let fed = TestFederation::start_airlines(&["a"], Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/segments", "/api/v1/federation", "/.well-known/jwks.json"]
    {
        let res = client.http.head(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "HEAD {path}");
        assert!(res.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }
    let res = client.http.head(format!("{base}/api/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_on_every_route() {
    let fed = TestFederation::start_airlines(&["a"], Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    for path in
        ["/api/v1/passes", "/api/v1/me", "/api/v1/federation", "/healthz", "/metrics", "/api/v1/segments?color=red"]
    {
        let url = if path.contains('?') { format!("{base}{path}") } else { format!("{base}{path}?color=red") };
        client.get(&url, Some(&token)).await.assert_problem(400, "invalid_query");
    }
    let credentials = json!({"login": "x", "password": "y"});
    let post = client.post(&format!("{base}/api/v1/sessions?debug=1"), None, &credentials).await;
    post.assert_problem(400, "invalid_query");
    assert_eq!(client.get(&format!("{base}/api/v1/segments?origin=Recife"), None).await.status, 200);
    assert_eq!(client.get(&format!("{base}/api/v1/passes"), Some(&token)).await.status, 200);
}

#[tokio::test]
async fn details_show_no_library_internals_and_echo_no_secrets() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let base = fed.url("a");
    let numeric = json!({"login": "ana", "password": 81726354});
    for url in [format!("{base}/api/v1/sessions"), format!("{base}/api/v1/accounts")] {
        let answer = client.post(&url, None, &numeric).await;
        answer.assert_problem(400, "invalid_body");
        assert!(!answer.body["detail"].as_str().unwrap().contains("81726354"), "{}", answer.body);
    }
    let header = base64_url(r#"{"alg":"EdDSA","typ":"JWT","kid":"a"}"#);
    let no_claims = format!("{header}.{}.{}", base64_url("{}"), base64_url("signature"));
    for token in ["x.y.z", "eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.AAx", no_claims.as_str()] {
        let answer = client.get(&format!("{base}/api/v1/me"), Some(token)).await;
        answer.assert_problem(401, "unauthorized");
        let detail = answer.body["detail"].as_str().unwrap();
        for internal in ["Base64", "Json(", "Error(", "InvalidLastSymbol", "missing field"] {
            assert!(!detail.contains(internal), "{token}: {detail}");
        }
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// Sends `head` and `body` over a raw connection and reads until the server closes it.
fn raw_exchange(base: &str, head: &str, body: &[u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_a_408_problem_and_the_connection_closes() {
    let options = Options::empty().with("PASSCOM_CLIENT_REQUEST_TIMEOUT_MS", "1000");
    let fed = TestFederation::start_airlines(&["a"], options).await;
    let base = fed.url("a");
    let head =
        "POST /api/v1/accounts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    let (answer, took) = tokio::task::spawn_blocking(move || raw_exchange(&base, head, b"{\"login\":")).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("request_timeout"), "{answer}");
    assert!(took < Duration::from_secs(5), "answered and closed after {took:?}");
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM users").await, 0);
}

#[tokio::test]
async fn a_panic_is_a_500_problem_one_log_line_and_a_metric_and_input_never_forges_a_log_line() {
    let options = Options::empty().with("PASSCOM_FAULT_PANIC_ROUTE", "1").with("RUST_BACKTRACE", "full");
    let fed = ProcessFederation::start(options).await;
    let client = Client::default();
    let a = fed.url("a");
    for _ in 0..3 {
        let answer = client.get(&format!("{a}/fault/panic"), None).await;
        answer.assert_problem(500, "internal");
    }
    assert_eq!(client.get(&format!("{a}/healthz"), None).await.status, 200, "the server lives on");
    let metrics = client.get(&format!("{a}/metrics"), None).await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains(r#"passcom_http_handler_panics_total{airline="a"} 3"#), "{metrics}");

    let forged = "%0A2026-11-21T23:59:58Z%20WARN%20FORGED%1B%5B31m";
    client.get(&format!("{a}/api/v1/segments?airline={forged}"), None).await.assert_problem(400, "invalid_query");
    client.get(&format!("{a}/api/v1/segments/{forged}/X"), None).await.assert_problem(400, "invalid_path");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = fed.servers.iter().find(|s| s.airline == "a").unwrap().log();
    assert_eq!(log.lines().filter(|l| l.contains("panicked")).count(), 3, "one line per panic:\n{log}");
    assert!(!log.contains("stack backtrace") && log.len() < 200_000, "no backtrace flood ({} bytes)", log.len());
    assert!(!log.lines().any(|l| l.starts_with("2026-11-21T23:59:58Z")), "a client wrote a log line:\n{log}");
    assert!(!log.contains('\u{1b}'), "no terminal escape from a client reaches the log");
    assert!(log.contains("FORGED"), "the input is logged, escaped");
}
