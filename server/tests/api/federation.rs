//! The airlines as one marketplace: accounts, keys, the catalog, routes, and peers failing.

use std::collections::HashSet;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use passcom_server::auth::{tokens, SigningKey};
use passcom_shared::AirlineCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn register_anywhere_log_in_everywhere() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let account = client.register(&fed.url("a"), "joana").await;

    // A token issued by a is accepted at b and c at once: they fetch a's public key.
    let token = client.login(&fed.url("a"), "joana").await.access_token;
    for code in ["b", "c"] {
        let me = client.get(&format!("{}/api/v1/me", fed.url(code)), Some(&token)).await;
        assert_eq!((me.status, &me.body["user_id"]), (200, &json!(account.user_id)), "a's token at {code}");
    }
    // The account itself arrives everywhere through the outbox.
    for code in ["b", "c"] {
        let url = format!("{}/api/v1/sessions", fed.url(code));
        let logged_in = eventually(Duration::from_secs(10), || async {
            client.post(&url, None, &json!({"login": "joana", "password": PASSWORD})).await.status == 200
        })
        .await;
        assert!(logged_in, "joana can log in at {code}");
    }
    let session = client.login(&fed.url("c"), "joana").await;
    assert_eq!(session.user_id, account.user_id, "one account, one id everywhere");
    // And the login is taken everywhere.
    for code in ["a", "b", "c"] {
        let again = client
            .post(&format!("{}/api/v1/accounts", fed.url(code)), None, &json!({"login": "joana", "password": PASSWORD}))
            .await;
        again.assert_problem(409, "login_taken");
    }
    for app in &fed.apps {
        // A row goes once every peer has acknowledged, a moment after the last one applied it.
        assert!(
            app.db.count_becomes("SELECT count(*) AS n FROM outbox", 0).await,
            "{} delivered everything",
            app.airline
        );
    }
}

#[tokio::test]
async fn the_same_login_registered_concurrently_at_two_servers_wins_once() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    for round in 0..5 {
        let login = format!("race{round}");
        let body = json!({"login": login, "password": PASSWORD});
        let urls: Vec<String> = ["a", "b", "c"].iter().map(|c| format!("{}/api/v1/accounts", fed.url(c))).collect();
        let answers = futures::future::join_all(urls.iter().map(|url| client.post(url, None, &body))).await;
        let created = answers.iter().filter(|a| a.status == 201).count();
        let taken = answers.iter().filter(|a| a.status == 409 && a.code() == "login_taken").count();
        assert_eq!(
            (created, taken),
            (1, 2),
            "round {round}: {:?}",
            answers.iter().map(|a| &a.body).collect::<Vec<_>>()
        );
    }
    // Once replication settles, each airline has exactly the five winners.
    for app in &fed.apps {
        let settled = app.db.count_becomes("SELECT count(*) AS n FROM users", 5).await;
        assert!(settled, "airline {} has the 5 accounts", app.airline);
    }
}

#[tokio::test]
async fn the_catalog_merges_every_airline() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let list = client.get(&format!("{}/api/v1/segments", fed.url("b")), None).await;
    assert_eq!(list.status, 200);
    let airlines: HashSet<&str> =
        list.body["segments"].as_array().unwrap().iter().map(|s| s["airline"].as_str().unwrap()).collect();
    assert_eq!(airlines, HashSet::from(["a", "b", "c"]));
    assert_eq!(list.body["unavailable_airlines"], json!([]));

    let only_c = client.get(&format!("{}/api/v1/segments?airline=c&origin=florianopolis", fed.url("a")), None).await;
    let only_c = only_c.body["segments"].as_array().unwrap();
    assert!(!only_c.is_empty());
    assert!(only_c.iter().all(|s| s["airline"] == "c" && s["origin"] == "Florianópolis"));

    let id = only_c[0]["segment_id"].as_str().unwrap();
    let detail = client.get(&format!("{}/api/v1/segments/c/{id}", fed.url("a")), None).await;
    assert_eq!(detail.status, 200, "a peer's seat map through a: {}", detail.body);
    assert_eq!(detail.body["seats"].as_array().unwrap().len(), 180);
    client.get(&format!("{}/api/v1/segments/c/NOPE-1", fed.url("a")), None).await.assert_problem(404, "not_found");
}

fn chain_is_valid(route: &Value) -> bool {
    let legs = route["legs"].as_array().unwrap();
    legs.windows(2).all(|w| {
        let arrives: chrono::DateTime<chrono::Utc> = w[0]["arrives_at"].as_str().unwrap().parse().unwrap();
        let departs: chrono::DateTime<chrono::Utc> = w[1]["departs_at"].as_str().unwrap().parse().unwrap();
        w[0]["destination"] == w[1]["origin"] && departs >= arrives + chrono::Duration::minutes(30)
    })
}

#[tokio::test]
async fn routes_find_itineraries_that_need_all_three_airlines() {
    let fed = TestFederation::start(Options::demo().with("PASSCOM_HTTP_WORKERS", "1")).await;
    let client = fed.client();
    // Only b flies out of Porto Alegre, only c flies north from the south, only a serves Recife.
    let url = format!("{}/api/v1/routes?origin=Porto%20Alegre&destination=Recife", fed.url("c"));
    let answer = client.get(&url, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let routes = answer.body["routes"].as_array().unwrap();
    assert!(!routes.is_empty(), "Porto Alegre to Recife exists");
    for route in routes {
        let airlines: HashSet<&str> =
            route["legs"].as_array().unwrap().iter().map(|l| l["airline"].as_str().unwrap()).collect();
        assert_eq!(airlines, HashSet::from(["a", "b", "c"]));
        assert!(chain_is_valid(route), "legs chain in space and time: {route}");
        let legs = route["legs"].as_array().unwrap();
        assert_eq!(route["departs_at"], legs[0]["departs_at"]);
        assert_eq!(route["arrives_at"], legs[legs.len() - 1]["arrives_at"]);
        assert!(legs.len() <= 4, "max_legs defaults to 4");
        assert!(legs.iter().all(|l| l["seats_available"].as_i64().unwrap() > 0));
    }
    let arrivals: Vec<&str> = routes.iter().map(|r| r["arrives_at"].as_str().unwrap()).collect();
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]), "sorted by arrival");

    let folded =
        client.get(&format!("{}/api/v1/routes?origin=PORTO%20ALEGRE&destination=recife", fed.url("a")), None).await;
    assert_eq!(folded.body["routes"], answer.body["routes"], "case does not matter, nor which server answers");
    let accents = client
        .get(
            &format!("{}/api/v1/routes?origin=Florian%C3%B3polis&destination=Sao%20Paulo&max_legs=1", fed.url("b")),
            None,
        )
        .await;
    let plain = client
        .get(
            &format!("{}/api/v1/routes?origin=florianopolis&destination=S%C3%A3o%20Paulo&max_legs=1", fed.url("b")),
            None,
        )
        .await;
    assert!(!accents.body["routes"].as_array().unwrap().is_empty());
    assert_eq!(accents.body["routes"], plain.body["routes"], "accents do not matter");

    let nowhere = client.get(&format!("{}/api/v1/routes?origin=Atlantis&destination=Recife", fed.url("a")), None).await;
    assert_eq!((nowhere.status, nowhere.body["routes"].clone()), (200, json!([])));
    let base = fed.url("a");
    client.get(&format!("{base}/api/v1/routes?origin=Recife"), None).await.assert_problem(400, "invalid_query");
    client.get(&format!("{base}/api/v1/routes?destination=Recife"), None).await.assert_problem(400, "invalid_query");
    for bad in ["0", "7", "-1", "many"] {
        let answer =
            client.get(&format!("{base}/api/v1/routes?origin=Recife&destination=Salvador&max_legs={bad}"), None).await;
        answer.assert_problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn routes_on_a_hand_checked_graph() {
    // The segments go in after the servers start: no catalog caching, so none is missed.
    let fed = TestFederation::start(Options::empty().with("PASSCOM_CATALOG_CACHE_MS", "0")).await;
    let t0 = t0();
    seed_segments(
        &fed.app("a").db,
        &[
            departure("A1-X", "Xique", "Yara", t0, 0, 60, 100),  // 00:00-01:00
            departure("A2-X", "Xique", "Zeta", t0, 0, 300, 150), // 00:00-05:00
        ],
        2,
    )
    .await;
    seed_segments(
        &fed.app("b").db,
        &[
            departure("B1-Y", "Yara", "Zeta", t0, 90, 60, 100), // 01:30-02:30: exactly 30 min after A1
            departure("B2-Y", "Yara", "Zeta", t0, 80, 30, 10),  // 01:20: too tight after A1
            departure("B3-Z", "Zeta", "Wanda", t0, 180, 60, 100), // 03:00-04:00
        ],
        2,
    )
    .await;
    seed_segments(
        &fed.app("c").db,
        &[
            departure("C1-Y", "Yara", "Wanda", t0, 120, 180, 100), // 02:00-05:00
            departure("C2-Z", "Zeta", "Xique", t0, 180, 60, 10),   // back to the origin
            departure("C3-Z", "Zeta", "Wanda", t0, 360, 60, 100),  // 06:00-07:00
        ],
        2,
    )
    .await;
    let client = fed.client();
    let ids = |body: &Value| -> Vec<Vec<String>> {
        body["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["legs"].as_array().unwrap().iter().map(|l| l["segment_id"].as_str().unwrap().to_owned()).collect()
            })
            .collect()
    };
    let all = client.get(&format!("{}/api/v1/routes?origin=xique&destination=wanda", fed.url("b")), None).await;
    assert_eq!(
        ids(&all.body),
        vec![
            vec!["A1-X", "B1-Y", "B3-Z"], // arrives 04:00
            vec!["A1-X", "C1-Y"],         // arrives 05:00
            vec!["A2-X", "C3-Z"],         // arrives 07:00, 250
            vec!["A1-X", "B1-Y", "C3-Z"], // arrives 07:00, 300
        ]
    );
    assert_eq!(all.body["routes"][2]["total_price"], json!({"amount": "2.50", "currency": "BRL"}));
    let short =
        client.get(&format!("{}/api/v1/routes?origin=xique&destination=wanda&max_legs=2", fed.url("c")), None).await;
    assert_eq!(ids(&short.body), vec![vec!["A1-X", "C1-Y"], vec!["A2-X", "C3-Z"]]);
}

#[tokio::test]
async fn internal_routes_refuse_anyone_but_a_peer() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let url = format!("{}/internal/v1/segments", fed.url("b"));
    client.get(&url, None).await.assert_problem(401, "unauthorized");
    let passenger = client.passenger(&fed.url("b")).await;
    client.get(&url, Some(&passenger)).await.assert_problem(401, "unauthorized");

    let a_key = SigningKey::load_or_generate(&fed.key_path("a"), AirlineCode::parse("a").unwrap()).unwrap();
    let service = tokens::issue_service(&a_key).unwrap();
    assert_eq!(client.get(&url, Some(&service)).await.status, 200, "a real peer gets in");

    let (head, sig) = service.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
    client.get(&url, Some(&forged)).await.assert_problem(401, "unauthorized");
    let dir = std::env::temp_dir().join(format!("passcom-forger-{}", uuid::Uuid::new_v4().simple()));
    let impostor = SigningKey::load_or_generate(&dir.join("a.pem"), AirlineCode::parse("a").unwrap()).unwrap();
    client.get(&url, Some(&tokens::issue_service(&impostor).unwrap())).await.assert_problem(401, "unauthorized");
    std::fs::remove_dir_all(dir).unwrap();

    // Replication carries whole backlogs: far more than a public body, but not without bound.
    let replication = format!("{}/internal/v1/replication", fed.url("b"));
    let releases: Vec<Value> =
        (0..1000).map(|_| json!({"kind": "release", "payload": {"booking_id": uuid::Uuid::new_v4()}})).collect();
    let batch = json!({ "messages": releases });
    assert!(batch.to_string().len() > 64 * 1024);
    let applied = client.post(&replication, Some(&service), &batch).await;
    assert_eq!((applied.status, applied.body["applied"].clone()), (200, json!(1000)), "{}", applied.body);
    let huge = json!({"messages": [], "padding": "x".repeat(5 * 1024 * 1024)});
    client.post(&replication, Some(&service), &huge).await.assert_problem(413, "payload_too_large");

    let hold = client
        .post(
            &format!("{}/internal/v1/holds", fed.url("b")),
            Some(&passenger),
            &json!({"booking_id": uuid::Uuid::new_v4(), "coordinator": "a", "legs": []}),
        )
        .await;
    hold.assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn only_a_bookings_coordinator_decides_it() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let key =
        |code: &str| SigningKey::load_or_generate(&fed.key_path(code), AirlineCode::parse(code).unwrap()).unwrap();
    let (a, c) = (tokens::issue_service(&key("a")).unwrap(), tokens::issue_service(&key("c")).unwrap());
    let segment = first_segment(&client, &fed.url("b"), "b").await["segment_id"].as_str().unwrap().to_owned();
    let booking = uuid::Uuid::new_v4();
    let b = fed.url("b");
    let hold = json!({"booking_id": booking, "coordinator": "a", "legs": [{"segment_id": segment, "seat": "1A"}]});
    client.post(&format!("{b}/internal/v1/holds"), Some(&c), &hold).await.assert_problem(403, "forbidden");
    assert_eq!(client.post(&format!("{b}/internal/v1/holds"), Some(&a), &hold).await.status, 200);
    for action in ["commit", "abort"] {
        let url = format!("{b}/internal/v1/holds/{booking}/{action}");
        client.post(&url, Some(&c), &json!(null)).await.assert_problem(403, "forbidden");
    }
    assert_eq!(seat_state(&fed.app("b").db, &segment, "1A").await.0, "held", "c could not decide a's booking");
    assert_eq!(
        client.post(&format!("{b}/internal/v1/holds/{booking}/commit"), Some(&a), &json!(null)).await.status,
        200
    );
    assert_eq!(seat_state(&fed.app("b").db, &segment, "1A").await.0, "sold");
    let bogus = client.post(&format!("{b}/internal/v1/holds/{booking}/explode"), Some(&a), &json!(null)).await;
    bogus.assert_problem(400, "invalid_path");
}

async fn can_log_in(client: &Client, base: &str, login: &str) -> bool {
    let body = json!({"login": login, "password": PASSWORD});
    client.post(&format!("{base}/api/v1/sessions"), None, &body).await.status == 200
}

#[tokio::test]
async fn a_dead_peer_gives_partial_answers_then_catches_up() {
    // Polling for a login that has not arrived yet would use up its allowance of attempts.
    let mut fed = ProcessFederation::start(Options::demo().unlimited()).await;
    let client = Client::default();
    let (a, b) = (fed.url("a"), fed.url("b"));
    let c_segment = first_segment(&client, &a, "c").await["segment_id"].as_str().unwrap().to_owned();
    fed.server("c").kill();

    // Catalog reads are reused for up to a second, so c's absence shows within about that.
    let noticed = eventually(Duration::from_secs(5), || async {
        client.get(&format!("{a}/api/v1/segments"), None).await.body["unavailable_airlines"] == json!(["c"])
    })
    .await;
    assert!(noticed, "a notices that c is gone");
    for _ in 0..4 {
        let list = client.get(&format!("{a}/api/v1/segments"), None).await;
        assert_eq!(list.status, 200);
        assert_eq!(list.body["unavailable_airlines"], json!(["c"]));
        let airlines: HashSet<&str> =
            list.body["segments"].as_array().unwrap().iter().map(|s| s["airline"].as_str().unwrap()).collect();
        assert_eq!(airlines, HashSet::from(["a", "b"]));
    }
    let status = client.get(&format!("{a}/api/v1/federation"), None).await;
    let c = status.body["peers"].as_array().unwrap().iter().find(|p| p["airline"] == "c").unwrap().clone();
    // Open, or already letting one probe through after its cooldown (short in tests).
    assert_ne!(c["breaker"], "closed", "after repeated failures nobody waits for c: {c}");
    let routes = client.get(&format!("{b}/api/v1/routes?origin=Porto%20Alegre&destination=Recife"), None).await;
    assert_eq!((routes.status, routes.body["unavailable_airlines"].clone()), (200, json!(["c"])));
    client.get(&format!("{a}/api/v1/segments/c/{c_segment}"), None).await.assert_problem(503, "airline_unavailable");

    // Registration needs a majority (a and b), login needs only the local copy.
    client.register(&a, "while-c-sleeps").await;
    let logged_in_at_b = eventually(Duration::from_secs(10), || can_log_in(&client, &b, "while-c-sleeps")).await;
    assert!(logged_in_at_b);

    fed.server("c").restart().await;
    let c_url = fed.url("c");
    let caught_up = eventually(Duration::from_secs(15), || can_log_in(&client, &c_url, "while-c-sleeps")).await;
    assert!(caught_up, "c has the account made while it was down");
    let healed = eventually(Duration::from_secs(10), || async {
        client.get(&format!("{a}/api/v1/segments"), None).await.body["unavailable_airlines"] == json!([])
    })
    .await;
    assert!(healed, "the breaker closes again once c answers");
}

#[tokio::test]
async fn a_backlog_larger_than_one_call_reaches_a_peer_that_was_down() {
    let mut fed = ProcessFederation::start(Options::demo().unlimited()).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    // Registration returns once a majority has the account; c may still be owed it. Let it
    // arrive first, so that what waits for c below is the passes alone.
    assert!(
        fed.db("a").count_becomes("SELECT count(*) AS n FROM outbox", 0).await,
        "the new account reaches every peer"
    );
    fed.server("c").kill();

    // More passes than one delivery round takes, and more bytes than a public request may carry.
    let segments = client.get(&format!("{a}/api/v1/segments?airline=a"), None).await;
    let seats: Vec<(String, String)> = segments.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let id = s["segment_id"].as_str().unwrap().to_owned();
            (1..=30).flat_map(move |row| ["A", "B", "C", "D", "E", "F"].map(|l| (id.clone(), format!("{row}{l}"))))
        })
        .take(300)
        .collect();
    assert_eq!(seats.len(), 300);
    for chunk in seats.chunks(10) {
        let sales = chunk.iter().map(|(segment, seat)| {
            let (client, a, token) = (&client, &a, &token);
            async move { client.book(a, token, &[("a", segment, seat)]).await }
        });
        for sale in futures::future::join_all(sales).await {
            assert_eq!(sale.status, 201, "{}", sale.body);
        }
    }
    let waiting = fed.db("a").count("SELECT count(*) AS n FROM outbox WHERE 'c' = ANY(peers) AND kind = 'pass'").await;
    assert_eq!(waiting, 300, "every pass waits for c");

    fed.server("c").restart().await;
    let c_answers = eventually(Duration::from_secs(10), || async {
        let status = client.get(&format!("{a}/api/v1/federation"), None).await;
        status.body["peers"].as_array().unwrap().iter().any(|p| p["airline"] == "c" && p["breaker"] == "closed")
    })
    .await;
    assert!(c_answers, "a sees c again");
    // After a long outage every retry falls due at once (backoff stops growing at 5 s). Make it
    // so now, so that one round claims as much of the backlog as it can.
    let mut conn = fed.db("a").conn().await;
    diesel::sql_query("UPDATE outbox SET next_attempt_at = now(), attempts = 0").execute(&mut conn).await.unwrap();
    let delivered = eventually(Duration::from_secs(30), || async {
        fed.db("c").count("SELECT count(*) AS n FROM passes WHERE sold_by = 'a'").await == 300
    })
    .await;
    assert!(delivered, "c has every pass sold while it was down");
    assert!(
        fed.db("a").count_becomes("SELECT count(*) AS n FROM outbox", 0).await,
        "a's outbox is empty once every peer has acknowledged"
    );
    let b_passes = fed.db("b").count("SELECT count(*) AS n FROM passes WHERE sold_by = 'a'").await;
    assert_eq!(b_passes, 300, "b, up all along, has them too");
}
