//! Redis stopped and started again under a running federation: a private `redis-server` on a
//! free port, never the shared one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// A `redis-server` of this test's own, on a fixed port so that it can come back at the same
/// address.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let mut redis = PrivateRedis { port: free_port(), child: None };
        redis.resume().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let up = eventually(Duration::from_secs(10), || async { tokio::net::TcpStream::connect(&addr).await.is_ok() });
        assert!(up.await, "private redis-server did not start");
    }

    /// SIGKILL: Redis vanishes the way a crash makes it vanish.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_down_fails_bookings_fast_and_they_work_again_as_soon_as_it_returns() {
    let mut redis = PrivateRedis::start().await;
    let fed = TestFederation::start_airlines(&["a"], Options::demo().with("REDIS_URL", redis.url())).await;
    let client = fed.client();
    let a = fed.url("a");
    let token = client.passenger(&a).await;
    let segment = first_segment(&client, &a, "a").await["segment_id"].as_str().unwrap().to_owned();
    let ok = client.book(&a, &token, &[("a", &segment, "1A")]).await;
    assert_eq!(ok.status, 201, "{}", ok.body);

    redis.stop();
    let mut took = Vec::new();
    for row in 2..12 {
        let seat = format!("{row}A");
        let started = Instant::now();
        let answer = client.book(&a, &token, &[("a", &segment, &seat)]).await;
        took.push(started.elapsed());
        answer.assert_problem(503, "lock_service_unavailable");
    }
    took.sort();
    let median = took[took.len() / 2];
    eprintln!("bookings while Redis is down: median {median:?}, slowest {:?}", took[took.len() - 1]);
    // The old connection manager slept a backoff of about a second inside every request.
    assert!(median < Duration::from_millis(250), "bookings while Redis is down take {took:?}");
    let search = client.get(&format!("{a}/api/v1/segments"), None).await;
    assert_eq!(search.status, 200, "reads do not need Redis");
    let ready = client.get(&format!("{a}/readyz"), None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);

    redis.resume().await;
    let back = Instant::now();
    let mut answer = client.book(&a, &token, &[("a", &segment, "20A")]).await;
    while answer.status == 503 && back.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = client.book(&a, &token, &[("a", &segment, "20A")]).await;
    }
    assert_eq!(answer.status, 201, "{}", answer.body);
    eprintln!("first booking after Redis returned: {:?}", back.elapsed());
    assert!(back.elapsed() < Duration::from_secs(2), "bookings came back after {:?}", back.elapsed());
    assert_eq!(seats_not_available(&fed.app("a").db).await, 2, "nothing was taken while Redis was down");
}
