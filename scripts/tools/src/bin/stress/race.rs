//! `--mode race`: every user fires one booking of the same seat (or itinerary) at the same
//! instant, spread over all servers. Exactly one may win; the rest must get 409.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use futures::StreamExt;
use passcom_shared::api::{BookingRequest, Pass, PassStatus, SeatLeg};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use passcom_tools::args::{list, Args};
use passcom_tools::client::{free_seats, outcome, ApiClient, CallResult};
use passcom_tools::stats::{Latencies, Outcome, Tally};
use passcom_tools::users::{create_users, User};
use tokio::sync::Barrier;

use crate::{catalog_server, leg_label, parenthesized, USER_PARALLELISM};

/// How long the after-race checks keep retrying: the winner's seats reach the seat map and its
/// pass reaches the user's list within moments, but not necessarily before the 201.
const CHECK_PATIENCE: Duration = Duration::from_secs(10);

/// A segment leaving sooner than this is passed over by the automatic choice: the server
/// refuses departed segments, and a flight leaving mid-run would measure that, not the race.
const MIN_LEAD: chrono::Duration = chrono::Duration::minutes(30);

pub struct Options {
    count: usize,
    target: Target,
}

enum Target {
    /// The first free seat of the soonest-departing segment that has one.
    Soonest,
    /// A seat of one segment; without a seat, the segment's first free one.
    Seat {
        airline: AirlineCode,
        segment: SegmentId,
        seat: Option<SeatCode>,
    },
    Itinerary(Vec<SeatLeg>),
}

impl Options {
    pub fn from_args(args: &mut Args) -> Result<Self> {
        let count: usize = args.get_or("--count", 30)?;
        if count == 0 {
            bail!("--count must be at least 1");
        }
        let airline: Option<AirlineCode> = args.get("--airline")?;
        let segment: Option<SegmentId> = args.get("--segment")?;
        let seat: Option<SeatCode> = args.get("--seat")?;
        let itinerary: Option<String> = args.get("--itinerary")?;
        let target = match (airline, segment, seat, itinerary) {
            (None, None, None, None) => Target::Soonest,
            (Some(airline), Some(segment), seat, None) => Target::Seat { airline, segment, seat },
            (None, None, None, Some(raw)) => Target::Itinerary(parse_itinerary(&raw)?),
            (_, _, _, Some(_)) => bail!("--itinerary does not combine with --airline, --segment or --seat"),
            _ => bail!("--airline and --segment go together (and --seat needs both)"),
        };
        Ok(Options { count, target })
    }
}

/// `a:PA101-20261122-0900:1A,b:PB203-20261122-1300:2C`.
fn parse_itinerary(raw: &str) -> Result<Vec<SeatLeg>> {
    let legs = list(raw)
        .iter()
        .map(|leg| {
            let parts: Vec<&str> = leg.split(':').collect();
            let [airline, segment, seat] = parts[..] else {
                bail!("--itinerary: `{leg}` is not airline:segment:seat");
            };
            Ok(SeatLeg {
                airline: AirlineCode::parse(airline)?,
                segment_id: SegmentId::parse(segment)?,
                seat: SeatCode::parse(seat)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if legs.is_empty() {
        bail!("--itinerary lists no leg");
    }
    Ok(legs)
}

pub async fn run(servers: &[ApiClient], options: Options) -> Result<bool> {
    let legs = choose_legs(servers, &options.target).await?;
    let labels: Vec<String> = legs.iter().map(leg_label).collect();
    let total = options.count * servers.len();
    println!(
        "race: {} at once for {} ({} at each of {} servers)",
        total,
        labels.join(" + "),
        options.count,
        servers.len()
    );

    let started = Instant::now();
    let users = create_users(servers, options.count, "stress", USER_PARALLELISM).await?;
    println!("created and logged in {} users in {:.1} s", users.len(), started.elapsed().as_secs_f64());

    let request = BookingRequest::one_seat_each(&legs);
    let (shots, wall) = fire(servers, &users, &request).await?;
    let mut tally = Tally::default();
    let mut latencies = Latencies::default();
    for shot in &shots {
        tally.add(outcome(&shot.result));
        latencies.push(shot.latency);
    }
    let winners: Vec<(&User, &Pass)> =
        shots.iter().filter_map(|s| s.result.as_ref().ok().map(|pass| (&users[s.user], pass))).collect();
    let (conflicts, conflict_codes) = tally.with_status(409);
    let (others, other_codes) =
        tally.breakdown(|o| *o != Outcome::Success && !matches!(o, Outcome::Refused { status: 409, .. }));
    println!("successes (201):   {}", tally.successes());
    for (user, pass) in &winners {
        println!("  pass {} for {} at {}", pass.pass_id, user.login, servers[user.home].label());
    }
    println!("conflicts (409):   {conflicts}{}", parenthesized(&conflict_codes));
    println!("other errors:      {others}{}", parenthesized(&other_codes));
    for shot in shots.iter().filter(|s| matches!(&s.result, Err(e) if e.status() != Some(409))).take(5) {
        if let Err(e) = &shot.result {
            println!("  e.g. at {}: {e}", servers[users[shot.user].home].label());
        }
    }
    println!("latency:           {}", latencies.summary());
    println!("wall time:         {:.3} s from release to the last answer", wall.as_secs_f64());

    let winner = match winners[..] {
        [(_, pass)] => Some(pass.pass_id),
        _ => None,
    };
    let problems = check_with_patience(servers, &users, &legs, winner).await;
    if problems.is_empty() {
        println!("checks: the seat(s) are unavailable at every server; exactly one confirmed pass holds them");
    }
    for problem in &problems {
        println!("check failed: {problem}");
    }

    let summary = format!(
        "{} success{}, {conflicts} conflicts{}",
        tally.successes(),
        if tally.successes() == 1 { "" } else { "es" },
        parenthesized(&conflict_codes)
    );
    let passed = tally.successes() == 1 && conflicts == total - 1 && problems.is_empty();
    if passed {
        println!("OK: {summary}");
    } else {
        let mut reasons = Vec::new();
        if tally.successes() != 1 {
            reasons.push(format!("expected exactly 1 success, got {}", tally.successes()));
        }
        if others > 0 {
            reasons.push(format!("{others} other errors ({other_codes})"));
        }
        if !problems.is_empty() {
            reasons.push(format!("{} failed checks", problems.len()));
        }
        println!("FAIL: {summary}; {}", reasons.join("; "));
    }
    Ok(passed)
}

/// The legs to fight for, each checked to be free now: a race for a seat that is already sold
/// would "fail" without telling anything about the server.
async fn choose_legs(servers: &[ApiClient], target: &Target) -> Result<Vec<SeatLeg>> {
    let catalog = catalog_server(servers)?;
    let legs = match target {
        Target::Itinerary(legs) => legs.clone(),
        Target::Seat { airline, segment, seat: Some(seat) } => {
            vec![SeatLeg { airline: airline.clone(), segment_id: segment.clone(), seat: seat.clone() }]
        }
        Target::Seat { airline, segment, seat: None } => {
            vec![first_free_seat(catalog, airline, segment).await?]
        }
        Target::Soonest => {
            let earliest = Utc::now() + MIN_LEAD;
            let list = catalog.segments(None, None, None).await.context("listing segments")?;
            let soonest = list
                .segments
                .iter()
                .filter(|s| s.seats_available > 0 && s.departs_at > earliest)
                .min_by_key(|s| (s.departs_at, s.airline.clone(), s.segment_id.clone()))
                .context("no upcoming segment has a free seat")?;
            vec![first_free_seat(catalog, &soonest.airline, &soonest.segment_id).await?]
        }
    };
    for leg in &legs {
        let detail = catalog
            .segment(&leg.airline, &leg.segment_id)
            .await
            .with_context(|| format!("reading {}/{}", leg.airline, leg.segment_id))?;
        match detail.seats.iter().find(|s| s.seat == leg.seat) {
            Some(s) if s.available => {}
            Some(_) => bail!("{} is already taken; choose a free seat", leg_label(leg)),
            None => bail!("{} is not on the seat map", leg_label(leg)),
        }
    }
    Ok(legs)
}

async fn first_free_seat(catalog: &ApiClient, airline: &AirlineCode, segment: &SegmentId) -> Result<SeatLeg> {
    let detail = catalog.segment(airline, segment).await.with_context(|| format!("reading {airline}/{segment}"))?;
    let seat = free_seats(&detail, 1).pop().with_context(|| format!("{airline}/{segment} has no free seat"))?;
    Ok(SeatLeg { airline: airline.clone(), segment_id: segment.clone(), seat })
}

struct Shot {
    /// Index into the users.
    user: usize,
    result: CallResult<Pass>,
    latency: Duration,
}

/// One booking per user, at the user's server, all released by one barrier so that they reach
/// the servers together instead of in the order the tasks were spawned. Returns the shots and the
/// time from release to the last answer.
async fn fire(servers: &[ApiClient], users: &[User], request: &BookingRequest) -> Result<(Vec<Shot>, Duration)> {
    let gate = Arc::new(Barrier::new(users.len() + 1));
    let request = Arc::new(request.clone());
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let (server, token) = (servers[user.home].clone(), user.token.clone());
            let (gate, request) = (Arc::clone(&gate), Arc::clone(&request));
            tokio::spawn(async move {
                gate.wait().await;
                let started = Instant::now();
                let result = server.book(&token, &request, None).await;
                Shot { user: i, result, latency: started.elapsed() }
            })
        })
        .collect();
    gate.wait().await;
    let released = Instant::now();
    let shots = futures::future::try_join_all(tasks).await.context("a booking task panicked")?;
    Ok((shots, released.elapsed()))
}

/// Runs [`check`] until it passes or [`CHECK_PATIENCE`] is over; returns the last problems.
async fn check_with_patience(
    servers: &[ApiClient],
    users: &[User],
    legs: &[SeatLeg],
    winner: Option<uuid::Uuid>,
) -> Vec<String> {
    let deadline = Instant::now() + CHECK_PATIENCE;
    loop {
        let problems = check(servers, users, legs, winner).await;
        if problems.is_empty() || Instant::now() >= deadline {
            return problems;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// After the race: every leg's seat is unavailable at every server, and exactly one confirmed
/// pass of all the users holds the legs: the one answered with 201.
async fn check(servers: &[ApiClient], users: &[User], legs: &[SeatLeg], winner: Option<uuid::Uuid>) -> Vec<String> {
    let mut problems = Vec::new();
    for leg in legs {
        for server in servers {
            match server.segment(&leg.airline, &leg.segment_id).await {
                Ok(detail) => match detail.seats.iter().find(|s| s.seat == leg.seat) {
                    Some(s) if !s.available => {}
                    Some(_) => problems.push(format!("{} is still available at {}", leg_label(leg), server.label())),
                    None => {
                        problems.push(format!("{} vanished from the seat map at {}", leg_label(leg), server.label()))
                    }
                },
                Err(e) => problems.push(format!("reading {} at {}: {e}", leg_label(leg), server.label())),
            }
        }
    }

    let lists: Vec<(&User, CallResult<Vec<Pass>>)> = futures::stream::iter(users)
        .map(|user| async move { (user, servers[user.home].passes(&user.token).await.map(|l| l.passes)) })
        .buffered(USER_PARALLELISM)
        .collect()
        .await;
    let mut holders: Vec<(&User, Pass)> = Vec::new();
    for (user, list) in lists {
        match list {
            Ok(passes) => holders.extend(
                passes
                    .into_iter()
                    .filter(|p| p.status == PassStatus::Confirmed && legs.iter().any(|leg| holds(p, leg)))
                    .map(|p| (user, p)),
            ),
            Err(e) => {
                problems.push(format!("listing the passes of {} at {}: {e}", user.login, servers[user.home].label()))
            }
        }
    }
    match &holders[..] {
        [(_, pass)] => {
            if let Some(leg) = legs.iter().find(|leg| !holds(pass, leg)) {
                problems.push(format!("pass {} holds some of the legs but not {}", pass.pass_id, leg_label(leg)));
            }
            if winner.is_some_and(|w| w != pass.pass_id) {
                problems.push(format!("the confirmed pass {} is not the one answered with 201", pass.pass_id));
            }
        }
        _ => {
            let ids: Vec<String> = holders.iter().map(|(u, p)| format!("{} of {}", p.pass_id, u.login)).collect();
            problems.push(format!("{} confirmed passes hold the seat(s), not 1: [{}]", holders.len(), ids.join(", ")));
        }
    }
    problems
}

fn holds(pass: &Pass, leg: &SeatLeg) -> bool {
    pass.legs.iter().any(|l| l.airline == leg.airline && l.segment_id == leg.segment_id && l.seat == leg.seat)
}
