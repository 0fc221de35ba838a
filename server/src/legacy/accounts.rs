//! Accounts of the original API: registering and logging in go through our own account code,
//! so a login registered here is unique across the federation and works at every airline.

use passcom_shared::api::Credentials;
use passcom_shared::Code;
use uuid::Uuid;

use super::error::{LegacyError, LegacyResult};
use super::wire::{Credenciais, Sessao};
use crate::accounts::{self, InvalidInput, Login, NewPassword};
use crate::app::AppState;
use crate::error::ApiError;

fn invalid(e: InvalidInput) -> LegacyError {
    let message = match e {
        InvalidInput::Login => "O login deve ter de 3 a 64 letras, números, '.', '_' ou '-'",
        InvalidInput::Password => "A senha deve ter de 8 a 128 caracteres",
    };
    LegacyError::bad_request(message, e.to_string())
}

/// `POST /register-all` and `POST /register`: one registration for the whole federation.
pub async fn register(state: &AppState, request_id: &str, body: Credenciais) -> LegacyResult<()> {
    let login = Login::parse(&body.login).map_err(invalid)?;
    let password = NewPassword::parse(body.password).map_err(invalid)?;
    accounts::register(state, request_id, login, password).await?;
    Ok(())
}

pub async fn login(state: &AppState, body: Credenciais, address: Option<std::net::IpAddr>) -> LegacyResult<Sessao> {
    let credentials = Credentials { login: body.login, password: body.password };
    let session = accounts::login(state, credentials, address).await?;
    Ok(Sessao { access_token: session.access_token, user_uuid: session.user_id })
}

/// The user always comes from the token. A `user_uuid` that names another existing account is
/// refused; one that names nobody (the original script sends a fixed placeholder) is ignored.
pub async fn check_named_user(state: &AppState, token_user: Uuid, named: Option<&str>) -> LegacyResult<()> {
    let Some(named) = named.and_then(|raw| raw.trim().parse::<Uuid>().ok()) else { return Ok(()) };
    if named == token_user {
        return Ok(());
    }
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    match accounts::account(&mut conn, named).await.map_err(ApiError::from)? {
        Some(_) => Err(LegacyError::new(
            Code::Forbidden,
            "Acesso negado",
            "`user_uuid` names another user; the user comes from the token",
        )),
        None => Ok(()),
    }
}
