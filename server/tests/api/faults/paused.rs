//! A coordinator paused (SIGSTOP) with bookings in flight, then resumed: every call it had in
//! flight times out at once, through no fault of its peers. Its breakers stay closed, and the
//! bookings it takes after resuming reach their owners. Counted against b, those dozen timeouts
//! would open b's breaker for its 2 s cooldown and every booking right after the resume would
//! be refused 503 (finding 5); the passenger's booking limit is off so that they reach b at all.
//! Its Redis calls in flight time out alike, and the lock service does not take them for Redis
//! being down: no booking after the resume is refused `lock_service_unavailable`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::helpers::*;

#[tokio::test]
async fn a_paused_coordinator_does_not_hold_its_own_stall_against_healthy_peers() {
    let options = Options::demo().unlimited().with("PASSCOM_BREAKER_COOLDOWN_MS", "2000");
    let mut fed = ProcessFederation::start(options).await;
    let client = Client::default();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let segment = first_segment(&client, &a, "b").await["segment_id"].as_str().unwrap().to_owned();

    // Bookings in a loop, a dozen at a time so that several calls to b are in flight when a
    // stops; each lane asks for one seat again and again (b refuses all but the first, which
    // still takes a call to b), recording when it sent each request and what it got.
    let results: Arc<Mutex<Vec<(Instant, u16, String)>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(7);
    let loops: Vec<_> = (0..12)
        .map(|lane| {
            let (client, a, token, segment, results) =
                (client.clone(), a.clone(), token.clone(), segment.clone(), results.clone());
            tokio::spawn(async move {
                let seat = format!("{}B", lane + 1);
                while Instant::now() < stop_at {
                    let sent = Instant::now();
                    if let Some(answer) = client.try_send(booking(&client, &a, &token, &segment, &seat)).await {
                        results.lock().await.push((sent, answer.status, answer.code().to_owned()));
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    fed.server("a").pause(true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    fed.server("a").pause(false);
    let resumed = Instant::now();
    for lane in loops {
        lane.await.unwrap();
    }

    let status = client.get(&format!("{a}/api/v1/federation"), None).await;
    let b = status.body["peers"].as_array().unwrap().iter().find(|p| p["airline"] == "b").unwrap().clone();
    assert_eq!(b["breaker"], "closed", "{}", status.body);
    let results = results.lock().await;
    let after: Vec<_> = results.iter().filter(|(sent, _, _)| *sent > resumed).collect();
    assert!(after.len() >= 12, "bookings after the resume: {after:?}");
    let unavailable: Vec<_> = after.iter().filter(|(_, _, code)| code == "airline_unavailable").collect();
    assert!(unavailable.is_empty(), "b is not refused after the resume: {unavailable:?}");
    // The Redis calls in flight timed out too; they are not taken for Redis being down either,
    // so no booking after the resume is refused by the lock service.
    let refused: Vec<_> = after.iter().filter(|(_, status, _)| *status >= 500).collect();
    eprintln!("{} bookings, {} sent after the resume, {} of them refused", results.len(), after.len(), refused.len());
    assert!(refused.is_empty(), "bookings after the resume reach b (201 or 409): {refused:?}");
    assert!(results.iter().any(|(_, status, _)| *status == 201));
}

fn booking(client: &Client, a: &str, token: &str, segment: &str, seat: &str) -> reqwest::RequestBuilder {
    let legs = serde_json::json!({"legs": [{"airline": "b", "segment_id": segment, "seat": seat}]});
    client.http.post(format!("{a}/api/v1/bookings")).bearer_auth(token).json(&legs)
}
