//! The federated catalog: every airline's segments as one list, fetched only for what a query
//! needs. Search reads whole departure days, each airline's day kept for `catalog_ttl` (and
//! served a little longer while one caller renews it); pages of `/segments` go to each airline
//! for just that page. Nothing is fetched in the background, so an idle server does no work
//! whatever the size of the catalogs. An airline that does not answer is named in
//! `unavailable_airlines` instead of failing the whole answer.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::future::join_all;
use passcom_shared::api::{CityList, Segment, SegmentDetail, SegmentList};
use passcom_shared::client::PeerError;
use passcom_shared::internal::{SegmentFilter, SegmentKey, MAX_SEGMENT_BATCH};
use passcom_shared::{AirlineCode, SegmentId, SegmentIds};

use super::local;
use crate::app::AppState;
use crate::cache::Cached;
use crate::error::{ApiError, ApiResult};
use crate::federation::Owner;

/// A failure to get an airline's part: its database, or a peer that did not answer.
enum Missing {
    Peer(PeerError),
    Local(ApiError),
}

/// One airline's segments selected by `filter`, all pages of them; each call to a peer given
/// up after `within` when set.
async fn fetch(
    state: &AppState,
    request_id: &str,
    owner: Owner<'_>,
    filter: &SegmentFilter,
    within: Option<std::time::Duration>,
) -> Result<Vec<Segment>, Missing> {
    let mut all: Vec<Segment> = Vec::new();
    let mut filter = filter.clone();
    loop {
        let batch = match owner {
            Owner::Here => {
                let mut conn = state.pool.get().await.map_err(|e| Missing::Local(e.into()))?;
                local::list(&mut conn, &state.settings.airline, &filter).await.map_err(|e| Missing::Local(e.into()))?
            }
            Owner::Peer(peer) => peer.segments(request_id, &filter, within).await.map_err(Missing::Peer)?.segments,
        };
        let full = batch.len() >= filter.limit.unwrap_or(MAX_SEGMENT_BATCH).min(MAX_SEGMENT_BATCH);
        all.extend(batch);
        match all.last() {
            Some(last) if full && filter.limit.is_none() => {
                filter.after =
                    Some(SegmentKey { departs_at: last.departs_at, segment_id: last.segment_id.to_string() });
            }
            _ => return Ok(all),
        }
    }
}

/// Every airline's segments departing in `[from, to)`, for route search.
pub async fn window(
    state: &AppState,
    request_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<(Vec<Arc<Vec<Segment>>>, Vec<AirlineCode>)> {
    let days: Vec<NaiveDate> = from.date_naive().iter_days().take_while(|d| *d <= to.date_naive()).collect();
    let parts = join_all(
        state.federation.owners().into_iter().map(|(airline, owner)| days_of(state, request_id, airline, owner, &days)),
    )
    .await;
    let (mut found, mut unavailable) = (Vec::new(), Vec::new());
    for part in parts {
        match part {
            Ok(buckets) => found.extend(buckets),
            Err((_, Missing::Local(e))) => return Err(e),
            Err((airline, Missing::Peer(_))) => unavailable.push(airline),
        }
    }
    Ok((found, unavailable))
}

fn day_key(airline: &AirlineCode, day: NaiveDate) -> String {
    format!("{airline}|{day}")
}

/// One airline's days: cached ones as they are, the others (and the stale one this caller was
/// chosen to renew) in one call for the span they cover.
async fn days_of(
    state: &AppState,
    request_id: &str,
    airline: AirlineCode,
    owner: Owner<'_>,
    days: &[NaiveDate],
) -> Result<Vec<Arc<Vec<Segment>>>, (AirlineCode, Missing)> {
    let mut found = Vec::new();
    let mut stale = Vec::new();
    let mut wanted: Vec<NaiveDate> = Vec::new();
    for day in days {
        match state.days.get(&day_key(&airline, *day)) {
            Cached::Serve(bucket) => found.push(bucket),
            Cached::Refresh(bucket) => {
                stale.push(bucket);
                wanted.push(*day);
            }
            Cached::Missing => wanted.push(*day),
        }
    }
    let (Some(first), Some(last)) = (wanted.first(), wanted.last()) else { return Ok(found) };
    let filter = SegmentFilter {
        from: Some(start_of(*first)),
        to: Some(start_of(*last + Duration::days(1))),
        ..SegmentFilter::default()
    };
    match fetch(state, request_id, owner, &filter, None).await {
        Ok(segments) => {
            for day in first.iter_days().take_while(|d| d <= last) {
                let bucket: Vec<Segment> =
                    segments.iter().filter(|s| s.departs_at.date_naive() == day).cloned().collect();
                let bucket = Arc::new(bucket);
                state.days.insert(day_key(&airline, day), bucket.clone());
                if wanted.contains(&day) {
                    found.push(bucket);
                }
            }
            Ok(found)
        }
        // What was served before beats nothing while it lasts, but only if it covers every day.
        Err(_) if stale.len() == wanted.len() => Ok(found.into_iter().chain(stale).collect()),
        Err(e) => Err((airline, e)),
    }
}

pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// A place in the federation's (departure, airline, id) order: where a page ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub departs_at: DateTime<Utc>,
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
}

impl Cursor {
    fn of(segment: &Segment) -> Self {
        Self {
            departs_at: segment.departs_at,
            airline: segment.airline.clone(),
            segment_id: segment.segment_id.clone(),
        }
    }

    /// Where `airline`'s own list resumes after this cursor.
    fn resume_at(&self, airline: &AirlineCode) -> SegmentKey {
        match airline.cmp(&self.airline) {
            // Later in the order at the same instant: all of that instant is still to come.
            std::cmp::Ordering::Greater => SegmentKey { departs_at: self.departs_at, segment_id: String::new() },
            std::cmp::Ordering::Equal => {
                SegmentKey { departs_at: self.departs_at, segment_id: self.segment_id.to_string() }
            }
            // Earlier: its segments of that instant were all on earlier pages.
            std::cmp::Ordering::Less => {
                SegmentKey { departs_at: self.departs_at + Duration::microseconds(1), segment_id: String::new() }
            }
        }
    }
}

/// One page of every airline's (or one airline's) segments matching `filter`, after `after`.
pub async fn page(
    state: &AppState,
    request_id: &str,
    filter: &SegmentFilter,
    airline: Option<&AirlineCode>,
    after: Option<&Cursor>,
    limit: usize,
) -> ApiResult<(SegmentList, Option<Cursor>)> {
    let owners = state.federation.owners().into_iter().filter(|(code, _)| airline.is_none_or(|a| a == code));
    let parts = join_all(owners.map(|(code, owner)| async move {
        // One more than a page from each: if the merge has more than a page, there is a next.
        let filter =
            SegmentFilter { after: after.map(|c| c.resume_at(&code)), limit: Some(limit + 1), ..filter.clone() };
        (code, fetch(state, request_id, owner, &filter, None).await)
    }))
    .await;
    let mut segments = Vec::new();
    let mut unavailable_airlines = Vec::new();
    for (code, part) in parts {
        match part {
            // A peer speaks only for its own segments.
            Ok(found) => segments.extend(found.into_iter().filter(|s| s.airline == code)),
            Err(Missing::Local(e)) => return Err(e),
            Err(Missing::Peer(_)) => unavailable_airlines.push(code),
        }
    }
    segments.sort_by(|x, y| (x.departs_at, &x.airline, &x.segment_id).cmp(&(y.departs_at, &y.airline, &y.segment_id)));
    let more = segments.len() > limit;
    segments.truncate(limit);
    let next = if more { segments.last().map(Cursor::of) } else { None };
    Ok((SegmentList { segments, next_cursor: None, unavailable_airlines }, next))
}

/// The listed segments of one airline, for a booking: from the short-lived cache of segments
/// looked up before, else from their owner in one call. Their seat counts may be stale; the
/// hold at the owner is what decides. An owner that has not answered `within` is unavailable.
pub async fn by_ids(
    state: &AppState,
    request_id: &str,
    owner: Owner<'_>,
    airline: &AirlineCode,
    ids: &SegmentIds,
    within: std::time::Duration,
) -> ApiResult<Vec<Segment>> {
    let key = |id: &SegmentId| format!("{airline}/{id}");
    let cached: Vec<Segment> = ids
        .as_slice()
        .iter()
        .filter_map(|id| match state.segments_by_id.get(&key(id)) {
            Cached::Serve(s) | Cached::Refresh(s) => Some(s),
            Cached::Missing => None,
        })
        .collect();
    if cached.len() == ids.as_slice().len() {
        return Ok(cached);
    }
    let filter = SegmentFilter { ids: Some(ids.clone()), ..SegmentFilter::default() };
    if within.is_zero() {
        return Err(ApiError::airline_unavailable(airline, format!("airline {airline} did not answer in time")));
    }
    let found = match fetch(state, request_id, owner, &filter, Some(within)).await {
        Ok(found) => found,
        Err(Missing::Local(e)) => return Err(e),
        Err(Missing::Peer(e)) => return Err(ApiError::peer_failure(airline, e)),
    };
    for segment in &found {
        state.segments_by_id.insert(key(&segment.segment_id), segment.clone());
    }
    Ok(found)
}

pub async fn segment_detail(
    state: &AppState,
    request_id: &str,
    airline: &AirlineCode,
    id: &SegmentId,
) -> ApiResult<SegmentDetail> {
    let missing = || ApiError::not_found(format!("airline {airline} has no upcoming segment `{id}`"));
    let owner = state
        .federation
        .owner(airline)
        .ok_or_else(|| ApiError::not_found(format!("there is no airline `{airline}` in this federation")))?;
    let peer = match owner {
        Owner::Here => {
            let mut conn = state.pool.get().await?;
            return local::detail(&mut conn, airline, id).await?.ok_or_else(missing);
        }
        Owner::Peer(peer) => peer,
    };
    match peer.segment(request_id, id).await {
        Ok(detail) => Ok(detail),
        Err(PeerError::Refused(problem)) if problem.status == 404 => Err(missing()),
        Err(PeerError::Refused(problem)) => Err(ApiError::from_problem(&problem)),
        Err(PeerError::Unreachable(_)) => {
            Err(ApiError::airline_unavailable(airline, format!("airline {airline} cannot be reached right now")))
        }
    }
}

/// Every city any airline flies from or to, each airline's list kept for a minute.
pub async fn cities(state: &AppState, request_id: &str) -> ApiResult<CityList> {
    let parts = join_all(state.federation.owners().into_iter().map(|(airline, owner)| async move {
        if let Cached::Serve(cities) | Cached::Refresh(cities) = state.cities.get(airline.as_str()) {
            return (airline, Ok(cities));
        }
        let fetched = match owner {
            Owner::Here => match state.pool.get().await {
                Ok(mut conn) => local::cities(&mut conn).await.map_err(|e| Missing::Local(e.into())),
                Err(e) => Err(Missing::Local(e.into())),
            },
            Owner::Peer(peer) => peer.cities(request_id).await.map(|b| b.cities).map_err(Missing::Peer),
        };
        let fetched = fetched.map(Arc::new);
        if let Ok(cities) = &fetched {
            state.cities.insert(airline.to_string(), cities.clone());
        }
        (airline, fetched)
    }))
    .await;
    let mut cities: Vec<String> = Vec::new();
    let mut unavailable_airlines = Vec::new();
    for (airline, part) in parts {
        match part {
            Ok(found) => cities.extend(found.iter().cloned()),
            Err(Missing::Local(e)) => return Err(e),
            Err(Missing::Peer(_)) => unavailable_airlines.push(airline),
        }
    }
    cities.sort_by_key(|c| passcom_shared::city::city_key(c));
    cities.dedup_by_key(|c| passcom_shared::city::city_key(c));
    Ok(CityList { cities, unavailable_airlines })
}
