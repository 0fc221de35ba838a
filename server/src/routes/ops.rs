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

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 only when both the database and Redis answer; 503 names what does not.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
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

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("cache-control", "public, max-age=300")).json(state.keys.own().jwks())
}

async fn federation(state: web::Data<AppState>) -> HttpResponse {
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
