//! What the benchmark reads of the processes, from /proc: where a row's CPU time went, each
//! server's CPU while idle, its memory, and a watchdog that kills a server whose memory runs
//! away (one search on today's code can take a server past 11 GB, on a machine others share).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The servers of `scripts/federation`, found through its pid files, read afresh on every use:
/// a server brought back after a kill has a new pid.
#[derive(Debug, Clone)]
pub struct ServerPids {
    dir: Option<PathBuf>,
}

impl ServerPids {
    /// `dir` holds `server-{code}.pid`; without it no process is measured.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    pub fn pid(&self, code: &str) -> Option<u32> {
        let path = self.dir.as_ref()?.join(format!("server-{code}.pid"));
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }
}

/// Clock ticks per second of the times in /proc (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a `/proc/PID/stat` line, in seconds, and the program's name.
fn parse_stat(stat: &str) -> Option<(&str, f64)> {
    // `pid (comm) state ppid …`: comm may hold spaces, so split at the last parenthesis.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields of the whole line, in clock ticks.
    let ticks: f64 = fields.get(11..13)?.iter().filter_map(|v| v.parse::<f64>().ok()).sum();
    Some((&stat[open + 1..close], ticks / TICKS_PER_SECOND))
}

/// CPU seconds used so far by one process.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, seconds)| seconds)
}

/// CPU seconds used so far by each process of the programs that matter (`postgres`,
/// `passcom-server`, `redis-server`, `bench`), keyed by program and pid: where the time of a
/// row went, measured rather than guessed.
pub fn cpu_by_process() -> HashMap<(String, u32), f64> {
    let mut totals = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return totals };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((comm, seconds)) = parse_stat(&stat) else { continue };
        let program = match comm {
            c if c.starts_with("postgres") => "postgres",
            c if c.starts_with("passcom-server") => "passcom-server",
            c if c.starts_with("redis-server") => "redis-server",
            c if c.starts_with("bench") => "bench",
            _ => continue,
        };
        totals.insert((program.to_owned(), pid), seconds);
    }
    totals
}

/// `postgres 48%, passcom-server 38%, …` of the CPU time used between two snapshots, process
/// by process (one that exited in between, like a killed server, counts for nothing).
pub fn cpu_shares(before: &HashMap<(String, u32), f64>, after: &HashMap<(String, u32), f64>) -> String {
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

/// CPU seconds the whole machine has been busy (user, nice, system, irq, softirq of every
/// core, from /proc/stat): what a row costs including processes that come and go, such as
/// pgbench's backends.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> =
        stat.lines().next()?.split_whitespace().skip(1).map(|v| v.parse::<f64>().unwrap_or(0.0)).collect();
    // user nice system idle iowait irq softirq …, in clock ticks.
    let busy = [0, 1, 2, 5, 6].iter().filter_map(|i| fields.get(*i)).sum::<f64>();
    Some(busy / TICKS_PER_SECOND)
}

/// `6.8 ms of CPU each`: the machine's busy time between two readings per operation, a view of
/// a row's cost less tied than its throughput to how fast the machine was during it.
pub fn cpu_each(before: Option<f64>, after: Option<f64>, operations: usize) -> String {
    match (before, after) {
        (Some(before), Some(after)) if operations > 0 => {
            format!("{:.2} ms of CPU each", (after - before) * 1000.0 / operations as f64)
        }
        _ => "CPU each unknown".into(),
    }
}

/// Resident memory now (VmRSS) and at its peak (VmHWM), in MB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_mb: u64,
    pub peak_mb: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mb = |field: &str| -> Option<u64> {
        let kb: u64 = status.lines().find_map(|l| l.strip_prefix(field))?.split_whitespace().next()?.parse().ok()?;
        Some(kb / 1024)
    };
    Some(Memory { rss_mb: mb("VmRSS:")?, peak_mb: mb("VmHWM:")? })
}

#[derive(Debug, Default)]
struct Watched {
    /// The most resident memory seen of each airline's server, whatever its pid.
    max_rss_mb: HashMap<String, u64>,
    /// Kills not yet reported: (airline, MB at the kill).
    kills: Vec<(String, u64)>,
}

/// Samples every server's memory ten times a second for the whole run, and SIGKILLs one that
/// passes `limit_mb`.
#[derive(Clone)]
pub struct Watchdog {
    watched: Arc<Mutex<Watched>>,
}

impl Watchdog {
    pub fn start(pids: ServerPids, airlines: Vec<String>, limit_mb: u64) -> Self {
        let watched = Arc::new(Mutex::new(Watched::default()));
        let shared = watched.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                for code in &airlines {
                    let Some((pid, now)) = pids.pid(code).and_then(|pid| Some((pid, memory(pid)?))) else { continue };
                    let killed = now.rss_mb > limit_mb
                        && std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().is_ok();
                    let Ok(mut w) = shared.lock() else { return };
                    let max = w.max_rss_mb.entry(code.clone()).or_default();
                    *max = (*max).max(now.rss_mb);
                    if killed {
                        w.kills.push((code.clone(), now.rss_mb));
                    }
                }
            }
        });
        Self { watched }
    }

    /// The kills since the last call, as `airline a killed at 3100 MB`.
    pub fn take_kills(&self) -> Vec<String> {
        let Ok(mut w) = self.watched.lock() else { return Vec::new() };
        w.kills.drain(..).map(|(code, mb)| format!("watchdog killed {code} at {mb} MB RSS")).collect()
    }

    /// `a 57 MB, b 61 MB, c 40 MB`: the most memory each server held at any sample.
    pub fn max_rss(&self) -> String {
        let Ok(w) = self.watched.lock() else { return String::new() };
        let mut seen: Vec<_> = w.max_rss_mb.iter().map(|(code, mb)| format!("{code} {mb} MB")).collect();
        seen.sort();
        seen.join(", ")
    }
}

/// Waits until every server is at rest (under half a core, and its memory not growing by more
/// than 20 MB, over two seconds), for at most `patience`, and SIGKILLs the servers still busy
/// then: on code that goes on computing after its client left, a search can grow a server by
/// gigabytes a minute once no one watches it. Returns what it had to kill, as `a still busy
/// 30 s after the last request: killed`.
pub async fn settle(pids: &ServerPids, airlines: &[&str], patience: Duration) -> Vec<String> {
    let window = Duration::from_secs(2);
    let started = std::time::Instant::now();
    loop {
        let sample = |code: &str| -> Option<(u32, f64, u64)> {
            let pid = pids.pid(code)?;
            Some((pid, cpu_seconds(pid)?, memory(pid)?.rss_mb))
        };
        let before: Vec<Option<(u32, f64, u64)>> = airlines.iter().map(|code| sample(code)).collect();
        tokio::time::sleep(window).await;
        let busy: Vec<(&str, u32)> = airlines
            .iter()
            .zip(before)
            .filter_map(|(code, before)| {
                let ((pid, cpu_before, rss_before), (_, cpu_after, rss_after)) = (before?, sample(code)?);
                let busy = cpu_after - cpu_before > 0.5 * window.as_secs_f64() || rss_after > rss_before + 20;
                busy.then_some((*code, pid))
            })
            .collect();
        if busy.is_empty() {
            return Vec::new();
        }
        if started.elapsed() >= patience {
            return busy
                .into_iter()
                .filter(|(_, pid)| std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().is_ok())
                .map(|(code, _)| format!("{code} still busy {} s after the last request: killed", patience.as_secs()))
                .collect();
        }
    }
}
