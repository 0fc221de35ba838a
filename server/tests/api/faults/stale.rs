//! A hung peer during search: its last good catalog is served, with its age, and no request
//! waits for the peer; only the background renewal does.

use std::time::{Duration, Instant};

use super::proxy::{Link, Proxy};
use crate::helpers::*;

#[tokio::test]
async fn search_serves_a_hung_peers_last_catalog_without_waiting_for_it() {
    let proxy = Proxy::start().await;
    let options = Options::demo()
        .with("PASSCOM_CATALOG_CACHE_MS", "200")
        .with("PASSCOM_SEARCH_CACHE_MS", "200")
        .via("a", "b", proxy.port);
    let fed = TestFederation::start_airlines(&["a", "b"], options).await;
    proxy.forward_to(&fed.url("b"));
    let (client, a) = (fed.client(), fed.url("a"));
    let segment = first_segment(&client, &a, "b").await;
    let (from, to) = (segment["origin"].as_str().unwrap(), segment["destination"].as_str().unwrap());
    let url = format!("{a}/api/v1/routes?origin={from}&destination={to}&max_legs=1");
    let flies_b =
        |answer: &Answer| answer.body["routes"].as_array().unwrap().iter().any(|r| r["legs"][0]["airline"] == "b");
    let warm = client.get(&url, None).await;
    assert!(flies_b(&warm), "b's route is found: {}", warm.body);
    assert_eq!(warm.body["stale_airlines"], serde_json::json!([]));

    proxy.set(Link::BlackHole);
    let hung = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut stale_age = None;
    while hung.elapsed() < Duration::from_secs(8) {
        let asked = Instant::now();
        let answer = client.get(&url, None).await;
        slowest = slowest.max(asked.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(flies_b(&answer), "b's last catalog is still served: {}", answer.body);
        if let Some(stale) = answer.body["stale_airlines"].as_array().and_then(|s| s.first()) {
            assert_eq!(stale["airline"], "b");
            stale_age = stale["age_secs"].as_u64();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("route searches while b is hung: slowest {slowest:?}, b's copy {stale_age:?} s old");
    // The old cache made the one renewing request wait out the peer's 3 s timeout.
    assert!(slowest < Duration::from_millis(1500), "the slowest search took {slowest:?}");
    assert!(stale_age.is_some_and(|age| age >= 3), "the answer says how old b's catalog is: {stale_age:?}");

    proxy.set(Link::Pass);
    let fresh = eventually(Duration::from_secs(10), || async {
        client.get(&url, None).await.body["stale_airlines"] == serde_json::json!([])
    });
    assert!(fresh.await, "once b answers, its catalog is fresh again");
}
