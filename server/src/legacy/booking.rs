//! `POST /reservar` and the passes of the original API, over our own booking, pass and
//! cancellation code: integer ids become our segment ids and seats (asked of each leg's airline),
//! and the booking is one `coordinator::book`, with every guarantee it gives.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use passcom_shared::api::{BookingRequest, Pass, PassStatus, SeatLeg};
use passcom_shared::internal::{LegacyLookup, LegacySegment};
use passcom_shared::{AirlineCode, Code, MAX_LEGS};
use uuid::Uuid;

use super::catalog::{lookup_at, lookup_each, unknown_company};
use super::error::{LegacyError, LegacyResult};
use super::wire::{AssentoDaPassagem, Passagem, TrechoDaPassagem, TrechoPedido, TrechoReservado};
use crate::app::AppState;
use crate::auth::Passenger;
use crate::booking::{cancel, coordinator};
use crate::error::ApiError;
use crate::passes;

/// Books the requested seats for `user_id`, all or none.
pub async fn reserve(state: &AppState, request_id: &str, user_id: Uuid, trechos: &[TrechoPedido]) -> LegacyResult<()> {
    if trechos.is_empty() || trechos.len() > MAX_LEGS {
        return Err(LegacyError::new(
            Code::InvalidItinerary,
            format!("Escolha de 1 a {MAX_LEGS} trechos"),
            format!("an itinerary has 1 to {MAX_LEGS} legs, not {}", trechos.len()),
        ));
    }
    let mut by_airline: BTreeMap<AirlineCode, LegacyLookup> = BTreeMap::new();
    let mut companies = Vec::with_capacity(trechos.len());
    for trecho in trechos {
        let airline = AirlineCode::parse(&trecho.company)
            .ok()
            .filter(|a| state.federation.knows(a))
            .ok_or_else(|| unknown_company(&trecho.company))?;
        let lookup =
            by_airline.entry(airline.clone()).or_insert(LegacyLookup { all_seats: true, ..Default::default() });
        lookup.legacy_ids.get_or_insert_with(Vec::new).push(trecho.id_trecho);
        companies.push(airline);
    }
    // Every airline at once; any that cannot say what its ids name fails the whole booking.
    let found = join_all(by_airline.into_iter().map(|(airline, lookup)| async move {
        lookup_at(state, request_id, &airline, &lookup).await.map(|segments| (airline, segments))
    }))
    .await;
    let segments: BTreeMap<AirlineCode, Vec<LegacySegment>> = found.into_iter().collect::<LegacyResult<_>>()?;
    let mut legs: Vec<(DateTime<Utc>, SeatLeg)> = trechos
        .iter()
        .zip(companies)
        .map(|(trecho, airline)| resolve(&segments[&airline], trecho, airline))
        .collect::<LegacyResult<_>>()?;
    // The original took legs in any order; ours must chain, so they go in order of departure.
    legs.sort_by_key(|(departs_at, _)| *departs_at);
    let legs: Vec<SeatLeg> = legs.into_iter().map(|(_, leg)| leg).collect();
    let request = BookingRequest::one_seat_each(&legs);
    coordinator::book(state, user_id, request_id, request, None).await?;
    Ok(())
}

fn resolve(
    segments: &[LegacySegment],
    trecho: &TrechoPedido,
    airline: AirlineCode,
) -> LegacyResult<(DateTime<Utc>, SeatLeg)> {
    let segment = segments.iter().find(|s| s.legacy_id == trecho.id_trecho).ok_or_else(|| {
        LegacyError::not_found(format!("Trecho {} não encontrado na companhia {airline}", trecho.id_trecho))
    })?;
    let seat = segment.seats.iter().find(|s| s.legacy_id == trecho.id_assento).ok_or_else(|| {
        LegacyError::not_found(format!(
            "Assento {} não encontrado no trecho {} da companhia {airline}",
            trecho.id_assento, trecho.id_trecho
        ))
    })?;
    let leg = SeatLeg { airline, segment_id: segment.segment_id.clone(), seat: seat.seat.clone() };
    Ok((segment.departs_at, leg))
}

/// The user's confirmed passes, newest first, from this airline's copy; a cancelled pass is
/// gone, as the original deleted it. Seat numbers are asked of each leg's airline.
pub async fn passes(state: &AppState, request_id: &str, user_id: Uuid) -> LegacyResult<Vec<Passagem>> {
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    let passes: Vec<Pass> = passes::for_user(&mut conn, user_id, None)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|p| p.status == PassStatus::Confirmed)
        .collect();
    drop(conn);
    let mut lookups: BTreeMap<AirlineCode, LegacyLookup> = BTreeMap::new();
    for leg in passes.iter().flat_map(|p| &p.legs) {
        let lookup =
            lookups.entry(leg.airline.clone()).or_insert(LegacyLookup { all_seats: true, ..Default::default() });
        let ids = lookup.segment_ids.get_or_insert_with(Vec::new);
        if !ids.contains(&leg.segment_id) {
            ids.push(leg.segment_id.clone());
        }
    }
    let (segments, _) = lookup_each(state, request_id, lookups).await;
    let numero = |airline: &AirlineCode, leg: &passcom_shared::api::PassLeg| {
        let segment = segments.get(airline)?.iter().find(|s| s.segment_id == leg.segment_id)?;
        segment.seats.iter().find(|s| s.seat == leg.seat).map(|s| s.position)
    };
    Ok(passes
        .iter()
        .map(|pass| Passagem {
            uuid: pass.pass_id,
            created_at: pass.created_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            trechos_reservados: pass
                .legs
                .iter()
                .map(|leg| TrechoReservado {
                    trecho: TrechoDaPassagem {
                        origem: leg.origin.clone(),
                        destino: leg.destination.clone(),
                        company: leg.airline.clone(),
                    },
                    // The seat is the pass's: sold, so not available.
                    assento: AssentoDaPassagem { numero: numero(&leg.airline, leg), disponivel: 0 },
                })
                .collect(),
        })
        .collect())
}

/// Cancels one of the user's passes through our cancellation; a pass id that is not a UUID
/// names no pass.
pub async fn cancel(state: &AppState, request_id: &str, passenger: &Passenger, pass_id: &str) -> LegacyResult<()> {
    let not_found = || LegacyError::not_found("Passagem não encontrada");
    let pass_id: Uuid = pass_id.parse().map_err(|_| not_found())?;
    match cancel::cancel(state, request_id, passenger, pass_id).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Code::NotFound => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}
