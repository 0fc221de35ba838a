//! The federated catalog: this airline's segments plus every reachable peer's, fetched in
//! parallel and each reused for `catalog_ttl`. A peer that is down is named in
//! `unavailable_airlines` instead of failing the whole answer, and once its breaker is open
//! nobody waits for its timeout.

use std::sync::Arc;

use futures::future::{join, join_all};
use passcom_shared::api::{Segment, SegmentDetail, SegmentList};
use passcom_shared::city::city_key;
use passcom_shared::client::PeerError;
use passcom_shared::internal::SegmentFilter;
use passcom_shared::{AirlineCode, SegmentId};

use super::local;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::federation::{Owner, Peer};

/// Every airline's upcoming segments matching `filter`, or only `airline`'s.
pub async fn segments(
    state: &AppState,
    request_id: &str,
    filter: &SegmentFilter,
    airline: Option<&AirlineCode>,
) -> ApiResult<SegmentList> {
    let own = &state.settings.airline;
    let wants = |code: &AirlineCode| airline.is_none_or(|a| a == code);
    let local = async {
        if !wants(own) {
            return Ok(None);
        }
        local_catalog(state).await.map(Some)
    };
    let remote = join_all(
        state
            .federation
            .peers()
            .iter()
            .filter(|p| wants(&p.airline))
            .map(|peer| async move { (peer, peer_catalog(peer, request_id).await) }),
    );
    let (local, remote) = join(local, remote).await;

    let mut segments: Vec<Segment> = local?.iter().flat_map(|all| matching(all, filter)).cloned().collect();
    let mut unavailable_airlines = Vec::new();
    for (peer, result) in remote {
        match result {
            // A peer speaks only for its own segments.
            Ok(all) => segments.extend(matching(&all, filter).filter(|s| s.airline == peer.airline).cloned()),
            Err(_) => unavailable_airlines.push(peer.airline.clone()),
        }
    }
    segments.sort_by(|x, y| (x.departs_at, &x.airline, &x.segment_id).cmp(&(y.departs_at, &y.airline, &y.segment_id)));
    Ok(SegmentList { segments, unavailable_airlines })
}

/// The segments of `all` that match the filter's cities (case and accents ignored).
pub fn matching<'a>(all: &'a [Segment], filter: &SegmentFilter) -> impl Iterator<Item = &'a Segment> {
    let origin = filter.origin.as_deref().map(city_key);
    let destination = filter.destination.as_deref().map(city_key);
    all.iter().filter(move |s| {
        origin.as_ref().is_none_or(|o| city_key(&s.origin) == *o)
            && destination.as_ref().is_none_or(|d| city_key(&s.destination) == *d)
    })
}

async fn load_local(state: &AppState) -> ApiResult<Vec<Segment>> {
    let mut conn = state.pool.get().await?;
    Ok(local::list(&mut conn, &state.settings.airline).await?)
}

async fn fetch_peer(peer: &Peer, request_id: &str) -> Result<Vec<Segment>, PeerError> {
    let everything = SegmentFilter::default();
    peer.segments(request_id, &everything).await.map(|batch| batch.segments)
}

/// This airline's whole upcoming catalog, kept at most `catalog_ttl` old by [`keep_fresh`].
pub async fn local_catalog(state: &AppState) -> ApiResult<Arc<Vec<Segment>>> {
    state.catalog.get_or_refresh(|| load_local(state)).await
}

/// A peer's whole upcoming catalog, kept at most `catalog_ttl` old by [`keep_fresh`].
pub async fn peer_catalog(peer: &Peer, request_id: &str) -> Result<Arc<Vec<Segment>>, PeerError> {
    peer.catalog.get_or_refresh(|| fetch_peer(peer, request_id)).await
}

/// Renews our catalog and every peer's once per `catalog_ttl`, so that no request has to wait
/// for a refresh; a peer that fails is forgotten at once and shows as unavailable.
pub async fn keep_fresh(state: actix_web::web::Data<AppState>) {
    let ttl = state.catalog.ttl();
    if ttl.is_zero() {
        return;
    }
    loop {
        let request_id = format!("catalog-{}", uuid::Uuid::new_v4());
        let local = state.catalog.refresh(|| load_local(&state));
        let peers = join_all(
            state.federation.peers().iter().map(|peer| peer.catalog.refresh(|| fetch_peer(peer, &request_id))),
        );
        if let (Err(e), _) = join(local, peers).await {
            tracing::warn!(error = %e, "could not refresh our catalog");
        }
        tokio::time::sleep(ttl).await;
    }
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
