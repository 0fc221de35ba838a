//! `bench`: how fast PassCom books and searches, next to the limit of its own database.
//!
//! Run through `scripts/bench`, which loads fresh benchmark segments (run id `--run`) into each
//! airline, prepares the pgbench database, and restarts the airline this tool kills. Every row
//! gives throughput, p50, p99 and errors; the rows are described in `USAGE`.

use std::collections::HashMap;
use std::future::Future;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use passcom_shared::api::{BookingRequest, SeatLeg};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use passcom_tools::args::{list, Args};
use passcom_tools::client::{http_client, outcome, ApiClient};
use passcom_tools::stats::{ms, percentile, Latencies, Outcome, Tally};
use passcom_tools::users::create_users;
use passcom_tools::DEFAULT_SERVERS;

const USAGE: &str = "\
Usage: bench --run RUN [--servers a,b,c URLs] [--clients 16] [--seconds 10] [--segments 30]
             [--pgbench-url URL] [--pids a=PID,b=PID,c=PID] [--kill c]
             [--only pgbench,single,itinerary,race,search]

Rows: the database's limit (pgbench: one conditional seat UPDATE + one pass INSERT per
transaction, distinct random seats); a single-leg booking at the seat's own airline; a
three-airline itinerary booked through a; the race (30 buys of one seat at each server);
federated segment and route search, again with one airline killed; peak RSS of each server.
";

const SEAT_LETTERS: &str = "ABCDEFGHJK";
const SEAT_ROWS: u32 = 99;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// One line of the table.
struct Row {
    name: String,
    /// Requests (or transactions) per second that succeeded.
    throughput: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    errors: usize,
    note: String,
}

impl Row {
    fn measured(name: &str, m: &Measured, note: String) -> Self {
        let mut sorted = m.latencies.clone();
        sorted.sort_unstable();
        Row {
            name: name.to_owned(),
            throughput: m.tally.successes() as f64 / m.elapsed.as_secs_f64(),
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            errors: m.tally.total() - m.tally.successes(),
            note,
        }
    }
}

fn print_table(rows: &[Row]) {
    println!("\n| row | throughput /s | p50 | p99 | errors | notes |");
    println!("|---|---:|---:|---:|---:|---|");
    for r in rows {
        let show = |d: Option<Duration>| d.map(ms).unwrap_or_else(|| "-".into());
        println!(
            "| {} | {:.0} | {} | {} | {} | {} |",
            r.name,
            r.throughput,
            show(r.p50),
            show(r.p99),
            r.errors,
            r.note
        );
    }
}

async fn run() -> Result<()> {
    let mut args = Args::from_env(&["--help"])?;
    if args.switch("--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let run_id: u64 = args.get("--run")?.context("--run is required (scripts/bench sets it)")?;
    let urls = list(&args.get_or("--servers", DEFAULT_SERVERS.to_owned())?);
    let clients: usize = args.get_or("--clients", 16)?;
    let seconds: u64 = args.get_or("--seconds", 10)?;
    let segments: u32 = args.get_or("--segments", 30)?;
    if segments < 4 {
        bail!("--segments must be at least 4");
    }
    let pgbench_url: Option<String> = args.get("--pgbench-url")?;
    let pids: HashMap<String, u32> = list(&args.get_or("--pids", String::new())?)
        .iter()
        .map(|entry| {
            let (code, pid) = entry.split_once('=').context("--pids takes code=pid pairs")?;
            Ok((code.to_owned(), pid.parse().context("a pid")?))
        })
        .collect::<Result<_>>()?;
    let kill: Option<String> = args.get("--kill")?;
    let only: Option<Vec<String>> = args.get::<String>("--only")?.map(|rows| list(&rows));
    args.finish()?;
    // Without --only every row runs; with it, just the rows named (for profiling one of them).
    let wanted = |row: &str| only.as_ref().is_none_or(|rows| rows.iter().any(|r| r == row));
    let duration = Duration::from_secs(seconds);

    let http = http_client()?;
    let servers = ApiClient::connect_all(&http, &urls).await;
    let by_airline: HashMap<String, ApiClient> =
        servers.iter().filter_map(|s| Some((s.airline()?.to_string(), s.clone()))).collect();
    let [a, b, c] = ["a", "b", "c"].map(|code| by_airline.get(code).cloned());
    let (Some(a), Some(b), Some(_)) = (a, b, c) else { bail!("airlines a, b and c must all answer") };
    let bench_segment = |airline: &str, k: u32| SegmentId::parse(&format!("BENCH{run_id}-{airline}{k}"));
    let seats: Vec<SeatCode> = (1..=SEAT_ROWS)
        .flat_map(|row| SEAT_LETTERS.chars().map(move |l| format!("{row}{l}")))
        .map(|s| SeatCode::parse(&s))
        .collect::<Result<_, _>>()?;

    let mut rows = Vec::new();
    if let Some(url) = pgbench_url.as_ref().filter(|_| wanted("pgbench")) {
        println!("pgbench: {clients} clients, {seconds} s ...");
        rows.push(pgbench(url, clients, seconds)?);
    }

    // Segments 0..half carry the itineraries (a→b→c); b's half..segments the single-leg
    // bookings; a's last one the race. No two rows want the same seat.
    let half = segments / 2;
    if wanted("single") {
        println!("single-leg bookings at the owner: {clients} clients, {seconds} s ...");
        let b_code = AirlineCode::parse("b")?;
        let mut requests = Vec::new();
        for k in half..segments {
            let segment_id = bench_segment("b", k)?;
            requests.extend(seats.iter().map(|seat| {
                BookingRequest::one_seat_each(&[SeatLeg {
                    airline: b_code.clone(),
                    segment_id: segment_id.clone(),
                    seat: seat.clone(),
                }])
            }));
        }
        rows.push(booking_row("single-leg booking at the owner (b)", &b, clients, duration, &requests).await?);
    }

    if wanted("itinerary") {
        println!("three-airline itineraries through a: {clients} clients, {seconds} s ...");
        let mut requests = Vec::new();
        for k in 0..half {
            let legs: Vec<(AirlineCode, SegmentId)> = ["a", "b", "c"]
                .iter()
                .map(|code| Ok((AirlineCode::parse(code)?, bench_segment(code, k)?)))
                .collect::<Result<_>>()?;
            requests.extend(seats.iter().map(|seat| {
                let legs: Vec<SeatLeg> = legs
                    .iter()
                    .map(|(airline, segment_id)| SeatLeg {
                        airline: airline.clone(),
                        segment_id: segment_id.clone(),
                        seat: seat.clone(),
                    })
                    .collect();
                BookingRequest::one_seat_each(&legs)
            }));
        }
        rows.push(booking_row("three-airline itinerary through a", &a, clients, duration, &requests).await?);
    }

    if wanted("race") {
        println!("the race: 30 buys of one seat at each server ...");
        rows.push(
            race(
                &servers,
                &SeatLeg {
                    airline: AirlineCode::parse("a")?,
                    segment_id: bench_segment("a", segments - 1)?,
                    seat: SeatCode::parse("1A")?,
                },
            )
            .await?,
        );
    }

    if wanted("search") {
        println!("search: {clients} clients, {seconds} s each ...");
        rows.extend(search(&servers, clients, duration, "").await);
    }
    let memory: Vec<String> =
        ["a", "b", "c"].iter().filter_map(|code| Some(format!("{code} {}", peak_rss_mb(*pids.get(*code)?)?))).collect();

    if let Some(victim) = kill.as_ref().filter(|_| wanted("search")) {
        let pid = pids.get(victim).with_context(|| format!("--kill {victim} needs its pid in --pids"))?;
        println!("killing airline {victim} (pid {pid}) and searching again ...");
        let status = Command::new("kill").args(["-9", &pid.to_string()]).status()?;
        if !status.success() {
            bail!("could not kill {pid}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let alive: Vec<ApiClient> =
            servers.iter().filter(|s| s.airline().map(AirlineCode::as_str) != Some(victim.as_str())).cloned().collect();
        rows.extend(search(&alive, clients, duration, &format!(", {victim} killed")).await);
    }
    print_table(&rows);
    println!(
        "\npeak RSS (VmHWM) after the runs: {}",
        if memory.is_empty() { "not measured (no --pids)".into() } else { memory.join(" MB, ") + " MB" }
    );
    Ok(())
}

/// `clients` passengers of `server` book `requests` there, each request once, for `duration`.
async fn booking_row(
    name: &str,
    server: &ApiClient,
    clients: usize,
    duration: Duration,
    requests: &[BookingRequest],
) -> Result<Row> {
    let users = create_users(std::slice::from_ref(server), clients, "bench", 4).await?;
    let cpu_before = cpu_by_process();
    let measured = drive(clients, duration, requests.len(), |client, n| {
        let (server, token) = (server.clone(), users[client].token.clone());
        async move { outcome(&server.book_undecoded(&token, &requests[n]).await) }
    })
    .await;
    let cpu = cpu_shares(&cpu_before, &cpu_by_process());
    Ok(Row::measured(name, &measured, format!("{} booked; {cpu}", measured.tally.successes())))
}

/// What `clients` concurrent loops did for `duration`.
struct Measured {
    latencies: Vec<Duration>,
    tally: Tally,
    elapsed: Duration,
}

/// Runs `clients` loops for `duration`; each iteration calls `work(client, n)` with a distinct
/// `n < items` (so that no two requests want the same seat) until time or items run out.
async fn drive<F, Fut>(clients: usize, duration: Duration, items: usize, work: F) -> Measured
where
    F: Fn(usize, usize) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    let loops = (0..clients).map(|client| {
        let (next, work) = (&next, &work);
        async move {
            let mut latencies = Vec::new();
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= items {
                    break;
                }
                let sent = Instant::now();
                let result = work(client, n).await;
                latencies.push(sent.elapsed());
                tally.add(result);
            }
            (latencies, tally)
        }
    });
    let results = futures::future::join_all(loops).await;
    let elapsed = started.elapsed();
    let mut measured = Measured { latencies: Vec::new(), tally: Tally::default(), elapsed };
    for (latencies, tally) in results {
        measured.latencies.extend(latencies);
        measured.tally.merge(&tally);
    }
    measured
}

async fn race(servers: &[ApiClient], leg: &SeatLeg) -> Result<Row> {
    let users = create_users(servers, 1, "bench-race", 3).await?;
    let request = Arc::new(BookingRequest::one_seat_each(std::slice::from_ref(leg)));
    let barrier = Arc::new(tokio::sync::Barrier::new(servers.len() * 30));
    let attempts = users.iter().flat_map(|user| {
        let (server, request, barrier) = (servers[user.home].clone(), request.clone(), barrier.clone());
        (0..30).map(move |_| {
            let (server, request, barrier, token) =
                (server.clone(), request.clone(), barrier.clone(), user.token.clone());
            async move {
                barrier.wait().await;
                let sent = Instant::now();
                let result = server.book(&token, &request, None).await;
                (sent, sent.elapsed(), outcome(&result))
            }
        })
    });
    let answers = futures::future::join_all(attempts).await;
    let first = answers.iter().map(|(sent, _, _)| *sent).min().context("no attempt")?;
    let all_answered =
        answers.iter().map(|(sent, took, _)| (*sent + *took).duration_since(first)).max().unwrap_or_default();
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, took, _)| *took).collect();
    latencies.sort_unstable();
    let successes = answers.iter().filter(|(_, _, o)| *o == Outcome::Success).count();
    let conflicts = answers.iter().filter(|(_, _, o)| matches!(o, Outcome::Refused { status: 409, .. })).count();
    Ok(Row {
        name: format!("race: 30 buys of one seat at each of {} servers", servers.len()),
        throughput: answers.len() as f64 / all_answered.as_secs_f64(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        // Anything but one sale and 409s is an error, including no sale at all.
        errors: (answers.len() - conflicts - successes) + successes.abs_diff(1),
        note: format!("all {} answered in {}; {successes} sold, {conflicts} × 409", answers.len(), ms(all_answered)),
    })
}

async fn search(servers: &[ApiClient], clients: usize, duration: Duration, suffix: &str) -> Vec<Row> {
    let cpu_before = cpu_by_process();
    let segments = drive(clients, duration, usize::MAX, |client, _| {
        let server = servers[client % servers.len()].clone();
        async move { outcome(&server.get_undecoded("/api/v1/segments", &[]).await) }
    })
    .await;
    let segments_cpu = cpu_shares(&cpu_before, &cpu_by_process());
    let cpu_before = cpu_by_process();
    let routes = drive(clients, duration, usize::MAX, |client, _| {
        let server = servers[client % servers.len()].clone();
        async move {
            let query = [("origin", "Porto Alegre"), ("destination", "Recife")];
            outcome(&server.get_undecoded("/api/v1/routes", &query).await)
        }
    })
    .await;
    let routes_cpu = cpu_shares(&cpu_before, &cpu_by_process());
    vec![
        Row::measured(&format!("search: GET /api/v1/segments{suffix}"), &segments, segments_cpu),
        Row::measured(&format!("search: GET /api/v1/routes Porto Alegre→Recife{suffix}"), &routes, routes_cpu),
    ]
}

/// The database's own limit: pgbench running the bare SQL of a booking.
fn pgbench(url: &str, clients: usize, seconds: u64) -> Result<Row> {
    let dir = std::env::temp_dir().join(format!("passcom-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("booking.sql");
    std::fs::write(
        &script,
        "\\set s random(1, 200)\n\\set r random(1, 99)\n\\set l random(1, 10)\nBEGIN;\n\
         UPDATE seats SET status = 'held', booking_id = gen_random_uuid(), held_until = now() + interval '10 minutes' \
         WHERE segment_id = 'S' || :s AND seat = :r || substr('ABCDEFGHJK', :l, 1) AND status = 'available';\n\
         INSERT INTO passes (pass_id, user_id, status, sold_by, created_at, total_cents, currency, legs) \
         VALUES (gen_random_uuid(), gen_random_uuid(), 'confirmed', 'a', now(), 10000, 'BRL', '[{\"airline\": \"a\", \
         \"segment_id\": \"S1\", \"flight_no\": \"PGB\", \"origin\": \"x\", \"destination\": \"y\", \
         \"departs_at\": \"2030-01-01T10:00:00Z\", \"arrives_at\": \"2030-01-01T11:00:00Z\", \"seat\": \"1A\", \
         \"price\": {\"amount\": \"100.00\", \"currency\": \"BRL\"}}]');\nEND;\n",
    )?;
    let output = Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg("--log")
        .arg(format!("--log-prefix={}", dir.join("log").display()))
        .arg(url)
        .current_dir(&dir)
        .output()
        .context("running pgbench (apt-get install postgresql-contrib or postgresql-client)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}{}", text, String::from_utf8_lossy(&output.stderr));
    }
    let number = |prefix: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    };
    let tps = number("tps = ").context("pgbench printed no tps")?;
    let failed = number("number of failed transactions: ").unwrap_or(0.0) as usize;
    // Per-transaction logs: the third field is the latency in microseconds.
    let mut latencies = Latencies::default();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("log")) {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line.split_whitespace().nth(2).and_then(|f| f.parse::<u64>().ok()) {
                    latencies.push(Duration::from_micros(us));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Row {
        name: "database limit: pgbench, UPDATE seat + INSERT pass".into(),
        throughput: tps,
        p50: latencies.percentile(50.0),
        p99: latencies.percentile(99.0),
        errors: failed,
        note: format!("{} transactions", latencies.len()),
    })
}

/// CPU seconds used so far by each process of the programs that matter (`postgres`,
/// `passcom-server`, `redis-server`, `bench`), keyed by program and pid, from /proc: where the
/// time of a row went, measured rather than guessed.
fn cpu_by_process() -> HashMap<(String, u32), f64> {
    let mut totals = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return totals };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`: comm may hold spaces, so split at the last parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = &stat[open + 1..close];
        let program = match comm {
            c if c.starts_with("postgres") => "postgres",
            c if c.starts_with("passcom-server") => "passcom-server",
            c if c.starts_with("redis-server") => "redis-server",
            c if c.starts_with("bench") => "bench",
            _ => continue,
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime are the 14th and 15th fields of the whole line, in clock ticks.
        let ticks: f64 = fields.get(11..13).map_or(0.0, |t| t.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
        totals.insert((program.to_owned(), pid), ticks / 100.0);
    }
    totals
}

/// `postgres 48%, passcom-server 38%, …` of the CPU time used between two snapshots, process
/// by process (one that exited in between, like a killed server, counts for nothing).
fn cpu_shares(before: &HashMap<(String, u32), f64>, after: &HashMap<(String, u32), f64>) -> String {
    let mut by_program: HashMap<&str, f64> = HashMap::new();
    for (key, seconds) in after {
        *by_program.entry(key.0.as_str()).or_insert(0.0) += seconds - before.get(key).copied().unwrap_or(0.0);
    }
    let mut used: Vec<(&str, f64)> = by_program.into_iter().filter(|(_, v)| *v > 0.0).collect();
    let total: f64 = used.iter().map(|(_, v)| v).sum();
    used.sort_by(|x, y| y.1.total_cmp(&x.1));
    let parts: Vec<String> = used.iter().map(|(k, v)| format!("{k} {:.0}%", v / total * 100.0)).collect();
    format!("CPU: {}", parts.join(", "))
}

/// Peak resident memory of a process, in MB, from /proc.
fn peak_rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024)
}
