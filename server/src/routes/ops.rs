//! Liveness, readiness, metrics, the JWKS and the federation's state.

use actix_web::{web, HttpResponse};
use diesel_async::RunQueryDsl;
use passcom_shared::api::FederationStatus;
use serde_json::json;

use crate::app::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/metrics").get(metrics))
        .service(web::resource("/.well-known/jwks.json").get(jwks))
        .service(web::resource("/api/v1/federation").get(federation))
        .service(web::resource("/fault/panic").get(fault_panic));
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process is alive")))]
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 only when both the database and Redis answer; 503 names what does not.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "the database and Redis answer"), (status = 503, description = "names what does not answer")))]
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.pool.get().await {
        Ok(mut conn) => diesel::sql_query("SELECT 1").execute(&mut conn).await.is_ok(),
        Err(_) => false,
    };
    let redis = state.locks.ping().await.is_ok();
    let body = json!({
        "status": if database && redis { "ready" } else { "unavailable" },
        "airline": state.settings.airline,
        "checks": {"database": database, "redis": redis},
    });
    if database && redis {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations", responses((status = 200, description = "this airline's Ed25519 public key, `kid` = airline code")))]
pub(super) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("cache-control", "public, max-age=300")).json(state.keys.own().jwks())
}

#[utoipa::path(get, path = "/api/v1/federation", tag = "operations", responses((status = 200, body = FederationStatus)))]
pub(super) async fn federation(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .json(FederationStatus { airline: state.settings.airline.clone(), peers: state.federation.status() })
}

/// Fault injection for tests (`PASSCOM_FAULT_PANIC_ROUTE=1`): a handler that panics. Otherwise
/// there is nothing here.
async fn fault_panic(state: web::Data<AppState>) -> HttpResponse {
    if state.settings.faults.panic_route {
        panic!("fault injection: this handler panics");
    }
    super::not_found().await
}
