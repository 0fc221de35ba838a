//! The federated catalog: every airline's segments as one list, fetched only for what a query
//! needs. Search reads whole departure days, each airline's day kept for `catalog_ttl` (and
//! served a little longer while one caller renews it); pages of `/segments` go to each airline
//! for just that page. Nothing is fetched in the background, so an idle server does no work
//! whatever the size of the catalogs. An airline that does not answer is named in
//! `unavailable_airlines` instead of failing the whole answer.

use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::future::join_all;
use passcom_shared::api::{CityList, Segment, SegmentDetail, SegmentList, StaleAirline};
use passcom_shared::client::PeerError;
use passcom_shared::internal::{SegmentFilter, SegmentKey, MAX_SEGMENT_BATCH};
use passcom_shared::{AirlineCode, SegmentId, SegmentIds};

use super::local;
use super::route_search::Placed;
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

/// What route search gets from the catalogs: each airline's days, the airlines missing, and
/// those served from their last good copy.
pub struct Window {
    pub days: Vec<Arc<Vec<Placed>>>,
    pub unavailable: Vec<AirlineCode>,
    pub stale: Vec<StaleAirline>,
}

/// Every airline's segments departing in `[from, to)`, for route search.
pub async fn window(
    state: &web::Data<AppState>,
    request_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Window> {
    let days: Vec<NaiveDate> = from.date_naive().iter_days().take_while(|d| *d <= to.date_naive()).collect();
    let parts = join_all(
        state.federation.owners().into_iter().map(|(airline, owner)| days_of(state, request_id, airline, owner, &days)),
    )
    .await;
    let mut window = Window { days: Vec::new(), unavailable: Vec::new(), stale: Vec::new() };
    for part in parts {
        match part {
            Ok((airline, buckets, age)) => {
                window.days.extend(buckets);
                if let Some(age) = age {
                    window.stale.push(StaleAirline { airline, age_secs: age.as_secs() });
                }
            }
            Err((_, Missing::Local(e))) => return Err(e),
            Err((airline, Missing::Peer(_))) => window.unavailable.push(airline),
        }
    }
    Ok(window)
}

fn day_key(airline: &AirlineCode, day: NaiveDate) -> String {
    format!("{airline}|{day}")
}

type Days = (AirlineCode, Vec<Arc<Vec<Placed>>>, Option<std::time::Duration>);

/// One airline's days. When every day has a copy, they are served at once and the stale ones
/// renewed in the background: a hung peer costs the renewal its timeout, never a request.
/// Days without a copy are fetched now, waiting at most `catalog_wait`. A copy whose renewal
/// failed is served for `PASSCOM_CATALOG_STALE_SECS`, and its age reported.
async fn days_of(
    state: &web::Data<AppState>,
    request_id: &str,
    airline: AirlineCode,
    owner: Owner<'_>,
    days: &[NaiveDate],
) -> Result<Days, (AirlineCode, Missing)> {
    let mut found = Vec::new();
    let mut renew: Vec<NaiveDate> = Vec::new();
    let mut missing: Vec<NaiveDate> = Vec::new();
    for day in days {
        match state.days.get(&day_key(&airline, *day)) {
            Cached::Serve(bucket) => found.push(bucket),
            Cached::Refresh(bucket) => {
                found.push(bucket);
                renew.push(*day);
            }
            Cached::Missing => missing.push(*day),
        }
    }
    let age = days.iter().filter_map(|day| state.days.failed_age(&day_key(&airline, *day))).max();
    if missing.is_empty() {
        if let (Some(first), Some(last)) = (renew.first().copied(), renew.last().copied()) {
            let (state, request_id, airline) = (state.clone(), request_id.to_owned(), airline.clone());
            tokio::spawn(async move {
                if let Some(owner) = state.federation.owner(&airline) {
                    let _ = fetch_days(&state, &request_id, &airline, owner, first, last, None).await;
                }
            });
        }
        return Ok((airline, found, age));
    }
    let (first, last) = (*days.first().unwrap_or(&missing[0]), *days.last().unwrap_or(&missing[0]));
    let wait = Some(state.settings.catalog_wait);
    match fetch_days(state, request_id, &airline, owner, first, last, wait).await {
        Ok(buckets) => Ok((airline, buckets, None)),
        Err(e) => Err((airline, e)),
    }
}

/// Fetches one airline's days `first..=last` in one call and caches each day; on failure, the
/// copies already held are kept (and served) as the last good ones.
async fn fetch_days(
    state: &AppState,
    request_id: &str,
    airline: &AirlineCode,
    owner: Owner<'_>,
    first: NaiveDate,
    last: NaiveDate,
    within: Option<std::time::Duration>,
) -> Result<Vec<Arc<Vec<Placed>>>, Missing> {
    let span = || first.iter_days().take_while(move |d| *d <= last);
    let filter = SegmentFilter {
        from: Some(start_of(first)),
        to: Some(start_of(last + Duration::days(1))),
        ..SegmentFilter::default()
    };
    match fetch(state, request_id, owner, &filter, within).await {
        Ok(segments) => Ok(span()
            .map(|day| {
                let bucket: Vec<Placed> =
                    segments.iter().filter(|s| s.departs_at.date_naive() == day).cloned().map(Placed::new).collect();
                let bucket = Arc::new(bucket);
                state.days.insert(day_key(airline, day), bucket.clone());
                bucket
            })
            .collect()),
        Err(e) => {
            span().for_each(|day| state.days.renewal_failed(&day_key(airline, day)));
            Err(e)
        }
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
