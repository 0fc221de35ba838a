//! The original PassCom API, spoken by real servers over the original demo data: each route,
//! its answers and refusals (always JSON with a `message`, never a 500), the 30×3 race for one
//! seat, an atomic three-airline reservation, and CORS for the original pages.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

/// `usuario_shared_N` of the original demo, the same account at every airline.
fn demo_user(n: usize) -> (&'static str, &'static str, &'static str) {
    passcom_seed::legacy::LEGACY_USERS[n - 1]
}

/// Logs the original demo user `n` in at `base`; its token.
async fn legacy_login(client: &Client, base: &str, n: usize) -> String {
    let (user_id, login, password) = demo_user(n);
    let answer = client.post(&format!("{base}/login"), None, &json!({"login": login, "password": password})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user_uuid"], user_id);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_message(answer: &Answer, status: u16, message: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["message"].as_str(), Some(message), "{}", answer.body);
}

/// A refusal: the status, and a `message` to show, whatever it says.
#[track_caller]
fn assert_refused(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(!answer.body["message"].as_str().unwrap_or("").is_empty(), "a message: {}", answer.body);
}

fn leg(company: &str, id_trecho: i64, id_assento: i64) -> Value {
    json!({"id_trecho": id_trecho, "id_assento": id_assento, "company": company})
}

async fn reservar(client: &Client, base: &str, token: &str, legs: &[Value]) -> Answer {
    let body = json!({"user_uuid": "uuid2", "trechos": legs});
    client.post(&format!("{base}/reservar"), Some(token), &body).await
}

/// The segment with integer id `id` of `/trechos`-shaped `list` at `company`.
fn trecho<'a>(list: &'a Value, company: &str, id: i64) -> &'a Value {
    list.as_array().unwrap().iter().find(|t| t["company"] == company && t["id"] == id).unwrap()
}

#[tokio::test]
async fn accounts_register_once_and_log_in_the_original_way() {
    let fed = TestFederation::start(Options::legacy()).await;
    let client = fed.client();
    let (a, b, c) = (fed.url("a"), fed.url("b"), fed.url("c"));
    let creds = json!({"login": "maria_legacy", "password": "senha-longa"});
    assert_message(&client.post(&format!("{a}/register-all"), None, &creds).await, 200, "Usuário criado com sucesso");
    // Registration is ours: one login for the whole federation.
    assert_message(&client.post(&format!("{b}/register"), None, &creds).await, 409, "Usuário já existe");
    let short = json!({"login": "joao_legacy", "password": "senha2"});
    assert_refused(&client.post(&format!("{b}/register"), None, &short).await, 400);
    // c has the account once a's outbox delivers it (not by logging in: failures count).
    let at_c = fed.app("c").db.count_becomes("SELECT count(*) AS n FROM users WHERE login = 'maria_legacy'", 1);
    assert!(at_c.await, "the account reaches c");
    let answer = client.post(&format!("{c}/login"), None, &creds).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = answer.body["access_token"].as_str().unwrap();
    let me = client.get(&format!("{a}/api/v1/me"), Some(token)).await;
    assert_eq!((me.body["login"].as_str(), &me.body["user_id"]), (Some("maria_legacy"), &answer.body["user_uuid"]));
    let wrong = json!({"login": "maria_legacy", "password": "senha-errada"});
    assert_message(&client.post(&format!("{a}/login"), None, &wrong).await, 401, "Credenciais inválidas");
    // The original demo accounts keep their short passwords.
    for (base, n) in [(&a, 1), (&b, 2), (&c, 3)] {
        legacy_login(&client, base, n).await;
    }
    // Hostile input: a 4xx with a message, never a 500.
    let raw = |path: &str, body: &str, content_type: Option<&str>| {
        let mut req = client.http.post(format!("{a}{path}")).body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        client.send(req)
    };
    for body in ["{", "[]", "null", r#"{"login": 1, "password": "x"}"#, r#"{"login": "x"}"#, ""] {
        assert_refused(&raw("/login", body, Some("application/json")).await, 400);
        assert_refused(&raw("/register-all", body, Some("application/json")).await, 400);
    }
    // The original clients do not always send the right content type, or any.
    for content_type in [None, Some("text/plain")] {
        let untyped = raw("/login", r#"{"login": "usuario_shared_2", "password": "senha2"}"#, content_type).await;
        assert_eq!(untyped.status, 200, "{content_type:?}: {}", untyped.body);
    }
    let huge = format!(r#"{{"login": "{}", "password": "x"}}"#, "a".repeat(3 << 20));
    assert_refused(&raw("/login", &huge, Some("application/json")).await, 413);
    assert_refused(&client.get(&format!("{a}/login"), None).await, 405);
}

#[tokio::test]
async fn segments_and_routes_carry_the_original_integer_ids() {
    let fed = TestFederation::start(Options::legacy()).await;
    let client = fed.client();
    let (a, b) = (fed.url("a"), fed.url("b"));
    let here = client.get(&format!("{a}/trechos"), None).await;
    assert_eq!(here.status, 200, "{}", here.body);
    assert!(here.body.as_array().unwrap().iter().all(|t| t["company"] == "a"));
    let one = trecho(&here.body, "a", 1);
    assert_eq!((one["origem"].as_str(), one["destino"].as_str()), (Some("Cidade A1"), Some("Cidade B1")));
    assert_eq!(one["assentos"].as_array().unwrap().len(), 10);
    // The concurrency script's seat, and the documented examples.
    assert!(one["assentos"].as_array().unwrap().contains(&json!({"id": 5, "numero": 3, "disponivel": 1})));
    assert!(one["assentos"].as_array().unwrap().contains(&json!({"id": 3, "numero": 2, "disponivel": 1})));
    // The demo's own segments are there too, numbered from 1000 and with every seat numbered.
    let demo = here.body.as_array().unwrap().iter().find(|t| t["id"].as_i64().unwrap() >= 1000).unwrap();
    assert_eq!(demo["assentos"].as_array().unwrap().len(), 180);
    assert_eq!(demo["assentos"][179]["numero"], 180);

    let all = client.get(&format!("{b}/all-trechos"), None).await;
    assert_eq!(all.status, 200, "{}", all.body);
    for company in ["a", "b", "c"] {
        assert_eq!(trecho(&all.body, company, 2)["assentos"][4]["id"], 10, "{company}: seat 5 of segment 2 is id 10");
    }
    assert_eq!(trecho(&all.body, "a", 1), one, "the same segment, the same ids, from any airline");

    let route = client.post(&format!("{b}/rotas"), None, &json!({"origem": "Cidade A1", "destino": "cidade d1"})).await;
    assert_eq!(route.status, 200, "{}", route.body);
    let legs: Vec<(String, i64)> = route
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["company"].as_str().unwrap().to_owned(), l["id_trecho"].as_i64().unwrap()))
        .collect();
    assert_eq!(legs, [("a".to_owned(), 1), ("b".to_owned(), 1), ("c".to_owned(), 1)]);
    assert_eq!(route.body[2]["destino"], "Cidade D1");
    assert_eq!(route.body[0]["assentos"][2], json!({"id": 5, "numero": 3}));
    let nowhere =
        client.post(&format!("{b}/rotas"), None, &json!({"origem": "Cidade A1", "destino": "Atlantis"})).await;
    assert_eq!((nowhere.status, nowhere.body.clone()), (200, json!([])));
    for bad in
        [json!({"origem": "Cidade A1"}), json!({"origem": "", "destino": "x"}), json!({"origem": 1, "destino": 2})]
    {
        assert_refused(&client.post(&format!("{b}/rotas"), None, &bad).await, 400);
    }
    let long = json!({"origem": "x".repeat(101), "destino": "y"});
    assert_refused(&client.post(&format!("{b}/rotas"), None, &long).await, 400);
    // The lookup behind it is for airlines only.
    let internal = client.post(&format!("{a}/internal/v1/legacy/segments"), None, &json!({})).await;
    assert_eq!(internal.status, 401);
}

#[tokio::test]
async fn a_reservation_is_a_booking_of_ours_and_its_pass_can_be_cancelled() {
    let fed = TestFederation::start(Options::legacy()).await;
    let client = fed.client();
    let (a, b, c) = (fed.url("a"), fed.url("b"), fed.url("c"));
    let token = legacy_login(&client, &c, 2).await;
    // Given in any order, as the original took them; booked in order of departure.
    let legs = [leg("c", 1, 5), leg("a", 1, 5), leg("b", 1, 5)];
    assert_message(&reservar(&client, &c, &token, &legs).await, 200, "Reserva efetuada com sucesso");
    for app in &fed.apps {
        assert!(seat_becomes(&app.db, "ORIG-1", "3A", "sold").await, "at {}", app.airline);
    }
    assert_message(&reservar(&client, &b, &token, &legs[1..2]).await, 409, "Assento não está disponível");
    let free = client.get(&format!("{a}/trechos"), None).await;
    assert!(!trecho(&free.body, "a", 1)["assentos"].as_array().unwrap().iter().any(|s| s["id"] == 5));

    let (own, _, _) = demo_user(2);
    let (other, _, _) = demo_user(1);
    let passes = client.get(&format!("{c}/passagens-all/{own}"), Some(&token)).await;
    assert_eq!(passes.status, 200, "{}", passes.body);
    let pass = &passes.body[0];
    let route: Vec<&str> = pass["trechosReservados"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trecho"]["company"].as_str().unwrap())
        .collect();
    assert_eq!(route, ["a", "b", "c"]);
    assert_eq!(pass["trechosReservados"][0]["assento"], json!({"numero": 3, "disponivel": 0}));
    assert_eq!(pass["trechosReservados"][0]["trecho"]["origem"], "Cidade A1");
    let created = pass["created_at"].as_str().unwrap();
    assert!(created.ends_with(" GMT") && created.chars().nth(3) == Some(','), "{created}");
    // The user comes from the token: another user's id is refused, a placeholder ignored.
    assert_refused(&client.get(&format!("{c}/passagens-all/{other}"), Some(&token)).await, 403);
    let ignored = client.get(&format!("{c}/passagens-all/uuid2"), Some(&token)).await;
    assert_eq!(ignored.body, passes.body);
    let as_other = json!({"user_uuid": other, "trechos": [leg("a", 1, 7)]});
    assert_refused(&client.post(&format!("{a}/reservar"), Some(&token), &as_other).await, 403);
    assert_refused(&client.get(&format!("{a}/passagens-all/{own}"), None).await, 401);
    assert_refused(&client.get(&format!("{a}/passagens-all/{own}"), Some("garbage")).await, 401);

    let uuid = pass["uuid"].as_str().unwrap();
    assert_refused(&client.delete(&format!("{a}/passagem-all/{other}/{uuid}"), Some(&token)).await, 403);
    assert_refused(&client.delete(&format!("{a}/passagem-all/{own}/not-a-uuid"), Some(&token)).await, 404);
    let someone_elses = legacy_login(&client, &a, 3).await;
    assert_refused(&client.delete(&format!("{c}/passagem-all/uuid/{uuid}"), Some(&someone_elses)).await, 404);
    let deleted = client.delete(&format!("{c}/passagem-all/{own}/{uuid}"), Some(&token)).await;
    assert_message(&deleted, 200, "Passagem deletada com sucesso");
    let freed = eventually(Duration::from_secs(10), || async {
        let mut all_free = true;
        for app in &fed.apps {
            all_free &= seat_state(&app.db, "ORIG-1", "3A").await.0 == "available";
        }
        all_free
    })
    .await;
    assert!(freed, "cancelling frees the seat at every airline");
    assert_message(
        &client.get(&format!("{c}/passagens-all/{own}"), Some(&token)).await,
        404,
        "Nenhuma passagem encontrada",
    );
}

#[tokio::test]
async fn hostile_reservations_get_a_4xx_with_a_message_and_hold_nothing() {
    let fed = TestFederation::start(Options::legacy()).await;
    let client = fed.client();
    let a = fed.url("a");
    let token = legacy_login(&client, &a, 1).await;
    let too_many: Vec<Value> = (0..7).map(|n| leg("a", 1, 2 * n + 1)).collect();
    let cases: Vec<(Value, u16)> = vec![
        (json!({"trechos": []}), 400),
        (json!({"trechos": too_many}), 400),
        (json!({"trechos": [leg("z", 1, 5)]}), 400),
        (json!({"trechos": [leg("A!", 1, 5)]}), 400),
        (json!({"trechos": [leg("a", 99, 5)]}), 404),
        // Seat 2 is on segment 2.
        (json!({"trechos": [leg("a", 1, 2)]}), 404),
        (json!({"trechos": [leg("a", i64::MAX, i64::MIN)]}), 404),
        (json!({"trechos": [leg("b", 99, 5)]}), 404),
        // Segments that do not chain (A1 → B1, then B2 → C2).
        (json!({"trechos": [leg("a", 1, 5), leg("b", 2, 6)]}), 400),
        // The same segment twice.
        (json!({"trechos": [leg("a", 1, 5), leg("a", 1, 7)]}), 400),
        (json!({"trechos": [{"id_trecho": "1", "id_assento": 5, "company": "a"}]}), 400),
        (json!({"trechos": [{"id_trecho": 1.5, "id_assento": 5, "company": "a"}]}), 400),
        (json!({"trechos": "all"}), 400),
        (json!({"user_uuid": "uuid2"}), 400),
        (json!([1, 2]), 400),
    ];
    for (body, status) in cases {
        let answer = client.post(&format!("{a}/reservar"), Some(&token), &body).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(!answer.body["message"].as_str().unwrap_or("").is_empty(), "{body}: {}", answer.body);
    }
    assert_refused(&client.post(&format!("{a}/reservar"), None, &json!({"trechos": [leg("a", 1, 5)]})).await, 401);
    for app in &fed.apps {
        assert_eq!(seats_not_available(&app.db).await, 0, "nothing held or sold at {}", app.airline);
    }
    assert_eq!(redis_locks(&fed.prefix).await, 0);
}

#[tokio::test]
async fn thirty_reservations_of_one_seat_at_each_server_sell_it_once() {
    let fed = TestFederation::start(Options::legacy()).await;
    let client = fed.client();
    // As the original script: the same account logged in at each server, then 30 at each.
    let mut tokens = Vec::new();
    for code in AIRLINES {
        tokens.push((fed.url(code), legacy_login(&client, &fed.url(code), 2).await));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(90));
    let mut attempts = Vec::new();
    for (base, token) in &tokens {
        for _ in 0..30 {
            let (client, barrier) = (client.clone(), barrier.clone());
            attempts.push(async move {
                barrier.wait().await;
                reservar(&client, base, token, &[leg("a", 1, 5)]).await
            });
        }
    }
    let answers = join_all(attempts).await;
    let sold = answers.iter().filter(|a| a.status == 200).count();
    let refused = answers
        .iter()
        .filter(|a| {
            a.status == 409
                && ["Outro cliente está reservando este assento, tente novamente", "Assento não está disponível"]
                    .contains(&a.body["message"].as_str().unwrap_or(""))
        })
        .count();
    assert_eq!((sold, refused), (1, 89), "one sale, 89 clear refusals");
    assert!(seat_becomes(&fed.app("a").db, "ORIG-1", "3A", "sold").await);
    assert_eq!(seats_not_available(&fed.app("a").db).await, 1, "nothing else is held or sold");
    assert_eq!(redis_locks(&fed.prefix).await, 0);
    let (own, _, _) = demo_user(2);
    let token = &tokens[0].1;
    // The pass may have been sold by another airline: it reaches a by replication.
    let replicated = eventually(Duration::from_secs(10), || async {
        client.get(&format!("{}/passagens-all/{own}", fed.url("a")), Some(token)).await.status == 200
    })
    .await;
    assert!(replicated);
    let passes = client.get(&format!("{}/passagens-all/{own}", fed.url("a")), Some(token)).await;
    assert_eq!(passes.body.as_array().unwrap().len(), 1, "one pass holds the seat");
}

#[tokio::test]
async fn a_three_airline_reservation_refused_on_one_leg_leaves_nothing_anywhere() {
    let fed = TestFederation::start(Options::legacy()).await;
    let client = fed.client();
    let (a, c) = (fed.url("a"), fed.url("c"));
    let first = legacy_login(&client, &c, 1).await;
    assert_eq!(reservar(&client, &c, &first, &[leg("c", 1, 7)]).await.status, 200);
    let second = legacy_login(&client, &a, 3).await;
    let itinerary = [leg("a", 1, 7), leg("b", 1, 7), leg("c", 1, 7)];
    assert_message(&reservar(&client, &a, &second, &itinerary).await, 409, "Assento não está disponível");
    for code in ["a", "b"] {
        let nothing =
            eventually(Duration::from_secs(5), || async { seats_not_available(&fed.app(code).db).await == 0 }).await;
        assert!(nothing, "nothing held or sold at {code}");
    }
    assert_eq!(seats_not_available(&fed.app("c").db).await, 1, "only the first buyer's seat");
    assert_eq!(redis_locks(&fed.prefix).await, 0);
    let (second_user, _, _) = demo_user(3);
    assert_refused(&client.get(&format!("{a}/passagens-all/{second_user}"), Some(&second)).await, 404);
}

#[tokio::test]
async fn cors_answers_the_original_pages_and_only_on_the_original_routes() {
    let fed = TestFederation::start_airlines(
        &["a"],
        Options::legacy().with("PASSCOM_CORS_ORIGINS", "http://localhost:5050,http://pages.test"),
    )
    .await;
    let client = fed.client();
    let a = fed.url("a");
    let preflight = |path: &str, origin: &str| {
        client.send(
            client
                .http
                .request(reqwest::Method::OPTIONS, format!("{a}{path}"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization,content-type"),
        )
    };
    let header = |answer: &Answer, name: &str| {
        answer.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    for origin in ["http://localhost:5050", "http://pages.test"] {
        let answer = preflight("/reservar", origin).await;
        assert_eq!(answer.status, 204);
        assert_eq!(header(&answer, "access-control-allow-origin"), origin);
        let allowed = header(&answer, "access-control-allow-headers").to_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
        assert!(header(&answer, "access-control-allow-methods").contains("POST"));
    }
    let stranger = preflight("/reservar", "http://evil.test").await;
    assert_eq!(header(&stranger, "access-control-allow-origin"), "");
    let listed = client.send(client.http.get(format!("{a}/trechos")).header("origin", "http://localhost:5050")).await;
    assert_eq!((listed.status, header(&listed, "access-control-allow-origin")), (200, "http://localhost:5050".into()));
    let refused = client
        .send(client.http.post(format!("{a}/reservar")).header("origin", "http://localhost:5050").body("{}"))
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(header(&refused, "access-control-allow-origin"), "http://localhost:5050", "refusals too");
    // Our own API stays same-origin.
    let ours =
        client.send(client.http.get(format!("{a}/api/v1/segments")).header("origin", "http://localhost:5050")).await;
    assert_eq!(header(&ours, "access-control-allow-origin"), "");
    let ours = preflight("/api/v1/bookings", "http://localhost:5050").await;
    assert_eq!(header(&ours, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn with_an_airline_down_listings_leave_it_out_and_reservations_needing_it_book_nothing() {
    let mut fed = ProcessFederation::start(Options::legacy()).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = legacy_login(&client, &a, 2).await;
    fed.server("c").kill();
    let all = client.get(&format!("{a}/all-trechos"), None).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.headers["x-unavailable-airlines"], "c");
    assert!(all.body.as_array().unwrap().iter().all(|t| t["company"] != "c"));
    let answer = reservar(&client, &a, &token, &[leg("a", 1, 5), leg("b", 1, 5), leg("c", 1, 5)]).await;
    assert_refused(&answer, 503);
    assert_eq!(answer.body["error"], "airline_unavailable");
    let route = client.post(&format!("{a}/rotas"), None, &json!({"origem": "Cidade A1", "destino": "Cidade C1"})).await;
    assert_eq!(route.status, 200, "routes without c still work: {}", route.body);
    for code in ["a", "b"] {
        assert_eq!(seats_not_available(fed.db(code)).await, 0, "nothing held or sold at {code}");
    }
}
