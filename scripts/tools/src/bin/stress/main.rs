//! `stress`: concurrent bookings against a PassCom federation, then checks, through the public
//! API only, that nothing was sold twice and that every server agrees on what was sold.
//!
//! Two modes: `race` (the default) has every request fight for one seat or itinerary; `random`
//! books many random itineraries over a small pool of seats, cancels a few, and checks the
//! federation's invariants once it is quiet. Run `stress --help` for the flags.

mod fault;
mod race;
mod random;

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use passcom_shared::api::SeatLeg;
use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use passcom_tools::args::{list, Args};
use passcom_tools::client::{http_client, ApiClient};
use passcom_tools::DEFAULT_SERVERS;

const USAGE: &str = "\
Usage: stress [--mode race|random] [--servers URL,URL,...] [options]

Concurrent bookings against a PassCom federation, then consistency checks through the public API.
Servers default to the local federation (scripts/federation up):
  http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003

--mode race (default): many users race for one seat (or one itinerary)
  --count N               requests at EACH server, each from its own new user (default 30)
  --airline X --segment ID [--seat S]
                          the seat to fight for (default seat: the segment's first free one)
  --itinerary a:SEG:1A,b:SEG:2C
                          fight for a multi-leg itinerary instead
  Without either: the first free seat of the soonest segment with free seats that leaves in
  30 minutes or more.
  Passes (exit 0) only if exactly one request got 201, every other got 409, and afterwards the
  seats are unavailable and exactly one confirmed pass of the users holds them.

--mode random: random multi-leg itineraries over a small pool of seats, so that bookings collide
  --bookings N            booking attempts in all (default 200)
  --concurrency C         attempts in flight at once, at random servers (default 16)
  --users N               users created at each server (default 10)
  --seat-pool N           seats in play per segment: its first N free ones (default 18)
  --cancel-ratio R        share of successful bookings cancelled right away (default 0.1)
  --quiet-timeout S       seconds to wait for the federation to settle before checking (default 60)
  --settle S              seconds to wait after the load (and the fault) before the quiet check
                          (default 0, and 10 with --fault: the longest a correct federation with
                          the server defaults takes to abort and free the bookings a fault left
                          undecided; a seat still held after it is reported under (e))
  --seed N                seed of the random choices (default: random)
  --fault KIND            inject a fault into a `scripts/federation up` federation during the
                          load (run from the repository, with the federation's environment):
                          kill-coordinator, kill-participant (SIGKILL, then scripts/federation up),
                          pause-coordinator, pause-participant (SIGSTOP, then SIGCONT),
                          redis-restart (SIGKILL, then up), postgres-restart (fast shutdown, then up)
  --fault-target NAME     the server it hits: a, b, c, or a replica a1, a2 (default: a for
                          coordinator faults, b for participant faults)
  --fault-at S            seconds into the load (default 1)
  --fault-for S           seconds until it is undone (default 3)
  Once quiet, checks that (a) no seat is in two confirmed passes, (b) every seat of a confirmed
  pass is unavailable, (c) every 201 is in the user's passes at every reachable server, with one
  status everywhere, (d) seats of cancelled passes are free again unless sold again, and (e) every
  seat of the pools (all free at the start) that is taken is in a confirmed pass of this run.
  Passes (exit 0) if there are no invariant violations (and the fault was injected and undone);
  connection errors are counted, not violations, and a server that is down is skipped and reported.

Exit status: 0 pass, 1 fail, 2 could not run (bad flags, federation not reachable, ...).
";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("stress: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(passed)`, or an error when the run could not be carried out at all.
async fn run() -> Result<bool> {
    let mut args = Args::from_env(&["--help"])?;
    if args.switch("--help") {
        print!("{USAGE}");
        return Ok(true);
    }
    let mode: String = args.get_or("--mode", "race".to_owned())?;
    let urls = list(&args.get_or("--servers", DEFAULT_SERVERS.to_owned())?);
    if urls.is_empty() {
        bail!("--servers lists no server");
    }
    match mode.as_str() {
        "race" => {
            let options = race::Options::from_args(&mut args)?;
            args.finish()?;
            let servers = connect(&urls).await?;
            if let Some(down) = servers.iter().find(|s| s.airline().is_none()) {
                bail!("{} does not answer; a race needs every server (is the federation up?)", down.url());
            }
            race::run(&servers, options).await
        }
        "random" => {
            let options = random::Options::from_args(&mut args)?;
            args.finish()?;
            random::run(&connect(&urls).await?, options).await
        }
        other => bail!("unknown --mode `{other}` (race or random)"),
    }
}

/// Clients for every server; the ones that do not answer now are kept, unnamed, for the modes
/// to decide about. Fails only if none answers.
async fn connect(urls: &[String]) -> Result<Vec<ApiClient>> {
    let servers = ApiClient::connect_all(&http_client()?, urls).await;
    let labels: Vec<String> = servers
        .iter()
        .map(|s| if s.airline().is_some() { s.label() } else { format!("{} (not answering)", s.url()) })
        .collect();
    println!("servers: {}", labels.join(", "));
    if servers.iter().all(|s| s.airline().is_none()) {
        bail!("no server answers (is the federation up? scripts/federation up)");
    }
    Ok(servers)
}

/// Accounts made (and so passwords hashed) at once: hashing is deliberately slow, and a
/// federation on a small machine answers everything else late while it hashes.
const USER_PARALLELISM: usize = 8;

/// A server to read the catalog from: the first one that answered at start-up.
fn catalog_server(servers: &[ApiClient]) -> Result<&ApiClient> {
    servers.iter().find(|s| s.airline().is_some()).context("no server answers")
}

/// `a/PA101-20261122-0900/1A`: how reports name a seat.
fn seat_label(airline: &AirlineCode, segment: &SegmentId, seat: &SeatCode) -> String {
    format!("{airline}/{segment}/{seat}")
}

fn leg_label(leg: &SeatLeg) -> String {
    seat_label(&leg.airline, &leg.segment_id, &leg.seat)
}

/// ` (text)`, or nothing for an empty text: `409: 3 (seat_taken 3)` but `409: 0`.
fn parenthesized(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}
