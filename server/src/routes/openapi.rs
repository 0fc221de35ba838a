//! The OpenAPI 3.1 document of the public API at `/api/v1/openapi.json`, generated from the
//! handlers' annotations and the bodies' Rust types, with every error code a route answers.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{accounts, airline, bookings, catalog, events, ops};
use crate::catalog::route_search::SortBy;

#[derive(OpenApi)]
#[openapi(
    info(title = "PassCom public API", version = "1", description = "Served identically by every airline of the federation."),
    paths(
        accounts::register,
        accounts::login,
        accounts::me,
        catalog::list_segments,
        catalog::segment,
        catalog::routes,
        catalog::cities,
        bookings::book,
        bookings::list_passes,
        bookings::get_pass,
        bookings::cancel_pass,
        events::pass_events,
        airline::publish,
        airline::change_price,
        airline::cancel,
        airline::sales,
        events::airline_events,
        ops::federation,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::jwks,
    ),
    components(schemas(SortBy)),
    modifiers(&BearerTokens)
)]
pub struct ApiDoc;

/// Passenger tokens: `Authorization: Bearer …` from `POST /api/v1/sessions`.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build());
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("bearer", bearer);
    }
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/openapi.json").get(document));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
