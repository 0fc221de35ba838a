//! The catalog as the original API names it: segments and seats by their integer ids (columns
//! of our own tables, given once), seats numbered by their position in the seat map. Each
//! airline describes its own segments; the others are asked over the internal API
//! (`POST /internal/v1/legacy/segments`), the way our own catalog reads are spread.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::future::join_all;
use passcom_shared::client::PeerError;
use passcom_shared::internal::{LegacyLookup, LegacySeat, LegacySegment};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};

use super::error::{LegacyError, LegacyResult};
use super::wire::{Assento, AssentoRota, Trecho, TrechoRota};
use crate::app::AppState;
use crate::catalog::route_search::{RouteQuery, SortBy, DEFAULT_MAX_LEGS};
use crate::catalog::search;
use crate::error::ApiError;
use crate::federation::Owner;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    segment_legacy_id: i64,
    #[diesel(sql_type = Text)]
    segment_id: String,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Text)]
    destination: String,
    #[diesel(sql_type = Timestamptz)]
    departs_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    seat_legacy_id: i64,
    #[diesel(sql_type = Text)]
    seat: String,
    #[diesel(sql_type = Bool)]
    available: bool,
    #[diesel(sql_type = BigInt)]
    position: i64,
}

/// Positions count every seat (row, then letter: the order of our seat maps), free or not, so
/// that a seat keeps its number when others are sold.
const LOOKUP: &str = "
    SELECT s.legacy_id AS segment_legacy_id, s.segment_id, s.origin, s.destination, s.departs_at,
           t.legacy_id AS seat_legacy_id, t.seat, t.status = 'available' AS available,
           row_number() OVER (PARTITION BY s.segment_id
                              ORDER BY substring(t.seat FROM '^[0-9]+')::int, right(t.seat, 1)) AS position
      FROM segments s JOIN seats t ON t.segment_id = s.segment_id
     WHERE ($1::text[] IS NULL OR s.segment_id = ANY($1))
       AND ($2::bigint[] IS NULL OR s.legacy_id = ANY($2))
       AND ($1::text[] IS NOT NULL OR $2::bigint[] IS NOT NULL OR s.departs_at > now())
     ORDER BY s.legacy_id, position";

/// This airline's segments as `lookup` asks, in the order of their integer ids.
pub async fn lookup_here(conn: &mut AsyncPgConnection, lookup: &LegacyLookup) -> QueryResult<Vec<LegacySegment>> {
    let ids: Option<Vec<&str>> = lookup.segment_ids.as_ref().map(|ids| ids.iter().map(SegmentId::as_str).collect());
    let rows: Vec<Row> = diesel::sql_query(LOOKUP)
        .bind::<Nullable<Array<Text>>, _>(ids)
        .bind::<Nullable<Array<BigInt>>, _>(lookup.legacy_ids.as_ref())
        .load(conn)
        .await?;
    let mut segments: Vec<LegacySegment> = Vec::new();
    for row in rows {
        // Ids and seats were checked on the way in; a row that no longer parses is skipped.
        let (Ok(segment_id), Ok(seat)) = (SegmentId::parse(&row.segment_id), SeatCode::parse(&row.seat)) else {
            continue;
        };
        if segments.last().is_none_or(|s| s.segment_id != segment_id) {
            segments.push(LegacySegment {
                legacy_id: row.segment_legacy_id,
                segment_id,
                origin: row.origin,
                destination: row.destination,
                departs_at: row.departs_at,
                seats: Vec::new(),
            });
        }
        if lookup.all_seats || row.available {
            if let Some(segment) = segments.last_mut() {
                segment.seats.push(LegacySeat {
                    legacy_id: row.seat_legacy_id,
                    seat,
                    position: row.position,
                    available: row.available,
                });
            }
        }
    }
    Ok(segments)
}

/// One airline's answer to `lookup`: from our database, or from the peer.
pub async fn lookup_at(
    state: &AppState,
    request_id: &str,
    airline: &AirlineCode,
    lookup: &LegacyLookup,
) -> LegacyResult<Vec<LegacySegment>> {
    let owner = state.federation.owner(airline).ok_or_else(|| unknown_company(airline.as_str()))?;
    match owner {
        Owner::Here => {
            let mut conn = state.pool.get().await.map_err(ApiError::from)?;
            Ok(lookup_here(&mut conn, lookup).await.map_err(ApiError::from)?)
        }
        Owner::Peer(peer) => match peer.legacy_segments(request_id, lookup).await {
            Ok(batch) => Ok(batch.segments),
            Err(PeerError::Refused(problem)) => Err(ApiError::from_problem(&problem).into()),
            Err(PeerError::Unreachable(_)) => {
                Err(ApiError::airline_unavailable(airline, format!("airline {airline} cannot be reached right now"))
                    .into())
            }
        },
    }
}

pub fn unknown_company(company: &str) -> LegacyError {
    let company: String = company.chars().take(20).collect();
    LegacyError::bad_request("Companhia desconhecida", format!("there is no airline `{company}` in this federation"))
}

/// Each listed airline's answer, asked in parallel; airlines that do not answer are left out
/// and named, as the original left out a server that was down.
pub async fn lookup_each(
    state: &AppState,
    request_id: &str,
    lookups: BTreeMap<AirlineCode, LegacyLookup>,
) -> (BTreeMap<AirlineCode, Vec<LegacySegment>>, Vec<AirlineCode>) {
    let answers = join_all(lookups.into_iter().map(|(airline, lookup)| async move {
        let answer = lookup_at(state, request_id, &airline, &lookup).await;
        (airline, answer)
    }))
    .await;
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for (airline, answer) in answers {
        match answer {
            Ok(segments) => {
                found.insert(airline, segments);
            }
            Err(e) => {
                tracing::warn!(%airline, error = %e, "an airline is missing from a legacy listing");
                missing.push(airline);
            }
        }
    }
    (found, missing)
}

fn trecho(company: &AirlineCode, segment: LegacySegment) -> Trecho {
    Trecho {
        id: segment.legacy_id,
        company: company.clone(),
        origem: segment.origin,
        destino: segment.destination,
        assentos: segment
            .seats
            .into_iter()
            .map(|s| Assento { id: s.legacy_id, numero: s.position, disponivel: u8::from(s.available) })
            .collect(),
    }
}

/// `GET /trechos` (only this airline) and `GET /all-trechos` (every airline): upcoming segments
/// with their free seats. Returns the airlines that did not answer too.
pub async fn trechos(state: &AppState, request_id: &str, every_airline: bool) -> (Vec<Trecho>, Vec<AirlineCode>) {
    let airlines: Vec<AirlineCode> = if every_airline {
        state.federation.owners().into_iter().map(|(airline, _)| airline).collect()
    } else {
        vec![state.settings.airline.clone()]
    };
    let lookups = airlines.into_iter().map(|airline| (airline, LegacyLookup::default())).collect();
    let (found, missing) = lookup_each(state, request_id, lookups).await;
    let list = found.into_iter().flat_map(|(airline, segments)| segments.into_iter().map(move |s| trecho(&airline, s)));
    (list.collect(), missing)
}

/// The original had no dates: a route's first leg may depart any time in the coming week.
const ROUTE_WINDOW_DAYS: i64 = 7;
const MAX_ROUTES: usize = 20;

/// `POST /rotas`: our route search, each route's legs one after the other (a route starts
/// wherever a leg leaves from `origem`), each leg with its free seats.
pub async fn rotas(
    state: &actix_web::web::Data<AppState>,
    request_id: &str,
    origem: String,
    destino: String,
) -> LegacyResult<Vec<TrechoRota>> {
    let now = Utc::now();
    let query = RouteQuery {
        origin: origem,
        destination: destino,
        first_from: now,
        first_to: now + Duration::days(ROUTE_WINDOW_DAYS),
        passengers: 1,
        max_legs: DEFAULT_MAX_LEGS,
        limit: MAX_ROUTES,
        sort: SortBy::Arrival,
    };
    let found = search::routes(state, request_id, query).await?;
    let legs: Vec<(AirlineCode, SegmentId)> =
        found.routes.iter().flat_map(|r| r.legs.iter().map(|l| (l.airline.clone(), l.segment_id.clone()))).collect();
    let mut lookups: BTreeMap<AirlineCode, LegacyLookup> = BTreeMap::new();
    for (airline, id) in &legs {
        let ids = lookups.entry(airline.clone()).or_default().segment_ids.get_or_insert_with(Vec::new);
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    let (found, missing) = lookup_each(state, request_id, lookups).await;
    if let [airline, ..] = missing.as_slice() {
        // A route with a leg we cannot describe cannot be booked through this API either.
        return Err(
            ApiError::airline_unavailable(airline, format!("airline {airline} cannot be reached right now")).into()
        );
    }
    Ok(legs
        .iter()
        .filter_map(|(airline, id)| {
            let segment = found.get(airline)?.iter().find(|s| &s.segment_id == id)?;
            Some(TrechoRota {
                origem: segment.origin.clone(),
                destino: segment.destination.clone(),
                company: airline.clone(),
                id_trecho: segment.legacy_id,
                assentos: segment.seats.iter().map(|s| AssentoRota { id: s.legacy_id, numero: s.position }).collect(),
            })
        })
        .collect())
}
