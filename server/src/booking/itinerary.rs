//! Step 1 of a booking: the request becomes an [`Itinerary`] of known segments that chain in
//! space and time, or a 400 naming the leg. Parse, don't validate: nothing after this checks
//! the request again.

use std::collections::BTreeMap;

use chrono::{SubsecRound, Utc};
use futures::future::join_all;
use passcom_shared::api::{
    BookingRequest, LegRequest, Money, Pass, PassLeg, PassStatus, Segment, Traveller, MAX_NAME_CHARS, MAX_PARTY,
};
use passcom_shared::city::city_key;
use passcom_shared::internal::HoldLeg;
use passcom_shared::{AirlineCode, SeatCode, SegmentId, SegmentIds, MAX_LEGS};
use uuid::Uuid;

use super::deadline::Deadline;
use crate::app::AppState;
use crate::catalog::federated;
use crate::catalog::route_search::MIN_CONNECTION;
use crate::error::{ApiError, ApiResult};
use passcom_shared::Code;

/// A leg as the coordinator books it: one seat per passenger, on the segment it resolved to.
#[derive(Debug, Clone)]
pub struct PlannedLeg {
    pub seats: Vec<SeatCode>,
    pub segment: Segment,
}

impl PlannedLeg {
    pub fn airline(&self) -> &AirlineCode {
        &self.segment.airline
    }
}

/// One owner's share of an itinerary: its seats, each with the itinerary leg it is on.
pub type OwnerLegs = Vec<(usize, HoldLeg)>;

/// A booking request, checked: a party of 1 to [`MAX_PARTY`] and legs that exist and chain.
#[derive(Debug)]
pub struct Itinerary {
    /// Named passengers; empty for a party of one booked without names.
    travellers: Vec<Traveller>,
    legs: Vec<PlannedLeg>,
}

pub fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidItinerary, detail)
}

impl Itinerary {
    /// The request checked and its segments found, asking their owners no later than
    /// `deadline` (a hung owner fails the booking then).
    pub async fn resolve(
        state: &AppState,
        request_id: &str,
        request: &BookingRequest,
        deadline: &Deadline,
    ) -> ApiResult<Self> {
        let travellers = party(request.passengers.as_deref())?;
        let seats = check_shape(state, &request.legs, travellers.len().max(1))?;
        let legs = resolve_segments(state, request_id, &request.legs, seats, deadline).await?;
        check_chain(&legs)?;
        Ok(Self { travellers, legs })
    }

    fn party_size(&self) -> usize {
        self.travellers.len().max(1)
    }

    /// Every seat of the booking, in leg order, with the leg it is on.
    pub fn seats(&self) -> impl Iterator<Item = (usize, &PlannedLeg, &SeatCode)> {
        self.legs.iter().enumerate().flat_map(|(i, leg)| leg.seats.iter().map(move |seat| (i, leg, seat)))
    }

    pub fn legs(&self) -> &[PlannedLeg] {
        &self.legs
    }

    /// Every leg belongs to `airline`.
    pub fn all_at(&self, airline: &AirlineCode) -> bool {
        self.legs.iter().all(|l| l.airline() == airline)
    }

    /// The seats grouped by owner.
    pub fn by_owner(&self) -> BTreeMap<AirlineCode, OwnerLegs> {
        let mut groups: BTreeMap<AirlineCode, OwnerLegs> = BTreeMap::new();
        for (i, leg, seat) in self.seats() {
            let hold = HoldLeg { segment_id: leg.segment.segment_id.clone(), seat: seat.clone() };
            groups.entry(leg.airline().clone()).or_default().push((i, hold));
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
                seat: None,
                seats: Some(l.seats.clone()),
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
            passengers: self.travellers.clone(),
            total_price: Money {
                cents: self.legs.iter().map(|l| l.segment.price.cents).sum::<i64>() * self.party_size() as i64,
                currency,
            },
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
                    seat: l.seats[0].clone(),
                    seats: l.seats.clone(),
                    price: l.segment.price.clone(),
                })
                .collect(),
            disruptions: Vec::new(),
        }
    }
}

fn invalid_body(detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidBody, detail)
}

/// The named party, or none for the single-seat shape.
fn party(passengers: Option<&[Traveller]>) -> ApiResult<Vec<Traveller>> {
    let Some(passengers) = passengers else { return Ok(Vec::new()) };
    if passengers.is_empty() || passengers.len() > MAX_PARTY {
        return Err(invalid_body(format!("`passengers` lists 1 to {MAX_PARTY} people, not {}", passengers.len())));
    }
    passengers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = p.name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(invalid_body(format!(
                    "`passengers[{i}].name` must be 1-{MAX_NAME_CHARS} characters, without control characters"
                )));
            }
            Ok(Traveller { name: name.to_owned() })
        })
        .collect()
}

/// Checks the legs' shape and returns each leg's seats, one per passenger.
fn check_shape(state: &AppState, legs: &[LegRequest], party: usize) -> ApiResult<Vec<Vec<SeatCode>>> {
    if legs.is_empty() || legs.len() > MAX_LEGS {
        return Err(invalid(format!("an itinerary has 1 to {MAX_LEGS} legs, not {}", legs.len())));
    }
    let mut all = Vec::with_capacity(legs.len());
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
        let seats = match (&leg.seat, &leg.seats) {
            (Some(seat), None) => vec![seat.clone()],
            (None, Some(seats)) => seats.clone(),
            (Some(_), Some(_)) => {
                return Err(invalid_body(format!("`legs[{i}]` names both `seat` and `seats`; give one")).with_leg(i))
            }
            (None, None) => return Err(invalid_body(format!("`legs[{i}].seats` is required")).with_leg(i)),
        };
        if seats.len() != party {
            return Err(invalid(format!(
                "`legs[{i}].seats` lists {} seats for a party of {party}: one per passenger",
                seats.len()
            ))
            .with_leg(i));
        }
        if let Some((n, seat)) = seats.iter().enumerate().find(|(n, seat)| seats[..*n].contains(seat)) {
            return Err(invalid(format!("`legs[{i}].seats[{n}]`: seat {seat} is listed twice")).with_leg(i));
        }
        all.push(seats);
    }
    Ok(all)
}

/// Finds every leg's segment. Segments never change once published, so the catalogs that
/// search keeps (ours and each peer's, at most a second old) answer almost always; only a leg
/// they lack is looked up at its owner (in parallel, one call per airline). Their seat counts
/// may be stale, but the hold at the owner is what decides.
async fn resolve_segments(
    state: &AppState,
    request_id: &str,
    legs: &[LegRequest],
    seats: Vec<Vec<SeatCode>>,
    deadline: &Deadline,
) -> ApiResult<Vec<PlannedLeg>> {
    let mut by_airline: BTreeMap<&AirlineCode, Vec<SegmentId>> = BTreeMap::new();
    for leg in legs {
        by_airline.entry(&leg.airline).or_default().push(leg.segment_id.clone());
    }
    let lookups = by_airline.into_iter().map(|(airline, ids)| async move {
        let owner = state.federation.owner(airline).ok_or_else(|| invalid(format!("no airline `{airline}`")))?;
        let ids = SegmentIds::new(ids).map_err(|e| invalid(e.to_string()))?;
        federated::by_ids(state, request_id, owner, airline, &ids, deadline.remaining()).await
    });
    let found: Vec<Segment> =
        join_all(lookups).await.into_iter().collect::<ApiResult<Vec<_>>>()?.into_iter().flatten().collect();
    legs.iter()
        .zip(seats)
        .enumerate()
        .map(|(i, (leg, seats))| {
            let segment =
                found.iter().find(|s| s.airline == leg.airline && s.segment_id == leg.segment_id).ok_or_else(|| {
                    invalid(format!("leg {i}: airline {} has no upcoming segment `{}`", leg.airline, leg.segment_id))
                        .with_leg(i)
                })?;
            Ok(PlannedLeg { seats, segment: segment.clone() })
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
