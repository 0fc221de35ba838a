//! `bench`: how fast PassCom books and searches, next to the limit of its own database.
//!
//! Run through `scripts/bench`, which loads fresh benchmark segments (run id `--run`) into each
//! airline, prepares the pgbench database, and restarts the airline this tool kills. Every row
//! gives throughput, p50, p99 and errors; the rows are described in `USAGE`. The parts shared
//! by the rows are in `passcom_tools::bench`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use passcom_shared::api::{BookingRequest, SeatLeg};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use passcom_tools::args::{list, Args};
use passcom_tools::bench::pgbench::pgbench;
use passcom_tools::bench::procfs::{
    cpu_by_process, cpu_each, cpu_shares, machine_busy_seconds, memory, settle, ServerPids, Watchdog,
};
use passcom_tools::bench::{drive, print_table, scale, Row};
use passcom_tools::client::{http_client, outcome, ApiClient};
use passcom_tools::stats::{ms, percentile, Outcome};
use passcom_tools::users::create_users;
use passcom_tools::DEFAULT_SERVERS;
use serde::Serialize;

const USAGE: &str = "\
Usage: bench --run RUN [--servers a,b,c URLs] [--clients 16] [--seconds 10] [--segments 45]
             [--pgbench-url URL] [--pid-dir DIR] [--kill c] [--revive CMD] [--rss-limit-mb 3072]
             [--max6-queries 8] [--old-api]
             [--only pgbench,single,itinerary,party-itinerary,race,search,
                     routes-date,segments-pages,routes-max6,idle]

Rows: the database's limit (pgbench: one conditional seat UPDATE + one pass INSERT per
transaction, distinct random seats); a single-leg booking at the seat's own airline; a
three-airline itinerary booked through a, for one passenger and for a party of four; the race
(30 buys of one seat at each server); federated segment and route search; on the scale data
(passcom-seed --scale): routes by date, routes with max_legs=6 one at a time, segments page by
page, and each server's CPU and memory at rest. Search rows run again with one airline killed.

--pid-dir holds scripts/federation's server-{code}.pid: it enables the CPU split, the memory
figures, and a watchdog that SIGKILLs a server past --rss-limit-mb, after which --revive (a
shell command) brings it back. --old-api sends only the query parameters of the API before
issue 10 (no date, limit or cursor): the \"before\" figures of the scale rows.
";

const SEAT_LETTERS: &str = "ABCDEFGHJK";
const SEAT_ROWS: u32 = 99;
const AIRLINES: [&str; 3] = ["a", "b", "c"];

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

/// The rows so far. After each row the servers get up to 30 s to come to rest, so that the next
/// row does not measure what this one left running; a server that had to be killed (still busy,
/// or by the watchdog) is named in the row's note and brought back before the next row.
struct Recorder {
    rows: Vec<Row>,
    pids: ServerPids,
    watchdog: Option<Watchdog>,
    revive: Option<String>,
}

impl Recorder {
    async fn push(&mut self, mut row: Row) -> Result<()> {
        let mut kills = settle(&self.pids, &AIRLINES, Duration::from_secs(30)).await;
        kills.extend(self.watchdog.as_ref().map(Watchdog::take_kills).unwrap_or_default());
        if !kills.is_empty() {
            row.note = format!("{}; {}", row.note, kills.join(", "));
            if let Some(revive) = &self.revive {
                println!("bringing killed servers back: {revive}");
                let status = tokio::process::Command::new("sh").args(["-c", revive]).status().await?;
                if !status.success() {
                    bail!("`{revive}` failed");
                }
            }
        }
        let summary = match row.throughput {
            Some(t) => format!("{t:.0}/s, p99 {}, {} errors", row.p99.map(ms).unwrap_or_default(), row.errors),
            None => row.note.clone(),
        };
        println!("  {}: {summary}", row.name);
        self.rows.push(row);
        Ok(())
    }
}

async fn run() -> Result<()> {
    let mut args = Args::from_env(&["--help", "--old-api"])?;
    if args.switch("--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let run_id: u64 = args.get("--run")?.context("--run is required (scripts/bench sets it)")?;
    let urls = list(&args.get_or("--servers", DEFAULT_SERVERS.to_owned())?);
    let clients: usize = args.get_or("--clients", 16)?;
    let seconds: u64 = args.get_or("--seconds", 10)?;
    let segments: u32 = args.get_or("--segments", 45)?;
    if segments < 6 {
        bail!("--segments must be at least 6");
    }
    let pgbench_url: Option<String> = args.get("--pgbench-url")?;
    let pids = ServerPids::new(args.get::<PathBuf>("--pid-dir")?);
    let kill: Option<String> = args.get("--kill")?;
    let revive: Option<String> = args.get("--revive")?;
    let rss_limit_mb: u64 = args.get_or("--rss-limit-mb", 3072)?;
    let max6_queries: usize = args.get_or("--max6-queries", 8)?;
    let old_api = args.switch("--old-api");
    let only: Option<Vec<String>> = args.get::<String>("--only")?.map(|rows| list(&rows));
    args.finish()?;
    // Without --only every row runs; with it, just the rows named (for profiling one of them).
    let wanted = |row: &str| only.as_ref().is_none_or(|rows| rows.iter().any(|r| r == row));
    let duration = Duration::from_secs(seconds);

    let http = http_client()?;
    let servers = ApiClient::connect_all(&http, &urls).await;
    let by_airline: HashMap<String, ApiClient> =
        servers.iter().filter_map(|s| Some((s.airline()?.to_string(), s.clone()))).collect();
    let [a, b, c] = AIRLINES.map(|code| by_airline.get(code).cloned());
    let (Some(a), Some(b), Some(_)) = (a, b, c) else { bail!("airlines a, b and c must all answer") };
    let bench_segment = |airline: &str, k: u32| SegmentId::parse(&format!("BENCH{run_id}-{airline}{k}"));
    let seats: Vec<SeatCode> = (1..=SEAT_ROWS)
        .flat_map(|row| SEAT_LETTERS.chars().map(move |l| format!("{row}{l}")))
        .map(|s| SeatCode::parse(&s))
        .collect::<Result<_, _>>()?;
    // The a → b → c chain of the k-th benchmark segments, each leg two hours after the last.
    let chain = |k: u32| -> Result<Vec<(AirlineCode, SegmentId)>> {
        AIRLINES.iter().map(|code| Ok((AirlineCode::parse(code)?, bench_segment(code, k)?))).collect()
    };
    let watchdog =
        pids.pid("a").map(|_| Watchdog::start(pids.clone(), AIRLINES.map(String::from).to_vec(), rss_limit_mb));
    let mut recorder = Recorder { rows: Vec::new(), pids: pids.clone(), watchdog: watchdog.clone(), revive };

    if let Some(url) = pgbench_url.as_ref().filter(|_| wanted("pgbench")) {
        println!("pgbench: {clients} clients, {seconds} s ...");
        recorder.push(pgbench(url, clients, seconds)?).await?;
    }

    // Segments 0..third carry the itineraries (a→b→c), third..2·third the parties; b's
    // 2·third..segments the single-leg bookings; a's last one the race. No two rows want the
    // same seat.
    let third = segments / 3;
    if wanted("single") {
        println!("single-leg bookings at the owner: {clients} clients, {seconds} s ...");
        let b_code = AirlineCode::parse("b")?;
        let mut requests = Vec::new();
        for k in 2 * third..segments {
            let segment_id = bench_segment("b", k)?;
            requests.extend(seats.iter().map(|seat| {
                BookingRequest::one_seat_each(&[SeatLeg {
                    airline: b_code.clone(),
                    segment_id: segment_id.clone(),
                    seat: seat.clone(),
                }])
            }));
        }
        recorder
            .push(booking_row("single-leg booking at the owner (b)", &b, clients, duration, &requests).await?)
            .await?;
    }

    if wanted("itinerary") {
        println!("three-airline itineraries through a: {clients} clients, {seconds} s ...");
        let mut requests = Vec::new();
        for k in 0..third {
            let legs = chain(k)?;
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
        recorder
            .push(booking_row("three-airline itinerary through a", &a, clients, duration, &requests).await?)
            .await?;
    }

    if wanted("party-itinerary") {
        println!("parties of 4 on three-airline itineraries through a: {clients} clients, {seconds} s ...");
        let chains = (third..2 * third).map(chain).collect::<Result<Vec<_>>>()?;
        let requests = scale::party_bookings(&chains, &seats);
        let name = "party of 4, three-airline itinerary through a";
        recorder.push(booking_row(name, &a, clients, duration, &requests).await?).await?;
    }

    if wanted("race") {
        println!("the race: 30 buys of one seat at each server ...");
        let leg = SeatLeg {
            airline: AirlineCode::parse("a")?,
            segment_id: bench_segment("a", segments - 1)?,
            seat: SeatCode::parse("1A")?,
        };
        recorder.push(race(&servers, &leg).await?).await?;
    }

    if wanted("search") {
        println!("search: {clients} clients, {seconds} s each ...");
        for row in search(&servers, clients, duration, "").await {
            recorder.push(row).await?;
        }
    }
    if wanted("routes-date") {
        println!("routes by date: {clients} clients, {seconds} s ...");
        recorder.push(scale::routes_by_date(&servers, clients, duration, old_api).await).await?;
    }
    if wanted("segments-pages") {
        println!("segments page by page: {clients} clients, {seconds} s ...");
        recorder.push(scale::segments_pages(&servers, clients, duration, old_api).await).await?;
    }
    if wanted("routes-max6") {
        println!("routes with max_legs=6: {max6_queries} queries, one at a time ...");
        recorder.push(scale::routes_max6(&servers, max6_queries, old_api).await).await?;
    }
    if wanted("idle") {
        println!("each server at rest: {seconds} s ...");
        for row in scale::idle(&pids, &AIRLINES, duration).await {
            recorder.push(row).await?;
        }
    }
    let memory: Vec<String> =
        AIRLINES.iter().filter_map(|code| Some(format!("{code} {} MB", memory(pids.pid(code)?)?.peak_mb))).collect();

    if let Some(victim) = kill.as_ref().filter(|_| wanted("search") || wanted("routes-date")) {
        let pid = pids.pid(victim).with_context(|| format!("--kill {victim} needs its pid file in --pid-dir"))?;
        println!("killing airline {victim} (pid {pid}) and searching again ...");
        let status = Command::new("kill").args(["-9", &pid.to_string()]).status()?;
        if !status.success() {
            bail!("could not kill {pid}");
        }
        // Reviving now would undo the kill: scripts/bench brings the victim back at the end.
        recorder.revive = None;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let alive: Vec<ApiClient> =
            servers.iter().filter(|s| s.airline().map(AirlineCode::as_str) != Some(victim.as_str())).cloned().collect();
        let suffix = format!(", {victim} killed");
        if wanted("search") {
            for row in search(&alive, clients, duration, &suffix).await {
                recorder.push(row).await?;
            }
        }
        if wanted("routes-date") {
            let mut row = scale::routes_by_date(&alive, clients, duration, old_api).await;
            row.name.push_str(&suffix);
            recorder.push(row).await?;
        }
    }
    print_table(&recorder.rows);
    println!(
        "\npeak RSS (VmHWM) after the runs: {}",
        if memory.is_empty() { "not measured (no --pid-dir)".into() } else { memory.join(", ") }
    );
    if let Some(watchdog) = &watchdog {
        println!("most RSS seen (sampled every 100 ms, whole run): {}", watchdog.max_rss());
    }
    Ok(())
}

/// `clients` passengers of `server` book `requests` there, each request once, for `duration`.
async fn booking_row<B: Serialize + Sync>(
    name: &str,
    server: &ApiClient,
    clients: usize,
    duration: Duration,
    requests: &[B],
) -> Result<Row> {
    let users = create_users(std::slice::from_ref(server), clients, "bench", 4).await?;
    let (cpu_before, busy_before) = (cpu_by_process(), machine_busy_seconds());
    let measured = drive(clients, duration, requests.len(), |client, n| {
        let (server, token) = (server.clone(), users[client].token.clone());
        async move { outcome(&server.book_undecoded(&token, &requests[n]).await) }
    })
    .await;
    let cpu = cpu_shares(&cpu_before, &cpu_by_process());
    let booked = measured.tally.successes();
    let each = cpu_each(busy_before, machine_busy_seconds(), booked);
    Ok(Row::measured(name, &measured, format!("{booked} booked, {each}; {cpu}")))
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
        throughput: Some(answers.len() as f64 / all_answered.as_secs_f64()),
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
