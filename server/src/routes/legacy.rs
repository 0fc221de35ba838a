//! The original PassCom API at the root of every server (see `crate::legacy`): thin handlers
//! that parse the original bodies, call the adapter, and answer the way the original did.
//! Every answer, refusals included, is JSON with a `message`; CORS is answered here only.

use actix_web::error::JsonPayloadError;
use actix_web::middleware::from_fn;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, Route};
use futures::future::LocalBoxFuture;
use passcom_shared::Code;

use super::JSON_LIMIT;
use crate::app::AppState;
use crate::auth::Passenger;
use crate::legacy::cors::cors;
use crate::legacy::error::{LegacyError, LegacyResult};
use crate::legacy::wire::{Credenciais, Mensagem, PedidoRota, Reserva};
use crate::legacy::{accounts, booking, catalog};
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    let routes: [(&str, Route); 9] = [
        ("/register-all", web::post().to(register)),
        ("/register", web::post().to(register)),
        ("/login", web::post().to(login)),
        ("/trechos", web::get().to(trechos)),
        ("/all-trechos", web::get().to(all_trechos)),
        ("/rotas", web::post().to(rotas)),
        ("/reservar", web::post().to(reservar)),
        ("/passagens-all/{user_uuid}", web::get().to(passagens)),
        ("/passagem-all/{user_uuid}/{uuid}", web::delete().to(cancelar)),
    ];
    for (path, route) in routes {
        cfg.service(
            web::resource(path)
                .app_data(json_config())
                .route(route)
                .default_service(web::to(method_not_allowed))
                .wrap(from_fn(cors)),
        );
    }
}

/// The original clients do not always say `Content-Type: application/json`; a body is read as
/// JSON whatever its content type (or none) says, and refused only if it is not.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(JSON_LIMIT).content_type_required(false).error_handler(json_error)
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    LegacyError::from(super::json_failure(&err)).into()
}

async fn method_not_allowed() -> LegacyResult<HttpResponse> {
    Err(LegacyError::new(Code::MethodNotAllowed, "Método não permitido", "this URL does not accept that method"))
}

/// A passenger from a bearer token, refused the original API's way.
struct Authenticated(Passenger);

impl FromRequest for Authenticated {
    type Error = LegacyError;
    type Future = LocalBoxFuture<'static, Result<Self, LegacyError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let passenger = Passenger::from_request(req, payload);
        Box::pin(async move { passenger.await.map(Authenticated).map_err(LegacyError::from) })
    }
}

fn ok(message: &'static str) -> HttpResponse {
    HttpResponse::Ok().json(Mensagem { message })
}

async fn register(
    state: web::Data<AppState>,
    rid: RequestId,
    body: web::Json<Credenciais>,
) -> LegacyResult<HttpResponse> {
    accounts::register(&state, &rid.0, body.into_inner()).await?;
    Ok(ok("Usuário criado com sucesso"))
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credenciais>,
) -> LegacyResult<HttpResponse> {
    // Throttled by the connection's own address, as our own login is.
    let session = accounts::login(&state, body.into_inner(), req.peer_addr().map(|a| a.ip())).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(session))
}

async fn trechos(state: web::Data<AppState>, rid: RequestId) -> LegacyResult<HttpResponse> {
    let (list, missing) = catalog::trechos(&state, &rid.0, false).await;
    // Only this airline was asked: if it did not answer, nothing can be listed.
    if !missing.is_empty() {
        return Err(LegacyError::new(
            Code::DatabaseUnavailable,
            "Serviço indisponível, tente novamente",
            "this airline's catalog cannot be read right now",
        ));
    }
    Ok(HttpResponse::Ok().json(list))
}

/// Airlines that did not answer are left out, as the original did; a header names them.
async fn all_trechos(state: web::Data<AppState>, rid: RequestId) -> HttpResponse {
    let (list, missing) = catalog::trechos(&state, &rid.0, true).await;
    let mut answer = HttpResponse::Ok();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|a| a.as_str()).collect();
        answer.insert_header(("x-unavailable-airlines", names.join(",")));
    }
    answer.json(list)
}

/// Cities are at most this long.
const MAX_CITY_CHARS: usize = 100;

async fn rotas(state: web::Data<AppState>, rid: RequestId, body: web::Json<PedidoRota>) -> LegacyResult<HttpResponse> {
    let PedidoRota { origem, destino } = body.into_inner();
    for city in [&origem, &destino] {
        if city.trim().is_empty() || city.chars().count() > MAX_CITY_CHARS {
            return Err(LegacyError::bad_request(
                "Informe a origem e o destino",
                format!("`origem` and `destino` are 1-{MAX_CITY_CHARS} characters"),
            ));
        }
    }
    Ok(HttpResponse::Ok().json(catalog::rotas(&state, &rid.0, origem, destino).await?))
}

async fn reservar(
    state: web::Data<AppState>,
    rid: RequestId,
    user: Authenticated,
    body: web::Json<Reserva>,
) -> LegacyResult<HttpResponse> {
    let Reserva { user_uuid, trechos } = body.into_inner();
    accounts::check_named_user(&state, user.0.user_id, user_uuid.as_ref().and_then(|v| v.as_str())).await?;
    booking::reserve(&state, &rid.0, user.0.user_id, &trechos).await?;
    Ok(ok("Reserva efetuada com sucesso"))
}

async fn passagens(
    state: web::Data<AppState>,
    rid: RequestId,
    user: Authenticated,
    path: web::Path<String>,
) -> LegacyResult<HttpResponse> {
    accounts::check_named_user(&state, user.0.user_id, Some(&path)).await?;
    let passes = booking::passes(&state, &rid.0, user.0.user_id).await?;
    if passes.is_empty() {
        return Err(LegacyError::not_found("Nenhuma passagem encontrada"));
    }
    Ok(HttpResponse::Ok().json(passes))
}

async fn cancelar(
    state: web::Data<AppState>,
    rid: RequestId,
    user: Authenticated,
    path: web::Path<(String, String)>,
) -> LegacyResult<HttpResponse> {
    let (user_uuid, pass_id) = path.into_inner();
    accounts::check_named_user(&state, user.0.user_id, Some(&user_uuid)).await?;
    booking::cancel(&state, &rid.0, &user.0, &pass_id).await?;
    Ok(ok("Passagem deletada com sucesso"))
}
