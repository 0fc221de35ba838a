//! Rows on the scale data (`passcom-seed --scale`): routes by date, one long route search at a
//! time, segments page by page, each server at rest, and a party booking.
//!
//! With `old_api`, the rows send only what the API before issue 10 knows (routes without `date`,
//! segments without `limit` and `cursor`), which that API refuses as unknown parameters: these
//! are the "before" figures of the same questions a passenger asks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{Days, Utc};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use super::procfs::{cpu_by_process, cpu_seconds, cpu_shares, memory, ServerPids};
use super::{drive, Row};
use crate::client::{outcome, ApiClient};
use crate::stats::{ms, percentile, Outcome};

/// City pairs of the scale network, from the demo's Porto Alegre → Recife (three airlines) to
/// pairs one airline flies direct.
pub const PAIRS: [(&str, &str); 8] = [
    ("Porto Alegre", "Recife"),
    ("São Paulo", "Manaus"),
    ("Curitiba", "Fortaleza"),
    ("Chapecó", "Natal"),
    ("Rio de Janeiro", "Campo Grande"),
    ("Brasília", "Porto Alegre"),
    ("Belém", "Florianópolis"),
    ("Foz do Iguaçu", "Salvador"),
];

/// The days ahead route questions depart on: tomorrow to the 59th day.
const DAYS: usize = 59;

/// How many different route questions there are: every pair on every day.
const QUESTIONS: usize = PAIRS.len() * DAYS;

/// The `n`-th route question: the pairs in turn, each on a day spread over the coming 60.
fn route_query(n: usize, max_legs: Option<usize>, old_api: bool) -> Vec<(&'static str, String)> {
    let (origin, destination) = PAIRS[n % PAIRS.len()];
    let mut query = vec![("origin", origin.to_owned()), ("destination", destination.to_owned())];
    if !old_api {
        let day = 1 + (n / PAIRS.len() * 7 + n) % DAYS;
        let date = Utc::now().date_naive() + Days::new(day as u64);
        query.push(("date", date.format("%Y-%m-%d").to_string()));
    }
    if let Some(max_legs) = max_legs {
        query.push(("max_legs", max_legs.to_string()));
    }
    query
}

async fn ask_route(server: &ApiClient, query: &[(&'static str, String)]) -> Outcome {
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    outcome(&server.get_undecoded("/api/v1/routes", &query).await)
}

/// `clients` passengers spread over `servers` ask for routes by date, once every server has
/// been asked every question: the row measures a federation in use, not its first minute. The
/// first pass (each server fetching every day from every airline for the first time) is timed
/// apart, in the note.
pub async fn routes_by_date(servers: &[ApiClient], clients: usize, duration: Duration, old_api: bool) -> Row {
    let mut first = drive(clients, Duration::from_secs(24 * 3600), QUESTIONS * servers.len(), |_, n| {
        let server = servers[n % servers.len()].clone();
        async move { ask_route(&server, &route_query(n / servers.len(), None, old_api)).await }
    })
    .await;
    first.latencies.sort_unstable();
    let cpu_before = cpu_by_process();
    let measured = drive(clients, duration, usize::MAX, |client, n| {
        let server = servers[client % servers.len()].clone();
        async move { ask_route(&server, &route_query(n, None, old_api)).await }
    })
    .await;
    let name = format!("routes by date: {} city pairs over 60 days", PAIRS.len());
    let note = format!(
        "{}; before it, a first pass asking each of the {QUESTIONS} questions at every server: {:.1} s, p99 {}, max {}",
        cpu_shares(&cpu_before, &cpu_by_process()),
        first.elapsed.as_secs_f64(),
        ms(percentile(&first.latencies, 99.0).unwrap_or_default()),
        ms(first.max_latency().unwrap_or_default()),
    );
    Row::measured(&name, &measured, note)
}

/// `queries` route searches with `max_legs=6`, one at a time, over every server in turn.
pub async fn routes_max6(servers: &[ApiClient], queries: usize, old_api: bool) -> Row {
    let measured = drive(1, Duration::from_secs(24 * 3600), queries, |_, n| {
        let server = servers[n % servers.len()].clone();
        async move { ask_route(&server, &route_query(n, Some(6), old_api)).await }
    })
    .await;
    let max = measured.max_latency().map(ms).unwrap_or_else(|| "-".into());
    let note = format!("max {max} over {} queries, one at a time", measured.latencies.len());
    Row::measured("routes with max_legs=6, one at a time", &measured, note)
}

#[derive(Default)]
struct PageCounts {
    pages: AtomicUsize,
    segments: AtomicUsize,
    /// Walks that reached the last page.
    walks: AtomicUsize,
    bytes: AtomicUsize,
}

#[derive(Deserialize)]
struct Page {
    segments: Vec<IgnoredAny>,
    next_cursor: Option<String>,
}

/// `clients` passengers each walk every segment, 100 a page, following `next_cursor`, and
/// start again at the end.
pub async fn segments_pages(servers: &[ApiClient], clients: usize, duration: Duration, old_api: bool) -> Row {
    let cursors: Vec<Mutex<Option<String>>> = (0..clients).map(|_| Mutex::new(None)).collect();
    let counts = &PageCounts::default();
    let cpu_before = cpu_by_process();
    let measured = drive(clients, duration, usize::MAX, |client, _| {
        let server = servers[client % servers.len()].clone();
        let cursor = &cursors[client];
        async move {
            let mut query = vec![("limit", "100".to_owned())];
            query.extend(cursor.lock().ok().and_then(|c| c.clone()).map(|c| ("cursor", c)));
            if old_api {
                query.clear();
            }
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let result = server.get_decoded::<Page>("/api/v1/segments", &query).await;
            if let Ok((page, size)) = &result {
                counts.pages.fetch_add(1, Ordering::Relaxed);
                counts.segments.fetch_add(page.segments.len(), Ordering::Relaxed);
                counts.bytes.fetch_add(*size, Ordering::Relaxed);
                if page.next_cursor.is_none() {
                    counts.walks.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut c) = cursor.lock() {
                    c.clone_from(&page.next_cursor);
                }
            }
            outcome(&result)
        }
    })
    .await;
    let [pages, segments, walks, bytes] =
        [&counts.pages, &counts.segments, &counts.walks, &counts.bytes].map(|c| c.load(Ordering::Relaxed));
    let note = format!(
        "{pages} pages, {} segments and {} KB a page, {walks} walks to the end; {}",
        segments / pages.max(1),
        bytes / pages.max(1) / 1024,
        cpu_shares(&cpu_before, &cpu_by_process())
    );
    Row::measured("segments page by page (limit=100, next_cursor)", &measured, note)
}

/// Each server at rest: CPU over `duration` with no load, and its memory.
pub async fn idle(pids: &ServerPids, airlines: &[&str], duration: Duration) -> Vec<Row> {
    // Let the answers of the last row drain before calling it rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<Option<f64>> = airlines.iter().map(|code| cpu_seconds(pids.pid(code)?)).collect();
    tokio::time::sleep(duration).await;
    airlines
        .iter()
        .zip(before)
        .map(|(code, before)| {
            let name = format!("idle: airline {code}, {} s without load", duration.as_secs());
            let pid = pids.pid(code);
            let cpu = before.zip(pid.and_then(cpu_seconds)).map(|(b, a)| (a - b) / duration.as_secs_f64() * 100.0);
            let note = match (cpu, pid.and_then(memory)) {
                (Some(cpu), Some(m)) => {
                    format!("CPU {cpu:.1}% of a core; RSS {} MB (VmRSS), peak {} MB (VmHWM)", m.rss_mb, m.peak_mb)
                }
                _ => "not measured: no running server (see --pid-dir)".to_owned(),
            };
            Row::observed(name, note)
        })
        .collect()
}

/// A party of four on each chain of legs, four seats a leg, every seat used once.
pub fn party_bookings(chains: &[Vec<(AirlineCode, SegmentId)>], seats: &[SeatCode]) -> Vec<Value> {
    let passengers: Vec<Value> = (1..=4).map(|n| json!({ "name": format!("P{n}") })).collect();
    chains
        .iter()
        .flat_map(|chain| {
            seats.chunks_exact(4).map(|four| {
                let legs: Vec<Value> = chain
                    .iter()
                    .map(|(airline, segment_id)| json!({ "airline": airline, "segment_id": segment_id, "seats": four }))
                    .collect();
                json!({ "passengers": passengers, "legs": legs })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn route_questions_cover_the_pairs_and_the_60_days() {
        let days: HashSet<String> = (0..QUESTIONS).map(|n| route_query(n, None, false)[2].1.clone()).collect();
        assert!(days.len() >= 55, "{} distinct days", days.len());
        let first = Utc::now().date_naive() + Days::new(1);
        let last = Utc::now().date_naive() + Days::new(DAYS as u64);
        assert!(days.iter().all(|d| *d >= first.to_string() && *d <= last.to_string()));
        assert_eq!(route_query(9, Some(6), true).len(), 3, "the old API gets no date");
    }

    #[test]
    fn parties_take_four_distinct_seats_on_every_leg() {
        let chain: Vec<(AirlineCode, SegmentId)> = ["a", "b", "c"]
            .iter()
            .map(|code| (AirlineCode::parse(code).unwrap(), SegmentId::parse(&format!("BENCH1-{code}0")).unwrap()))
            .collect();
        let seats: Vec<SeatCode> = ["1A", "1B", "1C", "1D", "1E", "1F", "2A", "2B", "2C"]
            .iter()
            .map(|s| SeatCode::parse(s).unwrap())
            .collect();
        let bookings = party_bookings(&[chain], &seats);
        assert_eq!(bookings.len(), 2, "the ninth seat makes no party");
        assert_eq!(
            bookings[1]["legs"][2],
            json!({ "airline": "c", "segment_id": "BENCH1-c0", "seats": ["1E", "1F", "2A", "2B"] })
        );
        assert_eq!(bookings[0]["passengers"].as_array().unwrap().len(), 4);
    }
}
