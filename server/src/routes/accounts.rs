//! `/api/v1/accounts`, `/api/v1/sessions`, `/api/v1/me`.

use actix_web::{web, HttpRequest, HttpResponse};
use passcom_shared::api::{Account, Credentials, Session};
use passcom_shared::Problem;

use crate::accounts::{self, Login, NewPassword};
use crate::app::AppState;
use crate::auth::SessionHolder;
use crate::error::ApiResult;
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/accounts").post(register))
        .service(web::resource("/api/v1/sessions").post(login))
        .service(web::resource("/api/v1/me").get(me));
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = Credentials,
    responses((status = 201, body = Account, description = "registered at every airline"), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_body`"), (status = 413, body = Problem, content_type = "application/problem+json", description = "`payload_too_large`"), (status = 415, body = Problem, content_type = "application/problem+json", description = "`unsupported_media_type`"), (status = 409, body = Problem, content_type = "application/problem+json", description = "`login_taken`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`airline_unavailable` · `database_unavailable`")))]
pub(super) async fn register(
    state: web::Data<AppState>,
    rid: RequestId,
    body: web::Json<Credentials>,
) -> ApiResult<HttpResponse> {
    let Credentials { login, password } = body.into_inner();
    let login = Login::parse(&login)?;
    let password = NewPassword::parse(password)?;
    let account = accounts::register(&state, &rid.0, login, password).await?;
    Ok(HttpResponse::Created().json(account))
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = Credentials,
    responses((status = 200, body = Session), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_body`"), (status = 413, body = Problem, content_type = "application/problem+json", description = "`payload_too_large`"), (status = 415, body = Problem, content_type = "application/problem+json", description = "`unsupported_media_type`"), (status = 401, body = Problem, content_type = "application/problem+json", description = "`bad_credentials`"), (status = 429, body = Problem, content_type = "application/problem+json", description = "`too_many_requests`, with `Retry-After`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> ApiResult<HttpResponse> {
    // The connection's own address: a forwarding header is the client's word and would let
    // it pick a fresh allowance per request.
    let address = req.peer_addr().map(|a| a.ip());
    let session = accounts::login(&state, body.into_inner(), address).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(session))
}

/// The token already proves who this is; the local account, when it has arrived, is preferred.
/// Staff see their own account too.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_query`"), (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn me(state: web::Data<AppState>, passenger: SessionHolder) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let account = accounts::account(&mut conn, passenger.user_id)
        .await?
        .unwrap_or(Account { user_id: passenger.user_id, login: passenger.login });
    Ok(HttpResponse::Ok().json(account))
}
