//! Airlines do not trust each other beyond the protocol: every row of the README's trust table,
//! tried with a real peer's service token against another airline, and the passenger tokens
//! every airline accepts.

use std::time::Duration;

use passcom_server::auth::tokens;
use passcom_server::booking::pass_id;
use passcom_shared::AirlineCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

/// A passenger registered and logged in at `base`: `(user_id, token)`.
async fn passenger_at(client: &Client, base: &str) -> (Uuid, String) {
    let login = format!("p{}", &Uuid::new_v4().simple().to_string()[..12]);
    client.register(base, &login).await;
    let session = client.login(base, &login).await;
    (session.user_id, session.access_token)
}

/// A pass sold by a, with one leg at c (so a coordinated it): `(pass, c's segment id)`.
async fn pass_sold_by_a(fed: &TestFederation, token: &str, seat: &str) -> (Value, String) {
    let client = fed.client();
    let segment = first_segment(&client, &fed.url("a"), "c").await["segment_id"].as_str().unwrap().to_owned();
    let booked = client.book(&fed.url("a"), token, &[("c", &segment, seat)]).await;
    assert_eq!(booked.status, 201, "{}", booked.body);
    assert!(seat_becomes(&fed.app("c").db, &segment, seat, "sold").await, "c sells once the pass is there");
    (booked.body, segment)
}

async fn replicate(fed: &TestFederation, from: &str, to: &str, kind: &str, payload: Value) -> Answer {
    let batch = json!({"messages": [{"kind": kind, "payload": payload}]});
    let url = format!("{}/internal/v1/replication", fed.url(to));
    fed.client().post(&url, Some(&fed.service_token(from)), &batch).await
}

#[tokio::test]
async fn only_the_seller_releases_the_seats_of_a_pass() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let (_, token) = passenger_at(&client, &fed.url("a")).await;
    let (pass, segment) = pass_sold_by_a(&fed, &token, "5A").await;
    let pass_id = pass["pass_id"].as_str().unwrap();

    let release = format!("{}/internal/v1/holds/{pass_id}/release", fed.url("c"));
    client.post(&release, Some(&fed.service_token("b")), &json!(null)).await.assert_problem(403, "forbidden");
    replicate(&fed, "b", "c", "release", json!({"booking_id": pass_id})).await.assert_problem(403, "forbidden");
    assert_eq!(seat_state(&fed.app("c").db, &segment, "5A").await.0, "sold", "b freed nothing of a's sale");

    // The buyer who tried the freed seat in the report gets a plain refusal.
    let (_, other) = passenger_at(&client, &fed.url("b")).await;
    client.book(&fed.url("b"), &other, &[("c", &segment, "5A")]).await.assert_problem(409, "seat_taken");
}

#[tokio::test]
async fn a_hold_cannot_be_taken_over_by_reusing_its_booking_id() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let segment = first_segment(&client, &fed.url("c"), "c").await["segment_id"].as_str().unwrap().to_owned();
    let (booking, url) = (Uuid::new_v4(), format!("{}/internal/v1/holds", fed.url("c")));
    let hold = |coordinator: &str| json!({"booking_id": booking, "coordinator": coordinator, "legs": [{"segment_id": segment, "seat": "6A"}]});
    assert_eq!(client.post(&url, Some(&fed.service_token("a")), &hold("a")).await.status, 200);
    assert_eq!(client.post(&url, Some(&fed.service_token("a")), &hold("a")).await.status, 200, "a repeat");
    client.post(&url, Some(&fed.service_token("b")), &hold("b")).await.assert_problem(409, "seat_taken");
    client.post(&url, Some(&fed.service_token("b")), &hold("a")).await.assert_problem(403, "forbidden");
    let coordinator = fed
        .app("c")
        .db
        .count(&format!("SELECT count(*) AS n FROM seats WHERE booking_id = '{booking}' AND coordinator = 'a'"))
        .await;
    assert_eq!(coordinator, 1, "the hold is still a's");
}

/// A pass is its booking's commit at the owners of its legs: it sells there only the seats its
/// seller held for that booking, and only its seller may send it.
#[tokio::test]
async fn a_pass_sells_at_an_owner_only_what_its_seller_held_for_it() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let (user_id, token) = passenger_at(&client, &fed.url("a")).await;
    let (pass, segment) = pass_sold_by_a(&fed, &token, "6A").await;
    let code = |airline: &str| AirlineCode::parse(airline).unwrap();
    let (of_a, of_b) = (pass_id::new(&code("a")), pass_id::new(&code("b")));
    let url = format!("{}/internal/v1/holds", fed.url("c"));
    // b holds a seat under the id of a's booking too: the id alone must not let a sell it.
    for (booking, coordinator, seat) in [(of_a, "a", "6B"), (of_a, "b", "6C"), (of_b, "b", "6D")] {
        let hold =
            json!({"booking_id": booking, "coordinator": coordinator, "legs": [{"segment_id": segment, "seat": seat}]});
        let held = client.post(&url, Some(&fed.service_token(coordinator)), &hold).await;
        assert_eq!(held.status, 200, "{}", held.body);
    }
    let as_pass = |id: Uuid, seller: &str| {
        let mut replicated = pass.clone();
        replicated["user_id"] = json!(user_id);
        replicated["pass_id"] = json!(id);
        replicated["sold_by"] = json!(seller);
        replicated
    };
    let c = &fed.app("c").db;
    replicate(&fed, "b", "c", "pass", as_pass(of_a, "b")).await.assert_problem(403, "forbidden");
    assert_eq!(seat_state(c, &segment, "6B").await.0, "held", "b cannot commit a's booking");

    for attempt in ["first", "repeat"] {
        let delivered = replicate(&fed, "a", "c", "pass", as_pass(of_a, "a")).await;
        assert_eq!(delivered.status, 200, "{attempt}: {}", delivered.body);
        assert_eq!(seat_state(c, &segment, "6B").await, ("sold".to_owned(), Some(of_a)), "a's pass sells a's hold");
        assert_eq!(seat_state(c, &segment, "6C").await.0, "held", "and not b's hold under the same id");
    }
    assert_eq!(replicate(&fed, "b", "c", "pass", as_pass(of_b, "b")).await.status, 200);
    assert_eq!(seat_state(c, &segment, "6D").await, ("sold".to_owned(), Some(of_b)), "b's own pass sells b's hold");
}

#[tokio::test]
async fn a_pass_and_its_cancellation_arrive_only_from_its_seller() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let (user_id, token) = passenger_at(&client, &fed.url("a")).await;
    let (pass, _) = pass_sold_by_a(&fed, &token, "7B").await;
    let pass_id = pass["pass_id"].as_str().unwrap().to_owned();

    let forged = |sold_by: &str, status: &str, pass_id: &str| {
        let mut forged = pass.clone();
        forged["user_id"] = json!(user_id);
        forged["pass_id"] = json!(pass_id);
        forged["sold_by"] = json!(sold_by);
        forged["status"] = json!(status);
        forged["total_price"] = json!({"amount": "0.01", "currency": "BRL"});
        forged
    };
    let planted = pass_id::new(&AirlineCode::parse("b").unwrap()).to_string();
    // A booking at a of a's own seat: c owns no leg of it and has nothing to check it against.
    let own_leg = first_segment(&client, &fed.url("a"), "a").await["segment_id"].as_str().unwrap().to_owned();
    let local = client.book(&fed.url("a"), &token, &[("a", &own_leg, "7B")]).await;
    assert_eq!(local.status, 201, "{}", local.body);
    let local_id = local.body["pass_id"].as_str().unwrap().to_owned();
    // The last two are b naming a's passes as its own, as an owner could at once (it learns the
    // id at its hold): the id says that a sold it, so it is refused at an owner and elsewhere,
    // whether or not a's own pass has arrived.
    for (sold_by, status, id) in [
        ("c", "confirmed", &planted),
        ("a", "cancelled", &pass_id),
        ("c", "cancelled", &pass_id),
        ("b", "cancelled", &pass_id),
        ("b", "confirmed", &local_id),
    ] {
        let answer = replicate(&fed, "b", "c", "pass", forged(sold_by, status, id)).await;
        answer.assert_problem(403, "forbidden");
    }

    let shows_a_pass = eventually(Duration::from_secs(10), || async {
        let list = client.get(&format!("{}/api/v1/passes", fed.url("c")), Some(&token)).await;
        list.body["passes"] == json!([local.body, pass])
    })
    .await;
    assert!(shows_a_pass, "c shows only a's confirmed passes");
    // A pass under an id b made is b's to replicate.
    let own = replicate(&fed, "b", "c", "pass", forged("b", "confirmed", &planted)).await;
    assert_eq!(own.status, 200, "{}", own.body);
}

#[tokio::test]
async fn an_account_arrives_only_from_its_home_airline() {
    let fed = TestFederation::start(Options::empty()).await;
    let account = |login: &str, home: &str| {
        json!({
            "user_id": Uuid::new_v4(), "login": login, "home_airline": home, "created_at": "2026-11-21T10:00:00Z",
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        })
    };
    replicate(&fed, "b", "c", "account", account("forged", "a")).await.assert_problem(403, "forbidden");
    assert_eq!(fed.app("c").db.count("SELECT count(*) AS n FROM users").await, 0);
    let own = replicate(&fed, "b", "c", "account", account("bs-own", "b")).await;
    assert_eq!((own.status, own.body["applied"].clone()), (200, json!(1)), "{}", own.body);
}

#[tokio::test]
async fn a_login_claim_is_released_only_by_the_airline_that_made_it() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let url = format!("{}/internal/v1/login-claims", fed.url("c"));
    let claim = json!({"login": "squatted", "user_id": Uuid::new_v4()});
    let (a, b) = (fed.service_token("a"), fed.service_token("b"));
    assert_eq!(client.post(&url, Some(&b), &claim).await.status, 200);
    assert_eq!(client.post(&url, Some(&b), &claim).await.status, 200, "a repeat");
    client.post(&url, Some(&a), &claim).await.assert_problem(409, "login_taken");

    let release = |token: &str| client.send(client.http.delete(&url).bearer_auth(token).json(&claim));
    release(&a).await.assert_problem(403, "forbidden");
    let claims = || fed.app("c").db.count("SELECT count(*) AS n FROM login_claims WHERE claimed_by = 'b'");
    assert_eq!(claims().await, 1, "a could not drop b's claim");
    assert_eq!(release(&b).await.status, 200);
    assert_eq!(claims().await, 0);
    assert_eq!(release(&b).await.status, 200, "releasing again is harmless");
}

#[tokio::test]
async fn a_pass_is_cancelled_through_its_seller_and_not_while_it_is_down() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let (_, token) = passenger_at(&client, &fed.url("a")).await;
    let (pass, segment) = pass_sold_by_a(&fed, &token, "8C").await;
    let pass_id = pass["pass_id"].as_str().unwrap().to_owned();
    let (kept, _) = pass_sold_by_a(&fed, &token, "8D").await;
    let kept_id = kept["pass_id"].as_str().unwrap().to_owned();

    // Forwarded proofs: no passenger token, or another passenger's, cancel nothing.
    let forward = format!("{}/internal/v1/passes/{pass_id}/cancellation", fed.url("a"));
    let (_, stranger) = passenger_at(&client, &fed.url("b")).await;
    let b = fed.service_token("b");
    let garbage = client.post(&forward, Some(&b), &json!({"passenger_token": "not-a-token"})).await;
    garbage.assert_problem(401, "unauthorized");
    client.post(&forward, Some(&b), &json!({"passenger_token": stranger})).await.assert_problem(404, "not_found");

    pass_arrives(&client, &fed.url("c"), &token, &pass_id).await;
    let cancelled = client.delete(&format!("{}/api/v1/passes/{pass_id}", fed.url("c")), Some(&token)).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")), "{}", cancelled.body);
    let cancelled_at_a =
        format!("SELECT count(*) AS n FROM passes WHERE pass_id = '{pass_id}' AND status = 'cancelled'");
    let at_a = fed.app("a").db.count(&cancelled_at_a);
    assert_eq!(at_a.await, 1, "the seller cancelled it");
    let freed = eventually(Duration::from_secs(10), || async {
        seat_state(&fed.app("c").db, &segment, "8C").await == ("available".to_owned(), None)
    })
    .await;
    assert!(freed, "c freed the seat on the seller's word");

    pass_arrives(&client, &fed.url("b"), &token, &kept_id).await;
    fed.stop("a").await;
    let refused = client.delete(&format!("{}/api/v1/passes/{kept_id}", fed.url("b")), Some(&token)).await;
    refused.assert_problem(503, "airline_unavailable");
    assert_eq!(refused.body["airline"], "a");
    let still = client.get(&format!("{}/api/v1/passes/{kept_id}", fed.url("b")), Some(&token)).await;
    assert_eq!(still.body["status"], "confirmed", "nothing was cancelled while the seller is down");
}

#[tokio::test]
async fn a_token_must_name_an_account_and_a_sane_lifetime() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let (user_id, _) = passenger_at(&client, &fed.url("b")).await;
    let (a, b) = (fed.signing_key("a"), fed.signing_key("b"));
    let me = |code: &str| format!("{}/api/v1/me", fed.url(code));

    // Issued by b for b's new account: accepted at c at once, before the account arrives there.
    let fresh = tokens::issue_passenger(&b, user_id, "x", 600).unwrap();
    assert_eq!(client.get(&me("c"), Some(&fresh)).await.status, 200);

    let ghost = Uuid::new_v4();
    for (name, token, at) in [
        ("a ghost issued here", tokens::issue_passenger(&a, ghost, "ghost", 600).unwrap(), "a"),
        ("a ghost issued by a peer", tokens::issue_passenger(&b, ghost, "ghost", 600).unwrap(), "c"),
        ("valid for ten years", tokens::issue_passenger(&b, user_id, "x", 10 * 365 * 86400).unwrap(), "b"),
        ("not valid for an hour", with_nbf(&b, user_id, 3600), "b"),
    ] {
        let answer = client.get(&me(at), Some(&token)).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        answer.assert_problem(401, "unauthorized");
    }
    let ghost_booking = client.book(&fed.url("a"), &tokens::issue_passenger(&a, ghost, "g", 600).unwrap(), &[]).await;
    ghost_booking.assert_problem(401, "unauthorized");
    assert_eq!(client.get(&me("b"), Some(&with_nbf(&b, user_id, -60))).await.status, 200, "an `nbf` passed is fine");
}

/// A passenger token of `key`'s airline with `nbf` at now + `offset` seconds.
fn with_nbf(key: &passcom_server::auth::SigningKey, user_id: Uuid, offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": user_id, "login": "x", "iss": key.kid().as_str(), "aud": "passcom",
        "iat": now, "exp": now + 600, "nbf": now + offset,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid().to_string());
    jsonwebtoken::encode(&header, &claims, key.encoding()).unwrap()
}
