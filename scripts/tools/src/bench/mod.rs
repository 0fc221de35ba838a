//! The benchmark's parts that are not rows of their own: the table it prints, the loop that
//! drives concurrent clients, and what it reads of the processes from /proc. The rows on the
//! scale data live in [`scale`], the database's limit in [`pgbench`].

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::stats::{ms, percentile, Outcome, Tally};

pub mod pgbench;
pub mod procfs;
pub mod scale;

/// One line of the table.
pub struct Row {
    pub name: String,
    /// Requests (or transactions) per second that succeeded; none for rows that measure no load.
    pub throughput: Option<f64>,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub errors: usize,
    pub note: String,
}

impl Row {
    /// The row of a [`drive`]: the note gets what went wrong, when something did.
    pub fn measured(name: &str, m: &Measured, note: String) -> Self {
        let mut sorted = m.latencies.clone();
        sorted.sort_unstable();
        let (errors, kinds) = m.tally.breakdown(|o| *o != Outcome::Success);
        let note = if errors == 0 { note } else { format!("{note}; errors: {kinds}") };
        Row {
            name: name.to_owned(),
            throughput: Some(m.tally.successes() as f64 / m.elapsed.as_secs_f64()),
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            errors,
            note,
        }
    }

    /// A row that reports a state rather than a load (idle CPU, memory).
    pub fn observed(name: String, note: String) -> Self {
        Row { name, throughput: None, p50: None, p99: None, errors: 0, note }
    }
}

pub fn print_table(rows: &[Row]) {
    println!("\n| row | throughput /s | p50 | p99 | errors | notes |");
    println!("|---|---:|---:|---:|---:|---|");
    let show = |d: Option<Duration>| d.map(ms).unwrap_or_else(|| "-".into());
    for r in rows {
        let throughput = r.throughput.map_or_else(|| "-".into(), |t| format!("{t:.0}"));
        println!("| {} | {throughput} | {} | {} | {} | {} |", r.name, show(r.p50), show(r.p99), r.errors, r.note);
    }
}

/// What `clients` concurrent loops did for `duration`.
pub struct Measured {
    pub latencies: Vec<Duration>,
    pub tally: Tally,
    pub elapsed: Duration,
}

impl Measured {
    pub fn max_latency(&self) -> Option<Duration> {
        self.latencies.iter().max().copied()
    }
}

/// Runs `clients` loops for `duration`; each iteration calls `work(client, n)` with a distinct
/// `n < items` (so that no two requests want the same seat) until time or items run out.
pub async fn drive<F, Fut>(clients: usize, duration: Duration, items: usize, work: F) -> Measured
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
