//! `--mode random`: many random itineraries booked at once over a small pool of seats, some
//! cancelled again; then, once the federation is quiet, its invariants checked through the API.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures::StreamExt;
use passcom_shared::api::{BookingRequest, Pass, PassStatus, SeatLeg};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use passcom_tools::args::Args;
use passcom_tools::client::{free_seats, outcome, ApiClient, CallError};
use passcom_tools::stats::{Latencies, Outcome, Tally};
use passcom_tools::users::{create_users, User};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::fault::Fault;
use crate::{catalog_server, leg_label, parenthesized, seat_label, USER_PARALLELISM};

/// City pairs whose routes make up the plan. Porto Alegre to Recife needs all three airlines;
/// the others mix one-, two- and three-leg routes over every airline, sharing segments.
const CITY_PAIRS: &[(&str, &str)] = &[
    ("Porto Alegre", "Recife"),
    ("Recife", "Porto Alegre"),
    ("Foz do Iguaçu", "Salvador"),
    ("Florianópolis", "Brasília"),
    ("Belo Horizonte", "Curitiba"),
    ("São Paulo", "Rio de Janeiro"),
    ("Curitiba", "Belo Horizonte"),
    ("Brasília", "Porto Alegre"),
];

/// Only the best few routes of each pair are used: they share their segments, which is what
/// makes bookings collide.
const ROUTES_PER_PAIR: usize = 4;
const MAX_LEGS: usize = 3;

/// After a fault, how long a correct federation (with the server defaults) may still be
/// finishing the bookings the fault left undecided or unacknowledged, counted from the end of
/// the load and of the fault: recovery aborts a booking still `preparing` once its deadline
/// (`PASSCOM_BOOKING_DEADLINE_MS`, 2.5 s) plus the server's `PREPARE_MARGIN` (2 s) have
/// passed, resends a decision after its grace (2 s), to an owner whose breaker opened while it
/// was down only after the breaker's cooldown (`PASSCOM_BREAKER_COOLDOWN_MS`, 2 s), and each of
/// these waits for a worker round (`PASSCOM_WORKER_INTERVAL_MS`, 0.5 s). Until then a seat
/// held for such a booking is still unavailable though no pass holds it, which the API cannot
/// tell from a sale; after it, such a seat is a violation of (d).
const SETTLE_AFTER_FAULT: Duration = Duration::from_millis(2500 + 2000 + 2000 + 2000 + 3 * 500);

pub struct Options {
    bookings: usize,
    concurrency: usize,
    users_per_server: usize,
    seat_pool: usize,
    cancel_ratio: f64,
    quiet_timeout: Duration,
    /// Waited after the load (and the fault) before the quiet check starts.
    settle: Duration,
    seed: u64,
    fault: Option<Fault>,
}

impl Options {
    pub fn from_args(args: &mut Args) -> Result<Self> {
        let fault = Fault::from_args(args)?;
        let default_settle = if fault.is_some() { SETTLE_AFTER_FAULT.as_secs_f64() } else { 0.0 };
        let options = Options {
            bookings: args.get_or("--bookings", 200)?,
            concurrency: args.get_or("--concurrency", 16)?,
            users_per_server: args.get_or("--users", 10)?,
            seat_pool: args.get_or("--seat-pool", 18)?,
            cancel_ratio: args.get_or("--cancel-ratio", 0.1)?,
            quiet_timeout: Duration::from_secs(args.get_or("--quiet-timeout", 60)?),
            seed: args.get("--seed")?.unwrap_or_else(rand::random),
            settle: Duration::from_secs_f64(args.get_or("--settle", default_settle)?),
            fault,
        };
        if options.concurrency == 0 || options.users_per_server == 0 || options.seat_pool == 0 {
            bail!("--concurrency, --users and --seat-pool must be at least 1");
        }
        if !(0.0..=1.0).contains(&options.cancel_ratio) {
            bail!("--cancel-ratio must be between 0 and 1");
        }
        Ok(options)
    }
}

type SegmentKey = (AirlineCode, SegmentId);

/// What the bookings choose from.
struct Plan {
    routes: Vec<Vec<SegmentKey>>,
    /// Per segment, the seats in play.
    pools: BTreeMap<SegmentKey, Vec<SeatCode>>,
}

/// What a booking answered with 201 should look like everywhere once the federation is quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Confirmed,
    Cancelled,
    /// The cancellation got no clear answer: either status is right, as long as it is the same
    /// everywhere.
    Either,
}

/// A booking answered with 201.
struct Sold {
    pass_id: Uuid,
    user: usize,
    server: usize,
    legs: Vec<SeatLeg>,
    expect: Expect,
}

/// One booking attempt and, if it was sold and picked for cancelling, the cancellation.
struct Attempt {
    outcome: Outcome,
    latency: Duration,
    sold: Option<Sold>,
    cancel: Option<Outcome>,
}

pub async fn run(servers: &[ApiClient], options: Options) -> Result<bool> {
    println!(
        "random: {} bookings, {} at a time, {} users at each server, seat pool {}, cancel ratio {}, seed {}",
        options.bookings,
        options.concurrency,
        options.users_per_server,
        options.seat_pool,
        options.cancel_ratio,
        options.seed
    );
    let plan = make_plan(servers, options.seat_pool).await?;
    // Users are made where it is possible now; bookings still go to every server, and those at
    // a server that is down count as connection errors.
    let up: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].airline().is_some()).collect();
    let up_servers: Vec<ApiClient> = up.iter().map(|&i| servers[i].clone()).collect();
    let mut users = create_users(&up_servers, options.users_per_server, "stress", USER_PARALLELISM).await?;
    for user in &mut users {
        user.home = up[user.home];
    }
    println!("created and logged in {} users", users.len());

    let started = Instant::now();
    let (attempts, fault) = match &options.fault {
        Some(fault) => {
            fault.check()?;
            println!("fault: {}", fault.describe());
            let (attempts, fault) = tokio::join!(book_all(servers, &users, &plan, &options), fault.run());
            (attempts, Some(fault))
        }
        None => (book_all(servers, &users, &plan, &options).await, None),
    };
    let wall = started.elapsed();
    let attempts = attempts?;
    report_attempts(&attempts, wall);
    let fault_failed = match fault {
        Some(Ok(report)) => {
            println!("{report}");
            false
        }
        Some(Err(e)) => {
            println!("fault FAILED: {e:#}");
            true
        }
        None => false,
    };

    if !options.settle.is_zero() {
        println!("settling {:.1} s before the quiet check", options.settle.as_secs_f64());
        tokio::time::sleep(options.settle).await;
    }
    let segments: BTreeSet<SegmentKey> = plan.pools.keys().cloned().collect();
    let snapshot = wait_for_quiet(servers, &users, &segments, options.quiet_timeout).await;
    let sold: Vec<&Sold> = attempts.iter().filter_map(|a| a.sold.as_ref()).collect();
    if sold.is_empty() {
        println!("warning: nothing was sold, so the checks have little to check");
    }
    let verdict = check(servers, &users, &sold, &snapshot, &plan.pools);

    let down: Vec<String> =
        snapshot.passes.iter().zip(servers).filter(|(p, _)| p.is_none()).map(|(_, s)| s.label()).collect();
    if !down.is_empty() {
        println!("not answering at check time, skipped for (c): {}", down.join(", "));
    }
    if verdict.unchecked > 0 {
        println!("seats left unchecked (seat map unreadable): {}", verdict.unchecked);
    }
    println!("invariant violations: {}", verdict.violations.len());
    for violation in &verdict.violations {
        println!("  {violation}");
    }
    Ok(verdict.violations.is_empty() && !fault_failed)
}

/// The routes of [`CITY_PAIRS`] and, for each of their segments, its first `seat_pool` free
/// seats: few seats, so that bookings collide, and free ones, so that runs after the first
/// still collide over free seats instead of just being told `seat_taken`.
async fn make_plan(servers: &[ApiClient], seat_pool: usize) -> Result<Plan> {
    let catalog = catalog_server(servers)?;
    let mut routes: Vec<Vec<SegmentKey>> = Vec::new();
    for (origin, destination) in CITY_PAIRS {
        match catalog.routes(origin, destination, MAX_LEGS).await {
            Ok(list) => {
                for route in list.routes.iter().take(ROUTES_PER_PAIR) {
                    let keys: Vec<SegmentKey> =
                        route.legs.iter().map(|s| (s.airline.clone(), s.segment_id.clone())).collect();
                    if !routes.contains(&keys) {
                        routes.push(keys);
                    }
                }
            }
            Err(e) => println!("warning: no routes {origin} -> {destination}: {e}"),
        }
    }
    let segments: BTreeSet<SegmentKey> = routes.iter().flatten().cloned().collect();
    let mut pools = BTreeMap::new();
    for (airline, segment) in segments {
        let pool = match catalog.segment(&airline, &segment).await {
            Ok(detail) => free_seats(&detail, seat_pool),
            Err(e) => {
                println!("warning: leaving out {airline}/{segment}: {e}");
                Vec::new()
            }
        };
        pools.insert((airline, segment), pool);
    }
    // A segment with no free seat (or an unreadable seat map) cannot be in a route: there would
    // be no seat to ask for.
    routes.retain(|route| route.iter().all(|key| pools.get(key).is_some_and(|pool| !pool.is_empty())));
    pools.retain(|key, _| routes.iter().flatten().any(|k| k == key));
    if routes.is_empty() {
        bail!("found no route with free seats between the demo cities");
    }
    let mut by_length = BTreeMap::<usize, usize>::new();
    for route in &routes {
        *by_length.entry(route.len()).or_default() += 1;
    }
    let lengths: Vec<String> = by_length.iter().map(|(legs, n)| format!("{n} of {legs} leg(s)")).collect();
    println!("plan: {} routes ({}) over {} segments", routes.len(), lengths.join(", "), pools.len());
    Ok(Plan { routes, pools })
}

/// Runs `options.bookings` attempts on `options.concurrency` workers that each take the next
/// attempt as soon as their last one is answered.
async fn book_all(servers: &[ApiClient], users: &[User], plan: &Plan, options: &Options) -> Result<Vec<Attempt>> {
    let next = AtomicUsize::new(0);
    let workers = (0..options.concurrency).map(|worker| {
        // One seeded generator per worker: the same seed makes the same choices (the
        // interleaving, and so the outcomes, still differ from run to run).
        let rng = StdRng::seed_from_u64(options.seed.wrapping_add(worker as u64));
        work(servers, users, plan, options, &next, rng)
    });
    Ok(futures::future::join_all(workers).await.into_iter().flatten().collect())
}

async fn work(
    servers: &[ApiClient],
    users: &[User],
    plan: &Plan,
    options: &Options,
    next: &AtomicUsize,
    mut rng: StdRng,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    while next.fetch_add(1, Ordering::Relaxed) < options.bookings {
        let server = rng.gen_range(0..servers.len());
        let user = rng.gen_range(0..users.len());
        let legs: Vec<SeatLeg> = plan.routes[rng.gen_range(0..plan.routes.len())]
            .iter()
            .map(|(airline, segment)| SeatLeg {
                airline: airline.clone(),
                segment_id: segment.clone(),
                seat: plan.pools[&(airline.clone(), segment.clone())]
                    .choose(&mut rng)
                    .cloned()
                    .expect("make_plan keeps no route over an empty pool"),
            })
            .collect();
        let cancel = rng.gen_bool(options.cancel_ratio);

        let (api, token) = (&servers[server], &users[user].token);
        let started = Instant::now();
        let result = api.book(token, &BookingRequest::one_seat_each(&legs), None).await;
        let mut attempt = Attempt { outcome: outcome(&result), latency: started.elapsed(), sold: None, cancel: None };
        if let Ok(pass) = result {
            let mut expect = Expect::Confirmed;
            if cancel {
                // At the server that sold it: the only one sure to know the pass already.
                let cancelled = api.cancel(token, pass.pass_id).await;
                attempt.cancel = Some(outcome(&cancelled));
                expect = if cancelled.is_ok() { Expect::Cancelled } else { Expect::Either };
            }
            attempt.sold = Some(Sold { pass_id: pass.pass_id, user, server, legs, expect });
        }
        attempts.push(attempt);
    }
    attempts
}

fn report_attempts(attempts: &[Attempt], wall: Duration) {
    let mut tally = Tally::default();
    let mut cancels = Tally::default();
    let mut latencies = Latencies::default();
    for attempt in attempts {
        tally.add(attempt.outcome.clone());
        latencies.push(attempt.latency);
        if let Some(cancel) = &attempt.cancel {
            cancels.add(cancel.clone());
        }
    }
    let (conflicts, conflict_codes) = tally.with_status(409);
    let (unavailable, unavailable_codes) = tally.with_status(503);
    let (others, other_codes) = tally.breakdown(|o| {
        !matches!(
            o,
            Outcome::Success | Outcome::Refused { status: 409 | 503, .. } | Outcome::Transport | Outcome::Timeout
        )
    });
    let (transport, _) = tally.breakdown(|o| matches!(o, Outcome::Transport | Outcome::Timeout));
    let (cancel_failures, cancel_failure_codes) = cancels.breakdown(|o| *o != Outcome::Success);
    println!("attempts:          {}", tally.total());
    println!("created (201):     {}", tally.successes());
    println!("conflicts (409):   {conflicts}{}", parenthesized(&conflict_codes));
    println!("unavailable (503): {unavailable}{}", parenthesized(&unavailable_codes));
    println!("other answers:     {others}{}", parenthesized(&other_codes));
    println!("connection errors: {transport}");
    println!(
        "cancellations:     {} asked, {} done, {cancel_failures} failed{}",
        cancels.total(),
        cancels.successes(),
        parenthesized(&cancel_failure_codes)
    );
    println!("latency:           {}", latencies.summary());
    println!(
        "wall time:         {:.2} s ({:.1} bookings/s)",
        wall.as_secs_f64(),
        attempts.len() as f64 / wall.as_secs_f64().max(1e-9)
    );
}

/// Per user (in the order of the users), the user's passes at one server by id, or why they
/// could not be listed.
type UserPasses = Vec<Result<BTreeMap<Uuid, Pass>, String>>;

/// The federation as the API shows it at one moment.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// Per server: `None` if it did not answer.
    passes: Vec<Option<UserPasses>>,
    /// Per segment in play: its unavailable seats, read at its owner when the owner answers (or
    /// why the seat map could not be read).
    taken: BTreeMap<SegmentKey, Result<BTreeSet<SeatCode>, String>>,
}

/// Snapshots until every server answers and two snapshots in a row are equal (the outboxes have
/// drained and the seat maps settled), or `timeout` is over; returns the last one. A server that
/// is down is not quiet: what it sold is still in its outbox, and it has not heard of the rest.
async fn wait_for_quiet(
    servers: &[ApiClient],
    users: &[User],
    segments: &BTreeSet<SegmentKey>,
    timeout: Duration,
) -> Snapshot {
    let started = Instant::now();
    let mut last = snapshot(servers, users, segments).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = snapshot(servers, users, segments).await;
        if now == last && now.passes.iter().all(Option::is_some) {
            println!("quiet after {:.1} s", started.elapsed().as_secs_f64());
            return now;
        }
        if started.elapsed() >= timeout {
            println!("warning: still changing after {} s; checking the last snapshot", timeout.as_secs());
            return now;
        }
        last = now;
    }
}

async fn snapshot(servers: &[ApiClient], users: &[User], segments: &BTreeSet<SegmentKey>) -> Snapshot {
    let passes = futures::future::join_all(servers.iter().map(|server| passes_at(server, users))).await;
    let up: Vec<&ApiClient> = servers.iter().zip(&passes).filter(|(_, p)| p.is_some()).map(|(s, _)| s).collect();
    let taken = futures::stream::iter(segments)
        .map(|(airline, segment)| {
            let reader = up.iter().find(|s| s.airline() == Some(airline)).or_else(|| up.first());
            async move {
                let taken = match reader {
                    Some(server) => match server.segment(airline, segment).await {
                        Ok(detail) => Ok(detail.seats.into_iter().filter(|s| !s.available).map(|s| s.seat).collect()),
                        Err(e) => Err(format!("at {}: {e}", server.label())),
                    },
                    None => Err("no server answers".to_owned()),
                };
                ((airline.clone(), segment.clone()), taken)
            }
        })
        .buffered(USER_PARALLELISM)
        .collect()
        .await;
    Snapshot { passes, taken }
}

/// Every user's passes at one server, or `None` if the server does not answer.
async fn passes_at(server: &ApiClient, users: &[User]) -> Option<UserPasses> {
    let lists: Vec<_> =
        futures::stream::iter(users).map(|user| server.passes(&user.token)).buffered(USER_PARALLELISM).collect().await;
    if lists.iter().any(|l| l.as_ref().is_err_and(CallError::is_transport)) {
        return None;
    }
    Some(
        lists
            .into_iter()
            .map(|list| list.map(|l| l.passes.into_iter().map(|p| (p.pass_id, p)).collect()).map_err(|e| e.to_string()))
            .collect(),
    )
}

struct Verdict {
    violations: Vec<String>,
    /// Seats whose availability could not be read.
    unchecked: usize,
}

/// The invariants (a)-(d) of `--help` over a quiet snapshot.
fn check(
    servers: &[ApiClient],
    users: &[User],
    sold: &[&Sold],
    snapshot: &Snapshot,
    pools: &BTreeMap<SegmentKey, Vec<SeatCode>>,
) -> Verdict {
    let mut violations = Vec::new();
    let mut unchecked = 0;
    let name =
        |server: usize| servers[server].airline().map_or_else(|| servers[server].url().to_owned(), |a| a.to_string());

    // Every view of every pass: (server, pass). Passes of bookings whose 201 was lost
    // (a connection error) are in here too, so (a), (b) and (d) cover them.
    let mut views: BTreeMap<Uuid, Vec<(usize, &Pass)>> = BTreeMap::new();
    for (server, lists) in snapshot.passes.iter().enumerate() {
        for (user, list) in lists.iter().flatten().enumerate() {
            match list {
                Ok(passes) => {
                    for pass in passes.values() {
                        views.entry(pass.pass_id).or_default().push((server, pass));
                    }
                }
                Err(e) => violations.push(format!(
                    "(c) {} cannot list the passes of {}: {e}",
                    servers[server].label(),
                    users[user].login
                )),
            }
        }
    }
    // A pass counts as confirmed if any server says so: the strict reading for (a) and (b).
    // Servers that disagree are a violation of (c) of their own.
    let confirmed = |id: &Uuid| views.get(id).is_some_and(|v| v.iter().any(|(_, p)| p.status == PassStatus::Confirmed));
    let seat_taken = |leg: &passcom_shared::api::PassLeg| {
        snapshot
            .taken
            .get(&(leg.airline.clone(), leg.segment_id.clone()))
            .and_then(|t| t.as_ref().ok())
            .map(|t| t.contains(&leg.seat))
    };

    // (a) no seat in two confirmed passes.
    let mut holders: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    for (id, list) in &views {
        if confirmed(id) {
            for leg in &list[0].1.legs {
                holders.entry(seat_label(&leg.airline, &leg.segment_id, &leg.seat)).or_default().insert(*id);
            }
        }
    }
    for (seat, ids) in &holders {
        if ids.len() > 1 {
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            violations.push(format!("(a) seat {seat} is in {} confirmed passes: {}", ids.len(), ids.join(", ")));
        }
    }

    for (id, list) in &views {
        let pass = list[0].1;
        for leg in &pass.legs {
            let label = seat_label(&leg.airline, &leg.segment_id, &leg.seat);
            match (confirmed(id), seat_taken(leg)) {
                (_, None) => unchecked += 1,
                // (b) every seat of a confirmed pass is unavailable.
                (true, Some(false)) => violations.push(format!("(b) seat {label} of confirmed pass {id} is available")),
                // (d) a seat of a cancelled pass is free again, unless someone else has it now.
                (false, Some(true)) if !holders.contains_key(&label) => violations.push(format!(
                    "(d) seat {label} of cancelled pass {id} is still unavailable, but no confirmed pass of this run holds it"
                )),
                _ => {}
            }
        }
        // (c), for every pass seen: one status everywhere.
        if list.iter().any(|(_, p)| p.status != pass.status) {
            let each: Vec<String> = list.iter().map(|(s, p)| format!("{:?} at {}", p.status, name(*s))).collect();
            violations.push(format!("(c) pass {id} differs between servers: {}", each.join(", ")));
        }
    }

    // (c) every 201 is in its user's passes at every server that answers, as expected.
    for sold in sold {
        let user = &users[sold.user];
        let context = format!("pass {} of {} (sold at {})", sold.pass_id, user.login, name(sold.server));
        for (server, lists) in snapshot.passes.iter().enumerate() {
            let Some(Ok(passes)) = lists.as_ref().map(|l| &l[sold.user]) else { continue };
            let Some(pass) = passes.get(&sold.pass_id) else {
                violations.push(format!("(c) {context} is missing at {}", name(server)));
                continue;
            };
            let legs: Vec<String> = pass.legs.iter().map(|l| seat_label(&l.airline, &l.segment_id, &l.seat)).collect();
            let asked: Vec<String> = sold.legs.iter().map(leg_label).collect();
            if legs != asked {
                violations.push(format!(
                    "(c) {context} at {} has legs [{}], booked [{}]",
                    name(server),
                    legs.join(", "),
                    asked.join(", ")
                ));
            }
            let wrong = match sold.expect {
                Expect::Confirmed => pass.status != PassStatus::Confirmed,
                Expect::Cancelled => pass.status != PassStatus::Cancelled,
                Expect::Either => false,
            };
            if wrong {
                violations.push(format!(
                    "(c) {context} is {:?} at {}, expected {:?}",
                    pass.status,
                    name(server),
                    sold.expect
                ));
            }
        }
    }
    // (e) the pools were free at the start: a seat of one that is taken now is in a confirmed
    // pass of this run (a hold left behind by an undecided booking shows here).
    for ((airline, segment), pool) in pools {
        let Some(Ok(taken)) = snapshot.taken.get(&(airline.clone(), segment.clone())) else { continue };
        for seat in pool.iter().filter(|seat| taken.contains(*seat)) {
            let label = seat_label(airline, segment, seat);
            if !holders.contains_key(&label) {
                violations.push(format!("(e) seat {label} is unavailable, but no confirmed pass of this run holds it"));
            }
        }
    }
    Verdict { violations, unchecked }
}
