//! The scale schedule (`passcom-seed --scale`): what a real domestic airline flies, so that search
//! and the benchmark meet the catalog size of production instead of the demo's 500 segments.
//!
//! Each airline gets a daily timetable of 260-320 departures over 24 Brazilian cities (the
//! demo's 10 and 14 more), with hubs, block times from great-circle distance and fares that grow
//! with it. The networks keep the demo's shape, so that Porto Alegre → Recife still needs all
//! three airlines: only b (the south) serves Porto Alegre, only a (the north-east) serves
//! Recife, and only c flies between the south and the rest. Flight numbers start at 1000 so that
//! the scale data and the demo timetable can share a database without sharing a segment id.

use anyhow::{bail, Context};

use crate::{Flight, Timetable};

/// How many days ahead the scale schedule is loaded for.
pub const SCALE_DAYS: u32 = 60;

/// Every city with its airport's latitude and longitude (degrees), for block times and fares.
pub const CITIES: [(&str, f64, f64); 24] = [
    // The demo's ten.
    ("São Paulo", -23.43, -46.47),
    ("Rio de Janeiro", -22.81, -43.25),
    ("Curitiba", -25.53, -49.18),
    ("Recife", -8.13, -34.92),
    ("Salvador", -12.91, -38.33),
    ("Porto Alegre", -29.99, -51.17),
    ("Florianópolis", -27.67, -48.55),
    ("Foz do Iguaçu", -25.60, -54.49),
    ("Belo Horizonte", -19.63, -43.97),
    ("Brasília", -15.87, -47.92),
    // And more.
    ("Londrina", -23.33, -51.14),
    ("Chapecó", -27.13, -52.66),
    ("Joinville", -26.22, -48.80),
    ("Caxias do Sul", -29.20, -51.19),
    ("Campo Grande", -20.47, -54.67),
    ("Campinas", -23.01, -47.13),
    ("Goiânia", -16.63, -49.22),
    ("Cuiabá", -15.65, -56.12),
    ("Vitória", -20.26, -40.29),
    ("Fortaleza", -3.78, -38.53),
    ("Natal", -5.77, -35.37),
    ("Belém", -1.38, -48.48),
    ("Manaus", -3.04, -60.05),
    ("São Luís", -2.59, -44.24),
];

/// A city pair flown both ways, with departures a day in each direction.
type Route = (&'static str, &'static str, u32);

/// Aerosul: the south and Mato Grosso do Sul, hubs Porto Alegre and Curitiba.
const B_ROUTES: &[Route] = &[
    ("Porto Alegre", "Curitiba", 14),
    ("Porto Alegre", "Florianópolis", 10),
    ("Porto Alegre", "Foz do Iguaçu", 6),
    ("Porto Alegre", "Londrina", 6),
    ("Porto Alegre", "Chapecó", 6),
    ("Porto Alegre", "Joinville", 6),
    ("Porto Alegre", "Campo Grande", 5),
    ("Curitiba", "Florianópolis", 9),
    ("Curitiba", "Foz do Iguaçu", 8),
    ("Curitiba", "Londrina", 7),
    ("Curitiba", "Chapecó", 6),
    ("Curitiba", "Caxias do Sul", 6),
    ("Curitiba", "Campo Grande", 6),
    ("Florianópolis", "Foz do Iguaçu", 4),
    ("Florianópolis", "Chapecó", 4),
    ("Florianópolis", "Londrina", 4),
    ("Florianópolis", "Caxias do Sul", 4),
    ("Florianópolis", "Campo Grande", 3),
    ("Londrina", "Foz do Iguaçu", 3),
    ("Londrina", "Campo Grande", 4),
    ("Foz do Iguaçu", "Campo Grande", 3),
    ("Chapecó", "Foz do Iguaçu", 3),
    ("Joinville", "Londrina", 3),
    ("Caxias do Sul", "Foz do Iguaçu", 2),
];

/// Cerrado: the centre-west and south-east, hubs São Paulo, Campinas and Brasília, and the only
/// links between the south and the rest of the country.
const C_ROUTES: &[Route] = &[
    ("São Paulo", "Curitiba", 10),
    ("São Paulo", "Florianópolis", 8),
    ("São Paulo", "Belo Horizonte", 10),
    ("São Paulo", "Brasília", 10),
    ("São Paulo", "Goiânia", 6),
    ("São Paulo", "Cuiabá", 5),
    ("São Paulo", "Vitória", 6),
    ("São Paulo", "Campo Grande", 5),
    ("São Paulo", "Londrina", 5),
    ("São Paulo", "Foz do Iguaçu", 4),
    ("Campinas", "Curitiba", 6),
    ("Campinas", "Florianópolis", 5),
    ("Campinas", "Belo Horizonte", 6),
    ("Campinas", "Brasília", 6),
    ("Campinas", "Goiânia", 4),
    ("Campinas", "Cuiabá", 4),
    ("Campinas", "Vitória", 4),
    ("Campinas", "Campo Grande", 4),
    ("Brasília", "Belo Horizonte", 8),
    ("Brasília", "Cuiabá", 6),
    ("Brasília", "Vitória", 4),
    ("Brasília", "Curitiba", 5),
    ("Brasília", "Florianópolis", 3),
    ("Brasília", "Campo Grande", 3),
    ("Belo Horizonte", "Vitória", 5),
    ("Belo Horizonte", "Goiânia", 4),
    ("Belo Horizonte", "Curitiba", 4),
    ("Belo Horizonte", "Florianópolis", 2),
    ("Goiânia", "Cuiabá", 3),
    ("Cuiabá", "Campo Grande", 3),
];

/// Paulista: the south-east, the north-east and the north, hubs São Paulo, Rio and Recife.
const A_ROUTES: &[Route] = &[
    ("São Paulo", "Rio de Janeiro", 16),
    ("São Paulo", "Salvador", 8),
    ("São Paulo", "Recife", 8),
    ("São Paulo", "Fortaleza", 7),
    ("São Paulo", "Natal", 4),
    ("São Paulo", "Belém", 4),
    ("São Paulo", "Manaus", 4),
    ("São Paulo", "São Luís", 3),
    ("São Paulo", "Belo Horizonte", 6),
    ("São Paulo", "Brasília", 6),
    ("Rio de Janeiro", "Salvador", 6),
    ("Rio de Janeiro", "Recife", 6),
    ("Rio de Janeiro", "Fortaleza", 5),
    ("Rio de Janeiro", "Belo Horizonte", 6),
    ("Rio de Janeiro", "Brasília", 6),
    ("Rio de Janeiro", "Vitória", 5),
    ("Rio de Janeiro", "Manaus", 3),
    ("Rio de Janeiro", "Belém", 3),
    ("Recife", "Salvador", 6),
    ("Recife", "Fortaleza", 6),
    ("Recife", "São Luís", 3),
    ("Recife", "Belém", 4),
    ("Recife", "Manaus", 3),
    ("Recife", "Brasília", 4),
    ("Salvador", "Fortaleza", 4),
    ("Salvador", "Brasília", 4),
    ("Fortaleza", "Belém", 3),
    ("Fortaleza", "São Luís", 3),
    ("Belém", "Manaus", 4),
    ("Brasília", "Manaus", 3),
];

/// The routes of airline `a`, `b` or `c`, with its name and flight-number prefix.
fn network(airline: &str) -> anyhow::Result<(&'static str, &'static str, &'static [Route])> {
    Ok(match airline {
        "a" => ("Paulista Air", "PA", A_ROUTES),
        "b" => ("Aerosul", "PB", B_ROUTES),
        "c" => ("Cerrado Linhas Aereas", "PC", C_ROUTES),
        other => bail!("the scale schedule exists for airlines a, b and c, not `{other}`"),
    })
}

fn coordinates(city: &str) -> anyhow::Result<(f64, f64)> {
    CITIES
        .iter()
        .find(|(name, _, _)| *name == city)
        .map(|(_, lat, lon)| (*lat, *lon))
        .with_context(|| format!("unknown city `{city}`"))
}

/// Great-circle distance in kilometres.
fn distance_km(from: &str, to: &str) -> anyhow::Result<f64> {
    let ((lat1, lon1), (lat2, lon2)) = (coordinates(from)?, coordinates(to)?);
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let (dphi, dlambda) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    Ok(2.0 * 6371.0 * h.sqrt().asin())
}

/// Gate to gate: 35 minutes of taxi, climb and approach, then 750 km/h, to the next 5 minutes.
fn block_minutes(km: f64) -> i64 {
    let minutes = 35.0 + km / 12.5;
    (minutes / 5.0).ceil() as i64 * 5
}

/// A fare like the demo's: grows with distance, ends in ,90.
fn fare(km: f64) -> String {
    let tens = ((150.0 + 0.28 * km) / 10.0).round() as i64;
    format!("{}.90", tens * 10 - 1)
}

/// Departures spread evenly over the day that passengers fly, 06:00-22:30 in Brasília (09:00 to
/// 01:30 UTC), so the last ones of a day depart just after midnight UTC. `seed` staggers routes,
/// so that a hub's banks do not all leave in the same minute.
fn departure_times(per_day: u32, seed: usize) -> Vec<String> {
    const FIRST: u32 = 9 * 60;
    const SPAN: u32 = 16 * 60 + 30;
    let interval = SPAN / per_day.max(1);
    let offset = (seed as u32 * 35) % interval.max(1);
    (0..per_day)
        .map(|k| {
            let minute = (FIRST + offset + k * interval) / 5 * 5 % (24 * 60);
            format!("{:02}:{:02}", minute / 60, minute % 60)
        })
        .collect()
}

/// Airline `airline`'s scale timetable: one flight number per route and direction, each flying
/// every day of [`SCALE_DAYS`] at its listed times.
pub fn scale_timetable(airline: &str) -> anyhow::Result<Timetable> {
    let (name, prefix, routes) = network(airline)?;
    let mut flights = Vec::with_capacity(routes.len() * 2);
    for (n, (from, to, per_day)) in routes.iter().enumerate() {
        let km = distance_km(from, to)?;
        for (direction, (origin, destination)) in [(from, to), (to, from)].into_iter().enumerate() {
            let number = 1000 + n * 2 + direction;
            flights.push(Flight {
                flight_no: format!("{prefix}{number}"),
                origin: (*origin).to_owned(),
                destination: (*destination).to_owned(),
                departures_utc: departure_times(*per_day, number),
                duration_minutes: block_minutes(km),
                price: fare(km),
            });
        }
    }
    Ok(Timetable {
        airline: airline.to_owned(),
        name: name.to_owned(),
        currency: "BRL".to_owned(),
        days: SCALE_DAYS,
        seat_rows: 30,
        seat_letters: "ABCDEF".to_owned(),
        flights,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::*;
    use crate::{departures, Departure};

    const AIRLINES: [&str; 3] = ["a", "b", "c"];

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 5, 1, 13, 17, 0).unwrap()
    }

    fn all_departures() -> Vec<(&'static str, Departure)> {
        AIRLINES
            .iter()
            .flat_map(|code| {
                let timetable = scale_timetable(code).unwrap();
                departures(&timetable, now(), timetable.days).unwrap().into_iter().map(move |d| (*code, d))
            })
            .collect()
    }

    #[test]
    fn every_airline_departs_at_least_250_times_every_day_for_60_days() {
        for code in AIRLINES {
            let timetable = scale_timetable(code).unwrap();
            let deps = departures(&timetable, now(), timetable.days).unwrap();
            let mut per_day: BTreeMap<_, usize> = BTreeMap::new();
            for d in &deps {
                *per_day.entry(d.departs_at.date_naive()).or_default() += 1;
            }
            // Day 0 is today, partly gone; the 60 days after it are whole.
            let whole: Vec<usize> = per_day.values().skip(1).copied().collect();
            assert_eq!(whole.len(), 60, "{code}: {per_day:?}");
            assert!(whole.iter().all(|n| *n >= 250 && *n == whole[0]), "{code}: {whole:?}");
            assert!(deps.iter().all(|d| d.departs_at >= now() + Duration::hours(1)), "{code}: none in the past");
            let ids: HashSet<&str> = deps.iter().map(|d| d.segment_id.as_str()).collect();
            assert_eq!(ids.len(), deps.len(), "{code}: segment ids are unique");
            assert!(deps.iter().all(|d| passcom_shared::SegmentId::parse(&d.segment_id).is_ok()));
        }
    }

    #[test]
    fn cities_keep_the_demo_and_flights_are_plausible() {
        let mut served = BTreeSet::new();
        for (code, d) in all_departures() {
            served.insert(d.origin.clone());
            assert_ne!(d.origin, d.destination);
            let block = (d.arrives_at - d.departs_at).num_minutes();
            let km = distance_km(&d.origin, &d.destination).unwrap();
            assert!(km > 150.0, "{code} {}: too short a hop for a plane", d.flight_no);
            assert!((45..=330).contains(&block), "{code} {}: {block} min", d.flight_no);
            assert!((15_000..=150_000).contains(&d.price_cents), "{code} {}: {}", d.flight_no, d.price_cents);
        }
        assert_eq!(served.len(), CITIES.len(), "every city is served");
        for demo in crate::BUNDLED.iter().flat_map(|(code, _)| Timetable::bundled(code).unwrap().flights) {
            assert!(served.contains(&demo.origin), "the demo's {} is still served", demo.origin);
        }
    }

    #[test]
    fn porto_alegre_to_recife_takes_all_three_airlines() {
        let deps = all_departures();
        let airlines_at = |city: &str| -> BTreeSet<&str> {
            deps.iter().filter(|(_, d)| d.origin == city || d.destination == city).map(|(code, _)| *code).collect()
        };
        assert_eq!(airlines_at("Porto Alegre"), BTreeSet::from(["b"]));
        assert_eq!(airlines_at("Recife"), BTreeSet::from(["a"]));
        let cities_of = |code: &str| -> BTreeSet<&str> {
            deps.iter().filter(|(c, _)| *c == code).map(|(_, d)| d.origin.as_str()).collect()
        };
        assert!(cities_of("a").is_disjoint(&cities_of("b")), "a and b never meet: c links them");

        // Earliest arrival from Porto Alegre, leaving on day 1 after 09:00 UTC, with connections
        // of at least 30 minutes: Recife is reached that day or the next, on three airlines.
        let start = (now() + Duration::days(1)).date_naive().and_hms_opt(9, 0, 0).unwrap().and_utc();
        let mut sorted: Vec<&(&str, Departure)> = deps.iter().filter(|(_, d)| d.departs_at >= start).collect();
        sorted.sort_by_key(|(_, d)| d.departs_at);
        let mut reached: BTreeMap<&str, (DateTime<Utc>, BTreeSet<&str>)> = BTreeMap::new();
        reached.insert("Porto Alegre", (start - Duration::minutes(30), BTreeSet::new()));
        for (code, d) in sorted {
            let Some((ready, carriers)) = reached.get(d.origin.as_str()).cloned() else { continue };
            if d.departs_at < ready + Duration::minutes(30) {
                continue;
            }
            let better = reached.get(d.destination.as_str()).is_none_or(|(at, _)| d.arrives_at < *at);
            if better {
                let mut carriers = carriers;
                carriers.insert(code);
                reached.insert(d.destination.as_str(), (d.arrives_at, carriers));
            }
        }
        let (arrival, carriers) = reached.get("Recife").expect("Recife is reachable");
        assert!(*arrival < start + Duration::days(2), "reached at {arrival}");
        assert_eq!(*carriers, BTreeSet::from(["a", "b", "c"]));
        assert_eq!(reached.len(), CITIES.len(), "every city is reachable from Porto Alegre");
    }

    #[test]
    fn times_are_spread_and_distinct() {
        let times = departure_times(16, 1000);
        assert_eq!(times.len(), 16);
        assert_eq!(times.iter().collect::<HashSet<_>>().len(), 16);
        assert!(times.iter().all(|t| t.as_str() >= "09:00" || t.as_str() <= "01:30"), "{times:?}");
        assert_eq!(block_minutes(360.0), 65);
        assert_eq!(fare(360.0), "249.90");
    }
}
