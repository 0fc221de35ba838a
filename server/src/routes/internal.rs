//! `/internal/v1`: what airlines ask of each other. Every route takes a `ServiceCaller`, so
//! anonymous calls and passenger tokens are refused before any handler runs.

use actix_web::{web, HttpResponse};
use passcom_shared::client::FinishAction;
use passcom_shared::internal::{
    DecisionBody, HoldGranted, HoldRequest, LoginClaim, Replicated, ReplicationBatch, ReplicationReceipt, SeatsChanged,
    SegmentBatch, SegmentFilter, MAX_REPLICATION_BODY,
};
use passcom_shared::SegmentId;
use uuid::Uuid;

use crate::accounts;
use crate::auth::ServiceCaller;
use crate::booking::coordinator::{hold_refusal, MAX_LEGS};
use crate::booking::{participant, recovery};
use crate::catalog;
use crate::error::{ApiError, ApiResult};
use crate::federation::catalog as fed_catalog;
use crate::outbox;
use crate::startup::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/segments", web::get().to(segments))
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
    let filter = query.into_inner();
    let segments = match &filter.ids {
        Some(ids) => {
            let ids = ids
                .split(',')
                .take(MAX_LEGS)
                .map(SegmentId::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
            let mut conn = state.pool.get().await?;
            catalog::by_ids(&mut conn, &state.settings.airline, &ids).await?
        }
        None => fed_catalog::matching(&fed_catalog::local_catalog(&state).await?, &filter).cloned().collect(),
    };
    Ok(HttpResponse::Ok().json(SegmentBatch { segments }))
}

async fn segment(state: web::Data<AppState>, _: ServiceCaller, path: web::Path<SegmentId>) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let mut conn = state.pool.get().await?;
    let detail = catalog::detail(&mut conn, &state.settings.airline, &id)
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
    let login = accounts::Login::parse(&claim.login)?;
    let mut conn = state.pool.get().await?;
    if accounts::claim_locally(&mut conn, &claim).await? {
        Ok(HttpResponse::Ok().json(claim))
    } else {
        Err(ApiError::conflict("login_taken", format!("the login `{}` is already registered", login.as_str())))
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
    let batch = body.into_inner();
    for message in &batch.messages {
        match message {
            Replicated::Account(account) => drop(accounts::Login::parse(&account.login)?),
            Replicated::Pass(pass) if pass.pass.legs.is_empty() || pass.pass.legs.len() > MAX_LEGS => {
                return Err(ApiError::invalid_body(format!("a pass has 1 to {MAX_LEGS} legs")));
            }
            _ => {}
        }
    }
    let mut conn = state.pool.get().await?;
    let (applied, refused) = outbox::apply(&mut conn, &caller.airline, &batch).await?;
    Ok(HttpResponse::Ok().json(ReplicationReceipt { applied, refused }))
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
        .map_err(|e| hold_refusal(e, own, |i| i))?;
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
    let by = Some(&caller.airline);
    let seats = match action {
        FinishAction::Commit => participant::commit(&mut conn, booking_id, by).await?,
        FinishAction::Abort => participant::abort(&mut conn, booking_id, by).await?,
        FinishAction::Release => participant::release(&mut conn, booking_id).await?,
    };
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
    let decision = recovery::decision(&mut conn, booking_id).await?;
    Ok(HttpResponse::Ok().json(DecisionBody { booking_id, decision }))
}
