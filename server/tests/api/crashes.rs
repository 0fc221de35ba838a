//! Real processes killed with SIGKILL in the middle of bookings, then restarted. Once quiet,
//! every booking is all legs sold or none, every 201 survives, and no seat is sold twice.

use std::collections::HashMap;
use std::time::Duration;

use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;
use crate::invariants::{invariant_violations, quiet};

async fn sold_everywhere(fed: &ProcessFederation, legs: &[(String, String)], seat: &str, booking: &str) -> bool {
    for (airline, segment) in legs {
        let (status, owner) = seat_state(fed.db(airline), segment, seat).await;
        if status != "sold" || owner.map(|o| o.to_string()).as_deref() != Some(booking) {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn a_participant_killed_between_hold_and_commit_ends_all_sold() {
    let mut fed = ProcessFederation::start(Options::demo().with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "2500")).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let legs = itinerary(&client, &a, "Porto%20Alegre", "Recife", 3).await;
    let b_leg = legs.iter().find(|(airline, _)| airline == "b").unwrap().1.clone();
    let booking = {
        let (client, a, token, legs) = (client.clone(), a.clone(), token.clone(), legs.clone());
        tokio::spawn(async move { try_book(&client, &a, &token, &legs, "6A").await })
    };
    let held =
        eventually(Duration::from_secs(10), || async { seat_state(fed.db("b"), &b_leg, "6A").await.0 == "held" }).await;
    assert!(held, "b holds the seat");
    fed.server("b").kill();

    let answer = booking.await.unwrap().expect("the coordinator answers");
    assert_eq!(answer.status, 201, "every hold was granted, so the booking is committed: {}", answer.body);
    let pass_id = answer.body["pass_id"].as_str().unwrap().to_owned();
    fed.server("b").restart().await;

    let done = eventually(Duration::from_secs(20), || sold_everywhere(&fed, &legs, "6A", &pass_id)).await;
    assert!(done, "after b's restart every leg is sold");
    for code in ["a", "b", "c"] {
        let url = fed.url(code);
        let same = eventually(Duration::from_secs(15), || async {
            client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&token)).await.body == answer.body
        })
        .await;
        assert!(same, "the same pass at {code}");
    }
}

/// The commit travels to the other owners with the pass, in the coordinator's outbox: decided,
/// then killed before any owner heard of it, the coordinator delivers it after its restart.
#[tokio::test]
async fn a_coordinator_killed_right_after_deciding_completes_after_restart() {
    let options = Options::demo()
        .with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "1500")
        .with("PASSCOM_FAULT_PAUSE_AFTER_DECISION_MS", "5000");
    let mut fed = ProcessFederation::start(options).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let legs = itinerary(&client, &a, "Porto%20Alegre", "Sao%20Paulo", 2).await;
    assert!(legs.iter().all(|(airline, _)| airline != "a"), "every leg is another airline's: {legs:?}");
    let booking = {
        let (client, a, token, legs) = (client.clone(), a.clone(), token.clone(), legs.clone());
        tokio::spawn(async move { try_book(&client, &a, &token, &legs, "8B").await })
    };
    for (airline, segment) in &legs {
        assert!(seat_becomes(fed.db(airline), segment, "8B", "held").await, "{airline} holds");
    }
    // The owners stand still from before the decision, so nothing sent after it reaches them.
    let mut owners: Vec<&str> = legs.iter().map(|(airline, _)| airline.as_str()).collect();
    owners.dedup();
    for owner in &owners {
        fed.server(owner).pause(true);
    }
    let decided = fed.db("a").count_becomes("SELECT count(*) AS n FROM bookings WHERE state = 'committed'", 1).await;
    assert!(decided);
    fed.server("a").kill();
    assert!(booking.await.unwrap().is_none(), "the client never got an answer");
    let queued = fed.db("a").count("SELECT count(*) AS n FROM outbox WHERE kind = 'pass'").await;
    assert_eq!(queued, 1, "the pass, and with it the commit, waits in a's outbox");
    for (airline, segment) in &legs {
        assert_eq!(seat_state(fed.db(airline), segment, "8B").await.0, "held", "{airline} still only holds");
    }
    for owner in &owners {
        fed.server(owner).pause(false);
    }

    fed.server("a").restart().await;
    let booking_id = {
        let mut conn = fed.db("a").conn().await;
        passcom_server::schema::bookings::table
            .select(passcom_server::schema::bookings::booking_id)
            .first::<Uuid>(&mut conn)
            .await
            .unwrap()
            .to_string()
    };
    let done = eventually(Duration::from_secs(20), || sold_everywhere(&fed, &legs, "8B", &booking_id)).await;
    assert!(done, "the restarted coordinator's outbox delivered the commit");
    for code in ["a", "b", "c"] {
        let url = fed.url(code);
        let there = eventually(Duration::from_secs(15), || async {
            client.get(&format!("{url}/api/v1/passes/{booking_id}"), Some(&token)).await.body["status"] == "confirmed"
        })
        .await;
        assert!(there, "the pass reached {code}");
    }
}

#[tokio::test]
async fn a_hold_outliving_a_dead_coordinator_is_kept_then_resolved() {
    let options = Options::demo()
        .with("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "5000")
        .with("PASSCOM_HOLD_TTL_SECS", "1")
        .with("PASSCOM_PREPARE_TIMEOUT_SECS", "2");
    let mut fed = ProcessFederation::start(options).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let legs = itinerary(&client, &a, "Curitiba", "Porto%20Alegre", 1).await;
    let segment = legs[0].1.clone();
    let booking = {
        let (client, a, token, legs) = (client.clone(), a.clone(), token.clone(), legs.clone());
        tokio::spawn(async move { try_book(&client, &a, &token, &legs, "3C").await })
    };
    let held =
        eventually(Duration::from_secs(10), || async { seat_state(fed.db("b"), &segment, "3C").await.0 == "held" })
            .await;
    assert!(held);
    fed.server("a").kill();
    assert!(booking.await.unwrap().is_none());
    // The hold has expired, but b cannot learn the decision: it keeps the seat held.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(seat_state(fed.db("b"), &segment, "3C").await.0, "held", "no decision, no release");

    fed.server("a").restart().await;
    let freed = eventually(Duration::from_secs(20), || async {
        seat_state(fed.db("b"), &segment, "3C").await == ("available".to_owned(), None)
    })
    .await;
    assert!(freed, "the undecided booking was aborted and its hold freed");
    assert_eq!(fed.db("a").count("SELECT count(*) AS n FROM passes").await, 0);
}

#[tokio::test]
async fn cancelling_while_an_owner_is_down_frees_the_seat_when_it_returns() {
    let mut fed = ProcessFederation::start(Options::demo()).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let legs = itinerary(&client, &a, "Curitiba", "Porto%20Alegre", 1).await;
    let booked = try_book(&client, &a, &token, &legs, "2F").await.unwrap();
    assert_eq!(booked.status, 201, "{}", booked.body);
    let pass_id = booked.body["pass_id"].as_str().unwrap().to_owned();
    assert!(seat_becomes(fed.db("b"), &legs[0].1, "2F", "sold").await, "b has the pass, so it sold");
    fed.server("b").kill();
    let cancelled = client.delete(&format!("{a}/api/v1/passes/{pass_id}"), Some(&token)).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(seat_state(fed.db("b"), &legs[0].1, "2F").await.0, "sold", "b is down and has not heard yet");

    fed.server("b").restart().await;
    let freed = eventually(Duration::from_secs(20), || async {
        seat_state(fed.db("b"), &legs[0].1, "2F").await == ("available".to_owned(), None)
    })
    .await;
    assert!(freed, "b freed the seat once back");
    let b = fed.url("b");
    let shown = eventually(Duration::from_secs(10), || async {
        client.get(&format!("{b}/api/v1/passes/{pass_id}"), Some(&token)).await.body["status"] == "cancelled"
    })
    .await;
    assert!(shown, "the pass shows cancelled at b too");
}

/// Which server, which itinerary (airline, segment per leg), which seat on every leg.
type Attempt = (&'static str, Vec<(String, String)>, &'static str);

#[tokio::test]
async fn a_random_workload_with_a_crash_keeps_every_invariant() {
    let options = Options::demo().with("PASSCOM_HOLD_TTL_SECS", "3").with("PASSCOM_PREPARE_TIMEOUT_SECS", "3");
    let mut fed = ProcessFederation::start(options).await;
    let client = Client::default();
    let mut tokens = HashMap::new();
    for code in AIRLINES {
        tokens.insert(code, client.passenger(&fed.url(code)).await);
    }
    let mut catalog: Vec<Vec<(String, String)>> = Vec::new();
    for (from, to, legs) in [
        ("Porto%20Alegre", "Recife", 3),
        ("Curitiba", "Sao%20Paulo", 1),
        ("Porto%20Alegre", "Sao%20Paulo", 2),
        ("Sao%20Paulo", "Recife", 1),
        ("Florianopolis", "Belo%20Horizonte", 2),
    ] {
        catalog.push(itinerary(&client, &fed.url("a"), from, to, legs).await);
    }
    let seat_pool = ["1A", "1B", "2A"];
    // (pass id, whose token, cancelled?) of every 201 answered.
    let mut acknowledged: Vec<(String, &str, bool)> = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::thread_rng().gen());
    // b dies in the middle of wave 2 and returns before wave 4; a (a coordinator of many
    // bookings) dies in the middle of wave 5 and returns before wave 7.
    let victim = |wave: usize| match wave {
        2 => Some("b"),
        5 => Some("a"),
        _ => None,
    };
    let alive_in = |wave: usize| -> Vec<&'static str> {
        match wave {
            3 => vec!["a", "c"],
            6 => vec!["b", "c"],
            _ => AIRLINES.to_vec(),
        }
    };
    let mut unanswered = 0;
    for wave in 0..8 {
        if wave == 4 {
            fed.server("b").restart().await;
        }
        if wave == 7 {
            fed.server("a").restart().await;
        }
        let alive = alive_in(wave);
        let attempts: Vec<Attempt> = (0..8)
            .map(|_| {
                (
                    *alive.choose(&mut rng).unwrap(),
                    catalog.choose(&mut rng).unwrap().clone(),
                    *seat_pool.choose(&mut rng).unwrap(),
                )
            })
            .collect();
        let requests: Vec<_> = attempts
            .iter()
            .map(|(code, legs, seat)| {
                let (client, url, token) = (client.clone(), fed.url(code), tokens[code].clone());
                async move { try_book(&client, &url, &token, legs, seat).await }
            })
            .collect();
        let crash = async {
            if let Some(code) = victim(wave) {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(5..40))).await;
                fed.server(code).kill();
            }
        };
        let (answers, ()) = tokio::join!(futures::future::join_all(requests), crash);
        for ((code, _, _), answer) in attempts.iter().zip(answers) {
            let Some(answer) = answer else {
                unanswered += 1;
                continue;
            };
            assert!([201, 409, 503].contains(&answer.status), "{}", answer.body);
            if answer.status == 201 {
                acknowledged.push((answer.body["pass_id"].as_str().unwrap().to_owned(), code, false));
            }
        }
        // Cancel one of the passes now and then, at a random live server.
        if wave % 2 == 1 {
            let alive = alive_in(wave).into_iter().filter(|c| victim(wave) != Some(*c)).collect::<Vec<_>>();
            if let Some(entry) = acknowledged.iter_mut().find(|e| !e.2) {
                let at = fed.url(alive.choose(&mut rng).unwrap());
                let answer = client.delete(&format!("{at}/api/v1/passes/{}", entry.0), Some(&tokens[entry.1])).await;
                if answer.status == 200 {
                    entry.2 = true;
                }
            }
        }
    }
    assert!(eventually(Duration::from_secs(60), || quiet(&fed)).await, "the federation settles");
    let acknowledged_passes: Vec<(String, bool)> = acknowledged.iter().map(|(id, _, c)| (id.clone(), *c)).collect();
    let violations = invariant_violations(&fed, &acknowledged_passes).await;
    println!(
        "random workload: {} acknowledged, {} cancelled, {unanswered} cut off by a crash, {} violations",
        acknowledged.len(),
        acknowledged.iter().filter(|e| e.2).count(),
        violations.len()
    );
    assert!(!acknowledged.is_empty(), "some bookings succeeded");
    assert!(violations.is_empty(), "invariant violations:\n{}", violations.join("\n"));
}

#[tokio::test]
async fn passes_are_readable_everywhere_while_the_seller_is_down() {
    let mut fed = ProcessFederation::start(Options::demo()).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let legs = itinerary(&client, &a, "Porto%20Alegre", "Sao%20Paulo", 2).await;
    let booked = try_book(&client, &a, &token, &legs, "11A").await.unwrap();
    assert_eq!(booked.status, 201, "{}", booked.body);
    let pass_id = booked.body["pass_id"].as_str().unwrap().to_owned();
    for code in ["b", "c"] {
        let url = fed.url(code);
        let there = eventually(Duration::from_secs(10), || async {
            client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&token)).await.status == 200
        })
        .await;
        assert!(there, "replicated to {code}");
    }
    fed.server("a").kill();
    for code in ["b", "c"] {
        let url = fed.url(code);
        let one = client.get(&format!("{url}/api/v1/passes/{pass_id}"), Some(&token)).await;
        assert_eq!(one.body, booked.body, "{code} serves the pass while its seller a is down");
        let all = client.get(&format!("{url}/api/v1/passes"), Some(&token)).await;
        assert_eq!(all.body["passes"], json!([booked.body.clone()]));
    }
}
