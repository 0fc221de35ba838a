//! `/internal/v1`: what airlines ask of each other. Every route takes a `ServiceCaller`, so
//! anonymous calls and passenger tokens are refused before any handler runs.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use passcom_shared::client::FinishAction;
use passcom_shared::internal::{
    CancelRequest, CityBatch, DecisionBody, HoldGranted, HoldRequest, LegacyLookup, LegacySegmentBatch, LoginClaim,
    ReplicationBatch, SeatsChanged, SegmentBatch, SegmentFilter, MAX_LEGACY_LOOKUP, MAX_REPLICATION_BODY,
};
use passcom_shared::{Code, SegmentId, MAX_LEGS};
use uuid::Uuid;

use crate::accounts::{self, Login, Released};
use crate::app::AppState;
use crate::auth::{extract, ServiceCaller};
use crate::booking::{cancel, log, owners, participant};
use crate::catalog::local;
use crate::error::{ApiError, ApiResult};
use crate::legacy;
use crate::replication::inbox;
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/segments", web::get().to(segments))
            .route("/cities", web::get().to(cities))
            .route("/segments/{segment_id}", web::get().to(segment))
            .route("/legacy/segments", web::post().to(legacy_segments))
            .route("/login-claims", web::post().to(claim_login))
            .route("/login-claims", web::delete().to(release_login))
            .service(
                web::resource("/replication")
                    .app_data(super::json_config(MAX_REPLICATION_BODY))
                    .route(web::post().to(replicate)),
            )
            .route("/holds", web::post().to(hold))
            .route("/holds/{booking_id}/{action}", web::post().to(finish))
            .route("/bookings/{booking_id}/decision", web::get().to(decision))
            .route("/accounts/{user_id}", web::get().to(account))
            .route("/passes/{pass_id}/cancellation", web::post().to(cancel_pass)),
    );
}

async fn segments(
    state: web::Data<AppState>,
    _: ServiceCaller,
    query: web::Query<SegmentFilter>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let segments = local::list(&mut conn, &state.settings.airline, &query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SegmentBatch { segments }))
}

async fn cities(state: web::Data<AppState>, _: ServiceCaller) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    Ok(HttpResponse::Ok().json(CityBatch { cities: local::cities(&mut conn).await? }))
}

async fn segment(state: web::Data<AppState>, _: ServiceCaller, path: web::Path<SegmentId>) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let mut conn = state.pool.get().await?;
    let detail = local::detail(&mut conn, &state.settings.airline, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no upcoming segment `{id}`")))?;
    Ok(HttpResponse::Ok().json(detail))
}

/// This airline's segments as the original PassCom API names them (see `crate::legacy`).
async fn legacy_segments(
    state: web::Data<AppState>,
    _: ServiceCaller,
    body: web::Json<LegacyLookup>,
) -> ApiResult<HttpResponse> {
    let lookup = body.into_inner();
    let listed = lookup.segment_ids.as_ref().map_or(0, Vec::len) + lookup.legacy_ids.as_ref().map_or(0, Vec::len);
    if listed > MAX_LEGACY_LOOKUP {
        return Err(ApiError::invalid_body(format!("at most {MAX_LEGACY_LOOKUP} segments, not {listed}")));
    }
    let mut conn = state.pool.get().await?;
    let segments = legacy::catalog::lookup_here(&mut conn, &lookup).await?;
    Ok(HttpResponse::Ok().json(LegacySegmentBatch { segments }))
}

async fn claim_login(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    body: web::Json<LoginClaim>,
) -> ApiResult<HttpResponse> {
    let claim = body.into_inner();
    let login = Login::parse(&claim.login)?;
    let mut conn = state.pool.get().await?;
    if accounts::claim_locally(&mut conn, &claim, &caller.airline).await? {
        Ok(HttpResponse::Ok().json(claim))
    } else {
        Err(accounts::login_taken(&login))
    }
}

async fn release_login(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    body: web::Json<LoginClaim>,
) -> ApiResult<HttpResponse> {
    let claim = body.into_inner();
    let mut conn = state.pool.get().await?;
    match accounts::release_locally(&mut conn, &claim, &caller.airline).await? {
        Released::Done => Ok(HttpResponse::Ok().json(claim)),
        Released::NotYours => Err(ApiError::forbidden("only the airline that claimed a login may release the claim")),
    }
}

async fn replicate(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    body: web::Json<ReplicationBatch>,
) -> ApiResult<HttpResponse> {
    let receipt = inbox::receive(&state, &caller.airline, &body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

async fn hold(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    body: web::Json<HoldRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    if req.coordinator != caller.airline {
        return Err(ApiError::forbidden("an airline may only hold seats for bookings it coordinates"));
    }
    if req.legs.is_empty() || req.legs.len() > MAX_LEGS {
        return Err(ApiError::invalid_body(format!("a hold covers 1 to {MAX_LEGS} seats")));
    }
    let own = &state.settings.airline;
    let mut conn = state.pool.get().await?;
    // After its deadline the coordinator has given up on this hold (and may have sent its abort
    // already): taking the seat now would block it for a booking that is over.
    if req.deadline.is_some_and(|deadline| Utc::now() > deadline) {
        tracing::warn!(booking_id = %req.booking_id, "refused a hold that arrived after its booking's deadline");
        return Err(ApiError::new(
            Code::BookingTimedOut,
            "the hold arrived after its booking's deadline; nothing was held",
        ));
    }
    let held_until = participant::hold(&mut conn, req.booking_id, &req.coordinator, &req.legs, state.settings.hold_ttl)
        .await
        .map_err(|e| e.owner_refusal(own))?;
    Ok(HttpResponse::Ok().json(HoldGranted { booking_id: req.booking_id, held_until }))
}

async fn finish(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    path: web::Path<(Uuid, FinishAction)>,
) -> ApiResult<HttpResponse> {
    let (booking_id, action) = path.into_inner();
    let mut conn = state.pool.get().await?;
    // Only the coordinator decides a booking, and only it (the pass's seller) releases a
    // cancelled one: every action touches only the seats taken for the caller.
    let seats = owners::finish_here(&state, &mut conn, booking_id, action, Some(&caller.airline)).await?;
    if seats == 0 && participant::coordinated_by_another(&mut conn, booking_id, &caller.airline).await? {
        return Err(ApiError::forbidden("only the booking's coordinator may commit, abort or release its seats"));
    }
    Ok(HttpResponse::Ok().json(SeatsChanged { booking_id, seats: seats as u64 }))
}

async fn decision(state: web::Data<AppState>, _: ServiceCaller, path: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let booking_id = path.into_inner();
    let mut conn = state.pool.get().await?;
    let decision = log::decision(&mut conn, booking_id).await?;
    Ok(HttpResponse::Ok().json(DecisionBody { booking_id, decision }))
}

async fn account(state: web::Data<AppState>, _: ServiceCaller, path: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let account =
        accounts::account(&mut conn, path.into_inner()).await?.ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(HttpResponse::Ok().json(account))
}

/// A cancellation forwarded by another airline: the passenger's own token, not the caller's
/// word, says who asks, and only a pass sold here is cancelled here.
async fn cancel_pass(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    rid: RequestId,
    path: web::Path<Uuid>,
    body: web::Json<CancelRequest>,
) -> ApiResult<HttpResponse> {
    let passenger = extract::passenger(&state, &rid.0, &body.passenger_token).await?;
    let pass = cancel::cancel_here(&state, passenger.user_id, path.into_inner()).await?;
    tracing::info!(from = %caller.airline, pass_id = %pass.pass_id, "cancelled a pass at the passenger's request");
    Ok(HttpResponse::Ok().json(pass))
}
