//! Step 1 of a booking: the request becomes an [`Itinerary`] of known segments that chain in
//! space and time, or a 400 naming the leg. Parse, don't validate: nothing after this checks
//! the request again.

use std::collections::BTreeMap;

use chrono::{SubsecRound, Utc};
use futures::future::join_all;
use passcom_shared::api::{BookingRequest, LegRequest, Money, Pass, PassLeg, PassStatus, Segment};
use passcom_shared::city::city_key;
use passcom_shared::internal::{HoldLeg, SegmentFilter};
use passcom_shared::{AirlineCode, SeatCode, SegmentId, SegmentIds, MAX_LEGS};
use uuid::Uuid;

use crate::app::AppState;
use crate::catalog::route_search::MIN_CONNECTION;
use crate::catalog::{federated, local};
use crate::error::{ApiError, ApiResult};
use crate::federation::Owner;
use passcom_shared::Code;

/// A leg as the coordinator books it: the seat asked for, on the segment it resolved to.
#[derive(Debug, Clone)]
pub struct PlannedLeg {
    pub seat: SeatCode,
    pub segment: Segment,
}

impl PlannedLeg {
    pub fn airline(&self) -> &AirlineCode {
        &self.segment.airline
    }

    pub fn hold_leg(&self) -> HoldLeg {
        HoldLeg { segment_id: self.segment.segment_id.clone(), seat: self.seat.clone() }
    }
}

/// One owner's share of an itinerary: its seats, each with its position in the itinerary.
pub type OwnerLegs = Vec<(usize, HoldLeg)>;

#[derive(Debug)]
pub struct Itinerary {
    legs: Vec<PlannedLeg>,
}

pub fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidItinerary, detail)
}

impl Itinerary {
    pub async fn resolve(state: &AppState, request_id: &str, request: &BookingRequest) -> ApiResult<Self> {
        check_shape(state, &request.legs)?;
        let legs = resolve_segments(state, request_id, &request.legs).await?;
        check_chain(&legs)?;
        Ok(Self { legs })
    }

    pub fn legs(&self) -> &[PlannedLeg] {
        &self.legs
    }

    /// Every leg belongs to `airline`.
    pub fn all_at(&self, airline: &AirlineCode) -> bool {
        self.legs.iter().all(|l| l.airline() == airline)
    }

    /// The legs grouped by owner.
    pub fn by_owner(&self) -> BTreeMap<AirlineCode, OwnerLegs> {
        let mut groups: BTreeMap<AirlineCode, OwnerLegs> = BTreeMap::new();
        for (i, leg) in self.legs.iter().enumerate() {
            groups.entry(leg.airline().clone()).or_default().push((i, leg.hold_leg()));
        }
        groups
    }

    /// What the coordinator's log keeps: who owns which seat (the details live in the pass).
    pub fn requested(&self) -> Vec<LegRequest> {
        self.legs
            .iter()
            .map(|l| LegRequest {
                airline: l.airline().clone(),
                segment_id: l.segment.segment_id.clone(),
                seat: l.seat.clone(),
            })
            .collect()
    }

    pub fn pass(&self, pass_id: Uuid, sold_by: &AirlineCode) -> Pass {
        let currency = self.legs.first().map(|l| l.segment.price.currency.clone()).unwrap_or_else(|| "BRL".into());
        Pass {
            pass_id,
            status: PassStatus::Confirmed,
            // The database keeps microseconds; so does the answer, so that every copy is equal.
            created_at: Utc::now().trunc_subsecs(6),
            sold_by: sold_by.clone(),
            total_price: Money { cents: self.legs.iter().map(|l| l.segment.price.cents).sum(), currency },
            legs: self
                .legs
                .iter()
                .map(|l| PassLeg {
                    airline: l.airline().clone(),
                    segment_id: l.segment.segment_id.clone(),
                    flight_no: l.segment.flight_no.clone(),
                    origin: l.segment.origin.clone(),
                    destination: l.segment.destination.clone(),
                    departs_at: l.segment.departs_at,
                    arrives_at: l.segment.arrives_at,
                    seat: l.seat.clone(),
                    price: l.segment.price.clone(),
                })
                .collect(),
        }
    }
}

fn check_shape(state: &AppState, legs: &[LegRequest]) -> ApiResult<()> {
    if legs.is_empty() || legs.len() > MAX_LEGS {
        return Err(invalid(format!("an itinerary has 1 to {MAX_LEGS} legs, not {}", legs.len())));
    }
    for (i, leg) in legs.iter().enumerate() {
        if !state.federation.knows(&leg.airline) {
            return Err(
                invalid(format!("leg {i}: there is no airline `{}` in this federation", leg.airline)).with_leg(i)
            );
        }
        if legs[..i].iter().any(|earlier| earlier.airline == leg.airline && earlier.segment_id == leg.segment_id) {
            return Err(
                invalid(format!("leg {i}: segment {}/{} is listed twice", leg.airline, leg.segment_id)).with_leg(i)
            );
        }
    }
    Ok(())
}

/// Finds every leg's segment. Segments never change once published, so the catalogs that
/// search keeps (ours and each peer's, at most a second old) answer almost always; only a leg
/// they lack is looked up at its owner (in parallel, one call per airline). Their seat counts
/// may be stale, but the hold at the owner is what decides.
async fn resolve_segments(state: &AppState, request_id: &str, legs: &[LegRequest]) -> ApiResult<Vec<PlannedLeg>> {
    let mut by_airline: BTreeMap<&AirlineCode, Vec<SegmentId>> = BTreeMap::new();
    for leg in legs {
        by_airline.entry(&leg.airline).or_default().push(leg.segment_id.clone());
    }
    let lookups = by_airline.into_iter().map(|(airline, ids)| async move {
        let owner = state.federation.owner(airline).ok_or_else(|| invalid(format!("no airline `{airline}`")))?;
        let cached = match owner {
            Owner::Here => federated::local_catalog(state).await.ok(),
            Owner::Peer(peer) => federated::peer_catalog(peer, request_id).await.ok(),
        };
        let from_cache: Vec<Segment> =
            cached.iter().flat_map(|all| all.iter()).filter(|s| ids.contains(&s.segment_id)).cloned().collect();
        if from_cache.len() == ids.len() {
            return ApiResult::Ok(from_cache);
        }
        let ids = SegmentIds::new(ids).map_err(|e| invalid(e.to_string()))?;
        match owner {
            Owner::Here => {
                let mut conn = state.pool.get().await?;
                Ok(local::by_ids(&mut conn, airline, ids.as_slice()).await?)
            }
            Owner::Peer(peer) => {
                let filter = SegmentFilter { ids: Some(ids), ..SegmentFilter::default() };
                let batch = peer.segments(request_id, &filter).await.map_err(|e| ApiError::peer_failure(airline, e))?;
                Ok(batch.segments)
            }
        }
    });
    let found: Vec<Segment> =
        join_all(lookups).await.into_iter().collect::<ApiResult<Vec<_>>>()?.into_iter().flatten().collect();
    legs.iter()
        .enumerate()
        .map(|(i, leg)| {
            let segment =
                found.iter().find(|s| s.airline == leg.airline && s.segment_id == leg.segment_id).ok_or_else(|| {
                    invalid(format!("leg {i}: airline {} has no upcoming segment `{}`", leg.airline, leg.segment_id))
                        .with_leg(i)
                })?;
            Ok(PlannedLeg { seat: leg.seat.clone(), segment: segment.clone() })
        })
        .collect()
}

fn check_chain(legs: &[PlannedLeg]) -> ApiResult<()> {
    for (i, pair) in legs.windows(2).enumerate() {
        let (prev, next) = (&pair[0].segment, &pair[1].segment);
        if city_key(&prev.destination) != city_key(&next.origin) {
            return Err(invalid(format!(
                "leg {} departs from {}, but leg {i} arrives in {}",
                i + 1,
                next.origin,
                prev.destination
            ))
            .with_leg(i + 1));
        }
        if next.departs_at < prev.arrives_at + MIN_CONNECTION {
            return Err(invalid(format!(
                "leg {} departs at {}, less than {} minutes after leg {i} arrives at {}",
                i + 1,
                next.departs_at,
                MIN_CONNECTION.num_minutes(),
                prev.arrives_at
            ))
            .with_leg(i + 1));
        }
    }
    Ok(())
}
