//! The database's limit: pgbench running the bare SQL of a booking on the same PostgreSQL, so
//! that the booking rows can be read as a fraction of it.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::procfs::{cpu_each, machine_busy_seconds};
use super::Row;
use crate::stats::Latencies;

/// The database's own limit: pgbench running the bare SQL of a booking.
pub fn pgbench(url: &str, clients: usize, seconds: u64) -> Result<Row> {
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
    let busy_before = machine_busy_seconds();
    let output = Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg("--log")
        .arg(format!("--log-prefix={}", dir.join("log").display()))
        .arg(url)
        .current_dir(&dir)
        .output()
        .context("running pgbench (apt-get install postgresql-contrib or postgresql-client)")?;
    let busy_after = machine_busy_seconds();
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
        throughput: Some(tps),
        p50: latencies.percentile(50.0),
        p99: latencies.percentile(99.0),
        errors: failed,
        note: format!("{} transactions, {}", latencies.len(), cpu_each(busy_before, busy_after, latencies.len())),
    })
}
