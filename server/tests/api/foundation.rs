//! One airline's public API, operations endpoints, and hostile input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passcom_server::auth::{tokens, SigningKey};
use passcom_server::config::Settings;
use passcom_shared::AirlineCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let base = fed.url("a");
    assert_eq!(client.get(&format!("{base}/healthz"), None).await.status, 200);
    let ready = client.get(&format!("{base}/readyz"), None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["checks"], json!({"database": true, "redis": true}));

    let res = client.send(client.http.get(format!("{base}/healthz")).header("x-request-id", "trace-me-42")).await;
    assert_eq!(res.headers["x-request-id"], "trace-me-42", "a sane incoming id is kept");
    let res = client.send(client.http.get(format!("{base}/healthz")).header("x-request-id", "bad id; drop")).await;
    let generated = res.headers["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "an insane one is replaced by a fresh uuid");

    let metrics = client.get(&format!("{base}/metrics"), None).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("passcom_http_requests_total{"), "{text}");
    assert!(text.contains(r#"route="/healthz""#), "requests are labelled by route pattern");
}

#[tokio::test]
async fn register_login_and_me() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let base = fed.url("a");
    let account = client.register(&base, "Maria.Silva").await;
    assert_eq!(account.login, "maria.silva", "logins are case-insensitive and stored in lowercase");
    let session = client.login(&base, "MARIA.SILVA").await;
    assert_eq!(session.token_type, "Bearer");
    assert_eq!(session.user_id, account.user_id);
    let me = client.get(&format!("{base}/api/v1/me"), Some(&session.access_token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body, json!({"user_id": account.user_id, "login": "maria.silva"}));

    let again = client
        .post(&format!("{base}/api/v1/accounts"), None, &json!({"login": "maria.silva", "password": PASSWORD}))
        .await;
    again.assert_problem(409, "login_taken");

    let wrong = client
        .post(&format!("{base}/api/v1/sessions"), None, &json!({"login": "maria.silva", "password": "nope nope"}))
        .await;
    wrong.assert_problem(401, "bad_credentials");
    let nobody =
        client.post(&format!("{base}/api/v1/sessions"), None, &json!({"login": "nobody", "password": PASSWORD})).await;
    nobody.assert_problem(401, "bad_credentials");
    assert_eq!(wrong.body["detail"], nobody.body["detail"], "the answer does not tell which part was wrong");

    let hash: String = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let mut conn = fed.app("a").db.conn().await;
        passcom_server::schema::users::table
            .select(passcom_server::schema::users::password_hash)
            .first(&mut conn)
            .await
            .unwrap()
    };
    assert!(hash.starts_with("$argon2id$"), "passwords are stored as argon2id hashes");
}

#[tokio::test]
async fn jwks_publishes_the_airline_key() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let jwks = fed.client().get(&format!("{}/.well-known/jwks.json", fed.url("a")), None).await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (key["kid"].as_str(), key["kty"].as_str(), key["crv"].as_str()),
        (Some("a"), Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap().len(), 32);
    assert!(key.get("d").is_none(), "no private part is published");
}

#[tokio::test]
async fn segments_filter_and_seat_maps() {
    let fed = TestFederation::start_airlines(&["a"], Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    let all = client.get(&format!("{base}/api/v1/segments"), None).await;
    assert_eq!(all.status, 200);
    let segments = all.body["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    assert_eq!(all.body["unavailable_airlines"], json!([]));
    let times: Vec<&str> = segments.iter().map(|s| s["departs_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted by departure");

    let filtered =
        client.get(&format!("{base}/api/v1/segments?origin=SAO%20PAULO&destination=rio%20de%20janeiro"), None).await;
    let filtered = filtered.body["segments"].as_array().unwrap().clone();
    assert!(!filtered.is_empty());
    assert!(filtered.iter().all(|s| s["origin"] == "São Paulo" && s["destination"] == "Rio de Janeiro"));
    let none = client.get(&format!("{base}/api/v1/segments?origin=Atlantis"), None).await;
    assert_eq!((none.status, none.body["segments"].as_array().unwrap().len()), (200, 0));

    let first = &segments[0];
    let id = first["segment_id"].as_str().unwrap();
    let detail = client.get(&format!("{base}/api/v1/segments/a/{id}"), None).await;
    assert_eq!(detail.status, 200);
    let seats = detail.body["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 180, "30 rows of A-F");
    assert_eq!((seats[0]["seat"].as_str(), seats[6]["seat"].as_str()), (Some("1A"), Some("2A")));
    assert_eq!(seats[179]["seat"], "30F");
    assert_eq!(detail.body["seats_available"], 180);
    assert_eq!(detail.body["price"]["currency"], "BRL");

    client.get(&format!("{base}/api/v1/segments/a/NOPE-1"), None).await.assert_problem(404, "not_found");
    client.get(&format!("{base}/api/v1/segments/zz/{id}"), None).await.assert_problem(404, "not_found");
    client.get(&format!("{base}/api/v1/segments/a/..%2F..%2Fetc"), None).await.assert_problem(400, "invalid_path");
    client.get(&format!("{base}/api/v1/segments/A!/{id}"), None).await.assert_problem(400, "invalid_path");
    client.get(&format!("{base}/api/v1/segments?airline=zz"), None).await.assert_problem(400, "invalid_query");
    client.get(&format!("{base}/api/v1/segments?color=red"), None).await.assert_problem(400, "invalid_query");
    let long = "x".repeat(500);
    client.get(&format!("{base}/api/v1/segments?origin={long}"), None).await.assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn hostile_bodies_get_a_clear_4xx_and_write_nothing() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let url = format!("{}/api/v1/accounts", fed.url("a"));
    let raw = |body: Vec<u8>, content_type: &'static str| {
        client.http.post(&url).header("content-type", content_type).body(body)
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (raw(b"{\"login\": ".to_vec(), "application/json"), 400, "invalid_body"),
        (raw(b"[1,2,3]".to_vec(), "application/json"), 400, "invalid_body"),
        (raw(br#"{"login": 5, "password": "correct horse"}"#.to_vec(), "application/json"), 400, "invalid_body"),
        (raw(br#"{"login": "ana"}"#.to_vec(), "application/json"), 400, "invalid_body"),
        (
            raw(br#"{"login": "ana", "password": "correct horse", "admin": true}"#.to_vec(), "application/json"),
            400,
            "invalid_body",
        ),
        (raw(br#"{"login": "a", "password": "correct horse"}"#.to_vec(), "application/json"), 400, "invalid_body"),
        (raw(br#"{"login": "ana", "password": "short"}"#.to_vec(), "application/json"), 400, "invalid_body"),
        (
            raw(br#"{"login": "ana; DROP TABLE users", "password": "correct horse"}"#.to_vec(), "application/json"),
            400,
            "invalid_body",
        ),
        (
            raw(
                format!(r#"{{"login": "{}", "password": "correct horse"}}"#, "l".repeat(10_000)).into_bytes(),
                "application/json",
            ),
            400,
            "invalid_body",
        ),
        (
            raw(
                format!(r#"{{"login": "ana", "password": "{}"}}"#, "p".repeat(10_000)).into_bytes(),
                "application/json",
            ),
            400,
            "invalid_body",
        ),
        (
            raw(br#"login=ana&password=correct+horse"#.to_vec(), "application/x-www-form-urlencoded"),
            415,
            "unsupported_media_type",
        ),
        (raw(vec![b' '; 3 * 1024 * 1024], "application/json"), 413, "payload_too_large"),
    ];
    for (req, status, code) in cases {
        client.send(req).await.assert_problem(status, code);
    }
    client.get(&format!("{}/api/v1/nothing-here", fed.url("a")), None).await.assert_problem(404, "not_found");
    client.delete(&format!("{}/api/v1/me", fed.url("a")), None).await.assert_problem(405, "method_not_allowed");
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM users").await, 0, "nothing was written");
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM login_claims").await, 0);
    assert_eq!(fed.app("a").db.count("SELECT count(*) AS n FROM outbox").await, 0);
}

fn forge_alg_none(valid: &str) -> String {
    let payload = valid.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"a"}"#);
    format!("{header}.{payload}.")
}

fn tamper(valid: &str) -> String {
    let (rest, sig) = valid.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 0x01;
    format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    let me = format!("{base}/api/v1/me");
    assert_eq!(client.get(&me, Some(&token)).await.status, 200);

    let own = SigningKey::load_or_generate(&fed.key_path("a"), AirlineCode::parse("a").unwrap()).unwrap();
    let user = uuid::Uuid::new_v4();
    let expired = tokens::issue_passenger(&own, user, "ghost", -3600).unwrap();
    let stranger_dir = std::env::temp_dir().join(format!("passcom-stranger-{}", uuid::Uuid::new_v4().simple()));
    let stranger =
        SigningKey::load_or_generate(&stranger_dir.join("zz.pem"), AirlineCode::parse("zz").unwrap()).unwrap();
    let unknown_kid = tokens::issue_passenger(&stranger, user, "ghost", 3600).unwrap();
    let impostor = SigningKey::load_or_generate(&stranger_dir.join("a.pem"), AirlineCode::parse("a").unwrap()).unwrap();
    let wrong_key = tokens::issue_passenger(&impostor, user, "ghost", 3600).unwrap();
    let service = tokens::issue_service(&own).unwrap();
    std::fs::remove_dir_all(stranger_dir).unwrap();

    for (name, bad) in [
        ("garbage", "not-a-jwt".to_owned()),
        ("tampered signature", tamper(&token)),
        ("expired", expired),
        ("alg none", forge_alg_none(&token)),
        ("unknown kid", unknown_kid),
        ("signed by another key", wrong_key),
        ("service token as passenger", service),
    ] {
        let answer = client.get(&me, Some(&bad)).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        answer.assert_problem(401, "unauthorized");
    }
    client.get(&me, None).await.assert_problem(401, "unauthorized");
    let basic = client.send(client.http.get(&me).header("authorization", "Basic YTpi")).await;
    basic.assert_problem(401, "unauthorized");
}

#[test]
fn docker_compose_configures_every_company_like_the_server_expects() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().unwrap();
    for name in ["redis", "db_a", "db_b", "db_c"] {
        assert!(services.contains_key(name), "service {name}");
    }
    for code in ["a", "b", "c"] {
        let service = &doc["services"][format!("company_{code}").as_str()];
        let mut service = service.clone();
        service.apply_merge().unwrap();
        let mut env = service["environment"].clone();
        env.apply_merge().unwrap();
        let env: std::collections::HashMap<String, String> = match env {
            serde_yaml::Value::Mapping(map) => map
                .into_iter()
                .filter(|(k, _)| k.as_str() != Some("<<"))
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), yaml_scalar(&v)))
                .collect(),
            other => panic!("environment of company_{code} is a map, not {other:?}"),
        };
        for var in [
            "PASSCOM_AIRLINE",
            "PASSCOM_BIND",
            "PASSCOM_PUBLIC_URL",
            "DATABASE_URL",
            "REDIS_URL",
            "PASSCOM_PEERS",
            "PASSCOM_SIGNING_KEY",
            "RUST_LOG",
        ] {
            assert!(env.contains_key(var), "company_{code} names {var}");
        }
        let settings = Settings::from_lookup(|k| env.get(k).cloned()).unwrap_or_else(|e| panic!("company_{code}: {e}"));
        assert_eq!(settings.airline.as_str(), code);
        assert_eq!(settings.peers.len(), 2, "company_{code} knows both peers");
        assert!(settings.database_url.contains(&format!("db_{code}")), "company_{code} uses its own database");
        assert!(settings.redis_url.contains("redis"));
        let depends = &service["depends_on"];
        assert_eq!(depends[format!("db_{code}").as_str()]["condition"], "service_healthy");
        assert_eq!(depends["redis"]["condition"], "service_healthy");
        assert!(service["healthcheck"].is_mapping(), "company_{code} has a healthcheck");
    }
    let _: &Value = &json!(null);
}

fn yaml_scalar(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => panic!("environment values are scalars, not {other:?}"),
    }
}
