//! A real PostgreSQL restarted under a running server: a private cluster this test creates
//! (initdb in a temporary directory, a free port), stopped with a fast shutdown (every
//! connection terminated, new ones refused) and started again. Never the shared one.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use tokio::sync::Mutex;

use crate::helpers::*;

/// How soon after PostgreSQL accepts connections again bookings must succeed.
const BACK_WITHIN: Duration = Duration::from_secs(2);

/// The newest PostgreSQL on the machine, found like `scripts/lib/services.sh` finds it.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version =
                entry.file_name().to_string_lossy().split('.').map(|n| n.parse().ok()).collect::<Option<_>>()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin).expect("PostgreSQL binaries under /usr/lib/postgresql (scripts/test installs them)")
}

/// A PostgreSQL program run as the `postgres` user when we are root: initdb refuses root.
fn as_pg(program: &str) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    let program = pg_bin().join(program);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

struct PrivatePostgres {
    port: u16,
    dir: PathBuf,
}

impl PrivatePostgres {
    fn create() -> Self {
        let dir = std::env::temp_dir().join(format!("passcom-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").args(["postgres"]).arg(&dir).status();
        let initdb = as_pg("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .output()
            .unwrap();
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        PrivatePostgres { port: free_port(), dir }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `pg_ctl` on a blocking thread: the in-process server shares this runtime.
    async fn pg_ctl(&self, args: &[&str]) {
        let (dir, args): (PathBuf, Vec<String>) = (self.dir.clone(), args.iter().map(|a| (*a).to_owned()).collect());
        tokio::task::spawn_blocking(move || {
            let out = as_pg("pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-l")
                .arg(dir.join("postgres.log"))
                .args(["-w", "-t", "60"])
                .args(&args)
                .output()
                .unwrap();
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            assert!(out.status.success(), "pg_ctl {args:?}: {}\n{log}", String::from_utf8_lossy(&out.stderr));
        })
        .await
        .unwrap();
    }

    async fn start(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", self.port);
        self.pg_ctl(&["start", "-o", &options]).await;
    }

    /// A fast shutdown, as a restart does: every session is terminated ("terminating connection
    /// due to administrator command"), then connections are refused until `start`.
    async fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]).await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_pg("pg_ctl").arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// When a request was sent, and what came back: status and code.
type Outcome = (Instant, u16, String);

#[tokio::test]
async fn a_real_postgres_restart_is_a_503_never_a_500_and_bookings_resume_at_once() {
    let pg = PrivatePostgres::create();
    pg.start().await;
    // The server migrates its database at start-up; the demo data goes in after.
    let fed = TestFederation::start_airlines(&["a"], Options::empty().unlimited().with("DATABASE_URL", pg.url())).await;
    seed_demo_into(&mut AsyncPgConnection::establish(&pg.url()).await.unwrap(), "a", 1).await;
    let (client, a) = (fed.client(), fed.url("a"));
    let token = client.passenger(&a).await;
    let segment = first_segment(&client, &a, "a").await["segment_id"].as_str().unwrap().to_owned();

    // Four lanes book seat after seat (one letter each), and read the passenger's passes, through
    // the restart.
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let lanes: Vec<_> = (0..4)
        .map(|lane| {
            let (client, a, token, segment, outcomes, stop) =
                (client.clone(), a.clone(), token.clone(), segment.clone(), outcomes.clone(), stop.clone());
            tokio::spawn(async move {
                // A seat is asked for again after a 503, as a passenger would.
                let mut row = 1;
                while !stop.load(Ordering::Relaxed) && row <= 30 {
                    let seat = format!("{row}{}", ["A", "B", "C", "D"][lane]);
                    let at = Instant::now();
                    let booked = client.book(&a, &token, &[("a", &segment, &seat)]).await;
                    outcomes.lock().await.push((at, booked.status, booked.code().to_owned()));
                    if booked.status != 503 {
                        row += 1;
                    }
                    let at = Instant::now();
                    let passes = client.get(&format!("{a}/api/v1/passes"), Some(&token)).await;
                    outcomes.lock().await.push((at, passes.status, passes.code().to_owned()));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.stop().await;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let starting = Instant::now();
    pg.start().await;
    let up = Instant::now();
    let back = eventually(Duration::from_secs(10), || async {
        outcomes.lock().await.iter().any(|(at, status, _)| *at > up && *status == 201)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for lane in lanes {
        lane.await.unwrap();
    }

    let outcomes = outcomes.lock().await;
    let first_after =
        outcomes.iter().filter(|(at, status, _)| *at > up && *status == 201).map(|(at, _, _)| *at - up).min();
    // Sent after the shutdown and well before the start (a request just before it may find
    // PostgreSQL up by the time it needs it).
    let while_down: Vec<_> =
        outcomes.iter().filter(|(at, _, _)| *at > down && *at + Duration::from_millis(200) < starting).collect();
    let unavailable = outcomes.iter().filter(|(_, status, _)| *status == 503).count();
    eprintln!(
        "{} requests, {} sent while PostgreSQL was down, {unavailable} answered 503; first booking {first_after:?} after it was back",
        outcomes.len(),
        while_down.len(),
    );
    let wrong: Vec<_> =
        outcomes.iter().filter(|(_, status, code)| *status >= 500 && code != "database_unavailable").collect();
    assert!(wrong.is_empty(), "infrastructure failures are 503 database_unavailable: {wrong:?}");
    assert!(!while_down.is_empty(), "requests were sent while PostgreSQL was down");
    let served: Vec<_> = while_down.iter().filter(|(_, status, _)| *status != 503).collect();
    assert!(served.is_empty(), "nothing is served without a database: {served:?}");
    assert!(back, "bookings work again after the restart");
    let first_after = first_after.unwrap();
    assert!(first_after < BACK_WITHIN, "first booking {first_after:?} after PostgreSQL was back");

    // A booking cut by the shutdown rolled back, whole: every seat taken has its pass, and every
    // 201 is one of them (a commit whose answer was lost is the only way to more passes).
    let booked = outcomes.iter().filter(|(_, status, _)| *status == 201).count();
    let passes = client.get(&format!("{a}/api/v1/passes"), Some(&token)).await;
    let passes = passes.body["passes"].as_array().unwrap().len();
    let segment_now = client.get(&format!("{a}/api/v1/segments/a/{segment}"), None).await;
    let taken = segment_now.body["seats"].as_array().unwrap().iter().filter(|s| s["available"] == false).count();
    assert!(passes >= booked, "{booked} bookings answered 201, {passes} passes");
    assert_eq!(taken, passes, "every seat taken belongs to a pass");
}
