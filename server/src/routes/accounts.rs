//! `/api/v1/accounts`, `/api/v1/sessions`, `/api/v1/me`.

use actix_web::{web, HttpRequest, HttpResponse};
use passcom_shared::api::{Account, Credentials};

use crate::accounts::{self, Login, NewPassword};
use crate::app::AppState;
use crate::auth::Passenger;
use crate::error::ApiResult;
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/accounts").post(register))
        .service(web::resource("/api/v1/sessions").post(login))
        .service(web::resource("/api/v1/me").get(me));
}

async fn register(state: web::Data<AppState>, rid: RequestId, body: web::Json<Credentials>) -> ApiResult<HttpResponse> {
    let Credentials { login, password } = body.into_inner();
    let login = Login::parse(&login)?;
    let password = NewPassword::parse(password)?;
    let account = accounts::register(&state, &rid.0, login, password).await?;
    Ok(HttpResponse::Created().json(account))
}

async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Json<Credentials>) -> ApiResult<HttpResponse> {
    // The connection's own address: a forwarding header is the client's word and would let
    // it pick a fresh allowance per request.
    let address = req.peer_addr().map(|a| a.ip());
    let session = accounts::login(&state, body.into_inner(), address).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(session))
}

/// The token already proves who this is; the local account, when it has arrived, is preferred.
async fn me(state: web::Data<AppState>, passenger: Passenger) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let account = accounts::account(&mut conn, passenger.user_id)
        .await?
        .unwrap_or(Account { user_id: passenger.user_id, login: passenger.login });
    Ok(HttpResponse::Ok().json(account))
}
