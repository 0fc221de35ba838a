//! `/internal/v1`: what airlines ask of each other. Every route takes a `ServiceCaller`, so
//! anonymous calls and passenger tokens are refused before any handler runs.

use actix_web::{web, HttpResponse};
use passcom_shared::client::FinishAction;
use passcom_shared::internal::{
    CityBatch, DecisionBody, HoldGranted, HoldRequest, LoginClaim, ReplicationBatch, SeatsChanged, SegmentBatch,
    SegmentFilter, MAX_REPLICATION_BODY,
};
use passcom_shared::{SegmentId, MAX_LEGS};
use uuid::Uuid;

use crate::accounts::{self, Login};
use crate::app::AppState;
use crate::auth::ServiceCaller;
use crate::booking::{log, owners, participant};
use crate::catalog::local;
use crate::error::{ApiError, ApiResult};
use crate::replication::inbox;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/segments", web::get().to(segments))
            .route("/cities", web::get().to(cities))
            .route("/segments/{segment_id}", web::get().to(segment))
            .route("/login-claims", web::post().to(claim_login))
            .route("/login-claims", web::delete().to(release_login))
            .service(
                web::resource("/replication")
                    .app_data(super::json_config(MAX_REPLICATION_BODY))
                    .route(web::post().to(replicate)),
            )
            .route("/holds", web::post().to(hold))
            .route("/holds/{booking_id}/{action}", web::post().to(finish))
            .route("/bookings/{booking_id}/decision", web::get().to(decision)),
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

async fn claim_login(
    state: web::Data<AppState>,
    _: ServiceCaller,
    body: web::Json<LoginClaim>,
) -> ApiResult<HttpResponse> {
    let claim = body.into_inner();
    let login = Login::parse(&claim.login)?;
    let mut conn = state.pool.get().await?;
    if accounts::claim_locally(&mut conn, &claim).await? {
        Ok(HttpResponse::Ok().json(claim))
    } else {
        Err(accounts::login_taken(&login))
    }
}

async fn release_login(
    state: web::Data<AppState>,
    _: ServiceCaller,
    body: web::Json<LoginClaim>,
) -> ApiResult<HttpResponse> {
    let claim = body.into_inner();
    let mut conn = state.pool.get().await?;
    accounts::release_locally(&mut conn, &claim).await?;
    Ok(HttpResponse::Ok().json(claim))
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
    let held_until = participant::hold(&mut conn, req.booking_id, &req.coordinator, &req.legs, state.settings.hold_ttl)
        .await
        .map_err(|e| e.refusal(own, |i| i))?;
    Ok(HttpResponse::Ok().json(HoldGranted { booking_id: req.booking_id, held_until }))
}

async fn finish(
    state: web::Data<AppState>,
    caller: ServiceCaller,
    path: web::Path<(Uuid, FinishAction)>,
) -> ApiResult<HttpResponse> {
    let (booking_id, action) = path.into_inner();
    let mut conn = state.pool.get().await?;
    // Any airline may release a cancelled pass (it can be cancelled anywhere), but only the
    // coordinator decides a booking: a decision only touches the seats held for its sender.
    let seats = owners::finish_here(&state, &mut conn, booking_id, action, Some(&caller.airline)).await?;
    let intruder = seats == 0
        && action != FinishAction::Release
        && participant::coordinated_by_another(&mut conn, booking_id, &caller.airline).await?;
    if intruder {
        return Err(ApiError::forbidden("only the booking's coordinator may commit or abort it"));
    }
    Ok(HttpResponse::Ok().json(SeatsChanged { booking_id, seats: seats as u64 }))
}

async fn decision(state: web::Data<AppState>, _: ServiceCaller, path: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let booking_id = path.into_inner();
    let mut conn = state.pool.get().await?;
    let decision = log::decision(&mut conn, booking_id).await?;
    Ok(HttpResponse::Ok().json(DecisionBody { booking_id, decision }))
}
