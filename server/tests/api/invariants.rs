//! The booking invariants, checked on the databases of a quiet federation of processes: no
//! seat sold twice, every booking all legs sold or none, every 201 present with one status at
//! every airline. Shared by the tests that kill servers under a random workload.

use std::collections::{HashMap, HashSet};

use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use passcom_server::schema::{passes, seats};
use uuid::Uuid;

use crate::helpers::*;

/// (airline, segment, seat)
type Leg = (String, String, String);

/// Every copy of every pass at every airline: pass id → (status, legs) per airline.
async fn all_passes(fed: &ProcessFederation) -> HashMap<Uuid, Vec<(String, Vec<Leg>)>> {
    let mut out: HashMap<Uuid, Vec<(String, Vec<Leg>)>> = HashMap::new();
    for code in AIRLINES {
        let mut conn = fed.db(code).conn().await;
        let rows: Vec<(Uuid, String, serde_json::Value)> =
            passes::table.select((passes::pass_id, passes::status, passes::legs)).load(&mut conn).await.unwrap();
        for (pass_id, status, legs) in rows {
            let legs: Vec<passcom_shared::api::PassLeg> = serde_json::from_value(legs).unwrap();
            let mine = legs
                .into_iter()
                .map(|l| (l.airline.to_string(), l.segment_id.to_string(), l.seat.to_string()))
                .collect();
            out.entry(pass_id).or_default().push((status, mine));
        }
    }
    out
}

/// No seat held, no booking unfinished, nothing left to replicate, at any airline.
pub async fn quiet(fed: &ProcessFederation) -> bool {
    for code in AIRLINES {
        let db = fed.db(code);
        let busy = db.count("SELECT count(*) AS n FROM seats WHERE status = 'held'").await
            + db.count("SELECT count(*) AS n FROM bookings WHERE NOT finished").await
            + db.count("SELECT count(*) AS n FROM outbox").await;
        if busy > 0 {
            return false;
        }
    }
    true
}

/// What breaks an invariant once the federation is quiet; `acknowledged` lists every pass
/// answered 201 and whether its cancellation was answered 200 since.
pub async fn invariant_violations(fed: &ProcessFederation, acknowledged: &[(String, bool)]) -> Vec<String> {
    let passes = all_passes(fed).await;
    let mut violations = Vec::new();
    let mut confirmed_seats: HashMap<Leg, Uuid> = HashMap::new();
    for (pass_id, copies) in &passes {
        let statuses: HashSet<&str> = copies.iter().map(|c| c.0.as_str()).collect();
        if copies.len() != AIRLINES.len() || statuses.len() != 1 {
            violations.push(format!("pass {pass_id} differs between airlines: {copies:?}"));
        }
        if statuses.contains("confirmed") && !statuses.contains("cancelled") {
            for leg in &copies[0].1 {
                if let Some(other) = confirmed_seats.insert(leg.clone(), *pass_id) {
                    violations.push(format!("seat {leg:?} is in passes {other} and {pass_id}"));
                }
                let (status, owner) = seat_state(fed.db(&leg.0), &leg.1, &leg.2).await;
                if status != "sold" || owner != Some(*pass_id) {
                    violations.push(format!("pass {pass_id}: {leg:?} is {status} for {owner:?} at its owner"));
                }
            }
        }
    }
    for code in AIRLINES {
        let mut conn = fed.db(code).conn().await;
        let sold: Vec<(String, String, Option<Uuid>)> = seats::table
            .filter(seats::status.eq("sold"))
            .select((seats::segment_id, seats::seat, seats::booking_id))
            .load(&mut conn)
            .await
            .unwrap();
        for (segment, seat, booking) in sold {
            let leg = (code.to_owned(), segment, seat);
            if confirmed_seats.get(&leg) != booking.as_ref() {
                violations.push(format!("{leg:?} is sold for {booking:?}, which is no confirmed pass"));
            }
        }
    }
    for (pass_id, cancelled) in acknowledged {
        let id: Uuid = pass_id.parse().unwrap();
        match passes.get(&id) {
            None => violations.push(format!("acknowledged pass {pass_id} is lost")),
            Some(copies) => {
                let expected = if *cancelled { "cancelled" } else { "confirmed" };
                if copies.iter().any(|c| c.0 != expected) {
                    violations.push(format!("acknowledged pass {pass_id} should be {expected}: {copies:?}"));
                }
            }
        }
    }
    violations
}
