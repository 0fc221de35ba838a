//! `passcom-seed --database-url URL --airline a [--file seed/a.json] [--days N]`
//! Loads an airline's demo timetable into its (already migrated) database.
//! `--bench RUN [--bench-segments N]` loads the benchmark's segments for run RUN instead.
//! `--scale [--days N]` loads the scale schedule (250+ departures a day for 60 days) instead.
//! `--legacy` loads the original PassCom's six segments and demo accounts instead.

use std::time::Instant;

use anyhow::{bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passcom_seed::legacy::load_legacy;
use passcom_seed::scale::scale_timetable;
use passcom_seed::{bench_departures, load, load_timetable, Timetable, BENCH_SEAT_LETTERS, BENCH_SEAT_ROWS};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut database_url = std::env::var("DATABASE_URL").ok();
    let mut airline = std::env::var("PASSCOM_AIRLINE").ok();
    let mut file = None;
    let mut days = None;
    let mut bench: Option<u64> = None;
    let mut bench_segments = 4;
    let mut scale = false;
    let mut legacy = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--database-url" => database_url = Some(value()?),
            "--airline" => airline = Some(value()?),
            "--file" => file = Some(value()?),
            "--days" => days = Some(value()?.parse::<u32>().context("--days")?),
            "--bench" => bench = Some(value()?.parse().context("--bench")?),
            "--legacy" => legacy = true,
            "--bench-segments" => bench_segments = value()?.parse().context("--bench-segments")?,
            "--scale" => scale = true,
            "-h" | "--help" => {
                println!("usage: passcom-seed --database-url URL --airline CODE [--file PATH | --scale] [--days N]");
                println!("       passcom-seed --database-url URL --airline CODE --bench RUN [--bench-segments N]");
                println!("       passcom-seed --database-url URL --airline CODE --legacy");
                return Ok(());
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    let database_url = database_url.context("--database-url (or DATABASE_URL) is required")?;
    let airline = airline.context("--airline (or PASSCOM_AIRLINE) is required")?;
    if legacy {
        let mut conn = AsyncPgConnection::establish(&database_url).await.context("connecting to the database")?;
        load_legacy(&mut conn, &airline, chrono::Utc::now()).await?;
        println!("airline {airline}: the original PassCom's segments 1 and 2 and its demo accounts");
        return Ok(());
    }
    if let Some(run) = bench {
        let departures = bench_departures(&airline, run, bench_segments, chrono::Utc::now())?;
        let mut conn = AsyncPgConnection::establish(&database_url).await.context("connecting to the database")?;
        // Earlier runs' segments go: each run starts from the same catalog size.
        diesel::sql_query("DELETE FROM segments WHERE segment_id LIKE 'BENCH%'").execute(&mut conn).await?;
        let loaded = load(&mut conn, &departures, "BRL", BENCH_SEAT_ROWS, BENCH_SEAT_LETTERS).await?;
        println!("airline {airline}: benchmark run {run}: {} segments, {} seats", loaded.segments, loaded.seats);
        return Ok(());
    }
    let mut timetable = match (file, scale) {
        (Some(_), true) => bail!("--file and --scale are two different timetables: pick one"),
        (Some(path), false) => {
            Timetable::parse(&std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?)?
        }
        (None, true) => scale_timetable(&airline)?,
        (None, false) => Timetable::bundled(&airline)
            .with_context(|| format!("no bundled timetable for airline `{airline}`; pass --file"))?,
    };
    if timetable.airline != airline {
        bail!("the timetable is airline `{}`'s, not `{airline}`'s", timetable.airline);
    }
    if let Some(days) = days {
        timetable.days = days;
    }
    let mut conn = AsyncPgConnection::establish(&database_url).await.context("connecting to the database")?;
    let started = Instant::now();
    let loaded = load_timetable(&mut conn, &timetable, chrono::Utc::now()).await?;
    let daily: usize = timetable.flights.iter().map(|f| f.departures_utc.len()).sum();
    println!(
        "airline {airline} ({}): {} new segments, {} new seats over {} days ({daily} departures a day) in {:.1} s",
        timetable.name,
        loaded.segments,
        loaded.seats,
        timetable.days,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
