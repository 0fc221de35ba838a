//! `--fault KIND`: one fault injected into a `scripts/federation up` federation while the random
//! load runs, and undone after a while. The processes are found through the pid files the
//! federation script keeps under `.federation/`, and whatever was stopped is brought back by
//! `scripts/federation up`, which starts only what does not run (with the same environment:
//! `PASSCOM_FEDERATION`, `PASSCOM_PORTS`, `PASSCOM_BUILD`, `PASSCOM_REPLICAS`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use passcom_tools::args::Args;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// SIGKILL a server, then start it again.
    KillServer,
    /// SIGSTOP a server, then SIGCONT.
    PauseServer,
    /// SIGKILL Redis, then start it again.
    RedisRestart,
    /// A fast shutdown of PostgreSQL (sessions terminated, connections refused), then a start.
    PostgresRestart,
}

pub struct Fault {
    kind: Kind,
    /// The server it hits (`a`, `b`, `c`, or a replica `a1`, `a2`).
    target: String,
    after: Duration,
    lasting: Duration,
    state: PathBuf,
    /// `NAME-` for `PASSCOM_FEDERATION=NAME`, nothing for the default federation.
    files: String,
}

impl Fault {
    /// `None` without `--fault`.
    pub fn from_args(args: &mut Args) -> Result<Option<Self>> {
        let Some(kind) = args.get::<String>("--fault")? else {
            for flag in ["--fault-target", "--fault-at", "--fault-for"] {
                if args.get::<String>(flag)?.is_some() {
                    bail!("{flag} needs --fault");
                }
            }
            return Ok(None);
        };
        let (kind, default_target) = match kind.as_str() {
            "kill-coordinator" => (Kind::KillServer, "a"),
            "kill-participant" => (Kind::KillServer, "b"),
            "pause-participant" => (Kind::PauseServer, "b"),
            "pause-coordinator" => (Kind::PauseServer, "a"),
            "redis-restart" => (Kind::RedisRestart, ""),
            "postgres-restart" => (Kind::PostgresRestart, ""),
            other => bail!(
                "unknown --fault `{other}` (kill-coordinator, kill-participant, pause-coordinator, \
                 pause-participant, redis-restart, postgres-restart)"
            ),
        };
        let federation = std::env::var("PASSCOM_FEDERATION").unwrap_or_else(|_| "passcom".into());
        Ok(Some(Fault {
            kind,
            target: args.get_or("--fault-target", default_target.to_owned())?,
            after: Duration::from_secs_f64(args.get_or("--fault-at", 1.0)?),
            lasting: Duration::from_secs_f64(args.get_or("--fault-for", 3.0)?),
            state: PathBuf::from(".federation"),
            files: if federation == "passcom" { String::new() } else { format!("{federation}-") },
        }))
    }

    pub fn describe(&self) -> String {
        let what = match self.kind {
            Kind::KillServer => format!("SIGKILL server {}, then scripts/federation up", self.target),
            Kind::PauseServer => format!("SIGSTOP server {}, then SIGCONT", self.target),
            Kind::RedisRestart => "SIGKILL Redis, then scripts/federation up".to_owned(),
            Kind::PostgresRestart => "PostgreSQL fast shutdown, then scripts/federation up".to_owned(),
        };
        format!("{what}: {:.1} s into the load, for {:.1} s", self.after.as_secs_f64(), self.lasting.as_secs_f64())
    }

    /// Checks that the pid file is there before the load starts, so a typo costs nothing.
    pub fn check(&self) -> Result<()> {
        self.pid().map(drop)
    }

    /// Waits, injects the fault, waits, undoes it; returns what happened, for the report.
    pub async fn run(&self) -> Result<String> {
        tokio::time::sleep(self.after).await;
        let pid = self.pid()?;
        let signal = match self.kind {
            Kind::KillServer | Kind::RedisRestart => "-KILL",
            Kind::PauseServer => "-STOP",
            // PostgreSQL's fast shutdown.
            Kind::PostgresRestart => "-INT",
        };
        signal_process(signal, pid)?;
        let injected = Instant::now();
        tokio::time::sleep(self.lasting).await;
        let undone = Instant::now();
        if self.kind == Kind::PauseServer {
            signal_process("-CONT", pid)?;
        } else {
            federation_up().await?;
        }
        Ok(format!(
            "fault: injected, undone {:.1} s later, back in {:.1} s",
            (undone - injected).as_secs_f64(),
            undone.elapsed().as_secs_f64()
        ))
    }

    fn pid(&self) -> Result<u32> {
        let file = match self.kind {
            Kind::KillServer | Kind::PauseServer => {
                self.state.join(format!("{}server-{}.pid", self.files, self.target))
            }
            Kind::RedisRestart => self.state.join("redis.pid"),
            Kind::PostgresRestart => self.state.join("pg/postmaster.pid"),
        };
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!("reading {} (run from the repository, against `scripts/federation up`)", file.display())
        })?;
        let first = text.lines().next().unwrap_or_default().trim();
        first.parse().with_context(|| format!("{} holds no pid", file.display()))
    }
}

fn signal_process(signal: &str, pid: u32) -> Result<()> {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().context("running kill")?;
    if !status.success() {
        bail!("kill {signal} {pid} failed");
    }
    Ok(())
}

/// `scripts/federation up` without a build: it starts whatever is not running.
async fn federation_up() -> Result<()> {
    let out = tokio::process::Command::new("scripts/federation")
        .arg("up")
        .env("PASSCOM_SKIP_BUILD", "1")
        .output()
        .await
        .context("running scripts/federation up")?;
    if !out.status.success() {
        bail!("scripts/federation up failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
