//! Accounts: one registration for the whole federation, login at any airline.
//!
//! A login is claimed before its account exists, at every airline in one fixed order (by code),
//! and needs a majority of grants with no refusal. Two registrations of one login race at the
//! same first airline, so exactly one of them proceeds; and since any two majorities share an
//! airline, no two accounts can ever hold one login even while an airline is down. The account
//! then reaches every airline through the outbox.

use std::net::IpAddr;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::{Account, Credentials, Session};
use passcom_shared::client::PeerError;
use passcom_shared::internal::{LoginClaim, Replicated, ReplicatedAccount};
use passcom_shared::{AirlineCode, Code};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::password::Passwords;
use crate::auth::tokens::{self, Role};
use crate::error::{ApiError, ApiResult};
use crate::federation::Owner;
use crate::limits::LoginAttempt;
use crate::replication::outbox::{self, To};
use crate::schema::{login_claims, users};

/// Input that cannot become an account.
#[derive(Debug, thiserror::Error)]
pub enum InvalidInput {
    #[error("`login` must be 3-64 letters or digits, with single '.', '_' or '-' between them")]
    Login,
    #[error("`password` must be 8-128 characters")]
    Password,
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::invalid_body(e.to_string())
    }
}

/// A login: 3–64 characters of `a-z 0-9 . _ -`, compared in lowercase. The separators `. _ -`
/// only ever stand alone between letters or digits (`ana.silva`, not `.ana`, `ana.`, `a..b` or
/// `...`): look-alikes such as `rtkate.` beside `rtkate` are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let login = raw.trim().to_lowercase();
        let is_separator = |b: u8| b"._-".contains(&b);
        let bytes = login.as_bytes();
        let valid = (3..=64).contains(&login.chars().count())
            && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || is_separator(b))
            && !bytes.first().copied().is_some_and(is_separator)
            && !bytes.last().copied().is_some_and(is_separator)
            && !bytes.windows(2).any(|w| is_separator(w[0]) && is_separator(w[1]));
        if valid {
            Ok(Login(login))
        } else {
            Err(InvalidInput::Login)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8–128 characters. Only its length is judged here.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: String) -> Result<Self, InvalidInput> {
        if (8..=128).contains(&raw.chars().count()) {
            Ok(NewPassword(raw))
        } else {
            Err(InvalidInput::Password)
        }
    }

    /// The argon2id hash to store; the password itself goes no further.
    pub async fn hash(self, passwords: &Passwords) -> anyhow::Result<String> {
        passwords.hash(self.0).await
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ClaimOutcome {
    Granted,
    Taken,
    Unreachable,
}

#[tracing::instrument(skip_all, fields(login = %login.as_str()))]
pub async fn register(state: &AppState, request_id: &str, login: Login, password: NewPassword) -> ApiResult<Account> {
    let user_id = Uuid::now_v7();
    let claim = LoginClaim { login: login.0.clone(), user_id };
    {
        let mut conn = state.pool.get().await?;
        if login_exists(&mut conn, &login).await? {
            return Err(login_taken(&login));
        }
    }
    let password_hash = password.hash(&state.passwords).await.map_err(ApiError::internal)?;

    let mut outcomes = Vec::new();
    for (airline, owner) in state.federation.owners() {
        let outcome = claim_at(state, request_id, owner, &claim).await?;
        let taken = outcome == ClaimOutcome::Taken;
        outcomes.push((airline, outcome));
        if taken {
            break;
        }
    }
    let granted = outcomes.iter().filter(|(_, o)| *o == ClaimOutcome::Granted).count();
    let taken = outcomes.iter().any(|(_, o)| *o == ClaimOutcome::Taken);
    let majority = granted * 2 > state.federation.peers().len() + 1;
    if taken || !majority {
        release_claims(state, request_id, &claim, &outcomes).await;
        return Err(if taken {
            login_taken(&login)
        } else {
            ApiError::new(
                Code::AirlineUnavailable,
                "too few airlines are reachable to register a login that is unique everywhere; try again shortly",
            )
        });
    }

    let account = ReplicatedAccount {
        user_id,
        login: login.0.clone(),
        password_hash,
        home_airline: state.settings.airline.clone(),
        created_at: Utc::now(),
    };
    let mut conn = state.pool.get().await?;
    outbox::transaction::<_, ApiError, _>(state, &mut conn, |conn| {
        async move {
            insert_account(conn, &account).await?;
            outbox::enqueue(state, conn, To::EveryPeer, &Replicated::Account(account.clone())).await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await?;
    Ok(Account { user_id, login: login.0 })
}

/// Asks one airline to reserve the login for this registration.
async fn claim_at(state: &AppState, request_id: &str, owner: Owner<'_>, claim: &LoginClaim) -> ApiResult<ClaimOutcome> {
    Ok(match owner {
        Owner::Here => {
            let mut conn = state.pool.get().await?;
            if claim_locally(&mut conn, claim, &state.settings.airline).await? {
                ClaimOutcome::Granted
            } else {
                ClaimOutcome::Taken
            }
        }
        Owner::Peer(peer) => match peer.claim_login(request_id, claim).await {
            Ok(_) => ClaimOutcome::Granted,
            Err(PeerError::Refused(p)) if p.code == Code::LoginTaken => ClaimOutcome::Taken,
            Err(_) => ClaimOutcome::Unreachable,
        },
    })
}

async fn release_claims(
    state: &AppState,
    request_id: &str,
    claim: &LoginClaim,
    outcomes: &[(AirlineCode, ClaimOutcome)],
) {
    for (airline, _) in outcomes.iter().filter(|(_, o)| *o == ClaimOutcome::Granted) {
        let released = match state.federation.owner(airline) {
            Some(Owner::Here) => match state.pool.get().await {
                Ok(mut conn) => release_locally(&mut conn, claim, &state.settings.airline)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Some(Owner::Peer(peer)) => peer.release_login(request_id, claim).await.map(drop).map_err(|e| e.to_string()),
            None => Ok(()),
        };
        if let Err(e) = released {
            // The login stays reserved at that airline; no account can be made with it there
            // until an operator deletes the claim. Safe, if unfriendly.
            tracing::warn!(%airline, error = %e, "could not release a login claim");
        }
    }
}

pub fn login_taken(login: &Login) -> ApiError {
    ApiError::new(Code::LoginTaken, format!("the login `{}` is already registered", login.as_str()))
}

async fn login_exists(conn: &mut AsyncPgConnection, login: &Login) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.filter(users::login.eq(login.as_str())))).get_result(conn).await
}

/// Grants `by`'s claim unless another user (or another airline's claim) holds this login here.
/// Idempotent: the same claim from the same airline is granted again.
pub async fn claim_locally(conn: &mut AsyncPgConnection, claim: &LoginClaim, by: &AirlineCode) -> QueryResult<bool> {
    let owner_account: Option<Uuid> =
        users::table.filter(users::login.eq(&claim.login)).select(users::user_id).first(conn).await.optional()?;
    if owner_account.is_some_and(|owner| owner != claim.user_id) {
        return Ok(false);
    }
    diesel::insert_into(login_claims::table)
        .values((
            login_claims::login.eq(&claim.login),
            login_claims::user_id.eq(claim.user_id),
            login_claims::claimed_by.eq(by.as_str()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let (holder, holder_by): (Uuid, Option<String>) = login_claims::table
        .filter(login_claims::login.eq(&claim.login))
        .select((login_claims::user_id, login_claims::claimed_by))
        .first(conn)
        .await?;
    Ok(holder == claim.user_id && holder_by.as_deref() == Some(by.as_str()))
}

/// What became of a request to drop a claim.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// Dropped, or already gone (a repeat).
    Done,
    /// The claim is another airline's (or has become an account): it stays.
    NotYours,
}

/// Drops `by`'s claim that never became an account.
pub async fn release_locally(
    conn: &mut AsyncPgConnection,
    claim: &LoginClaim,
    by: &AirlineCode,
) -> QueryResult<Released> {
    let deleted = diesel::sql_query(
        "DELETE FROM login_claims c WHERE c.login = $1 AND c.user_id = $2 AND c.claimed_by = $3
            AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = c.user_id)",
    )
    .bind::<diesel::sql_types::Text, _>(&claim.login)
    .bind::<diesel::sql_types::Uuid, _>(claim.user_id)
    .bind::<diesel::sql_types::Text, _>(by.as_str())
    .execute(conn)
    .await?;
    let remains: bool = diesel::select(diesel::dsl::exists(
        login_claims::table
            .filter(login_claims::login.eq(&claim.login))
            .filter(login_claims::user_id.eq(claim.user_id)),
    ))
    .get_result(conn)
    .await?;
    Ok(if deleted > 0 || !remains { Released::Done } else { Released::NotYours })
}

/// Stores an account made here or replicated from a peer; a repeat changes nothing.
/// Returns false when another user already has this login here.
pub async fn insert_account(conn: &mut AsyncPgConnection, account: &ReplicatedAccount) -> QueryResult<bool> {
    diesel::insert_into(login_claims::table)
        .values((
            login_claims::login.eq(&account.login),
            login_claims::user_id.eq(account.user_id),
            login_claims::claimed_by.eq(account.home_airline.as_str()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let inserted = diesel::insert_into(users::table)
        .values((
            users::user_id.eq(account.user_id),
            users::login.eq(&account.login),
            users::password_hash.eq(&account.password_hash),
            users::home_airline.eq(account.home_airline.as_str()),
            users::created_at.eq(account.created_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(true);
    }
    let same_user: bool = diesel::select(diesel::dsl::exists(users::table.filter(users::user_id.eq(account.user_id))))
        .get_result(conn)
        .await?;
    Ok(same_user)
}

#[tracing::instrument(skip_all)]
pub async fn login(state: &AppState, credentials: Credentials, address: Option<IpAddr>) -> ApiResult<Session> {
    let attempt = LoginAttempt::start(state, &credentials.login.trim().to_lowercase(), address).await?;
    // A malformed login cannot exist: it gets the same answer, after the same work, as a
    // wrong password.
    let login = Login::parse(&credentials.login).ok();
    let found: Option<(Uuid, String, String, String)> = match &login {
        Some(login) => {
            let mut conn = state.pool.get().await?;
            users::table
                .filter(users::login.eq(login.as_str()))
                .select((users::user_id, users::login, users::password_hash, users::role))
                .first(&mut conn)
                .await
                .optional()?
        }
        None => None,
    };
    let stored_hash = found.as_ref().map(|(_, _, hash, _)| hash.clone());
    let valid = credentials.password.len() <= 1024
        && state.passwords.verify(credentials.password, stored_hash).await.map_err(ApiError::internal)?;
    let (user_id, login, _, role) = match found {
        Some(found) if valid => found,
        _ => return Err(ApiError::new(Code::BadCredentials, "the login or the password is wrong")),
    };
    let role =
        Role::parse(&role).ok_or_else(|| ApiError::internal(anyhow::anyhow!("user {user_id} has role `{role}`")))?;
    attempt.succeeded(state).await;
    let ttl = state.settings.token_ttl.as_secs();
    let ttl_secs = i64::try_from(ttl).unwrap_or(3600);
    let access_token = tokens::issue_session(state.keys.own(), user_id, &login, role, ttl_secs)?;
    Ok(Session { access_token, token_type: "Bearer".into(), expires_in: ttl, user_id })
}

pub async fn account(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Option<Account>> {
    users::table
        .filter(users::user_id.eq(user_id))
        .select((users::user_id, users::login))
        .first::<(Uuid, String)>(conn)
        .await
        .optional()
        .map(|found| found.map(|(user_id, login)| Account { user_id, login }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn look_alike_logins_are_refused() {
        for good in ["ana", "Maria.Silva", "while-c-sleeps", "a_b", "r2d2", "a.b-c_d"] {
            assert!(Login::parse(good).is_ok(), "{good}");
        }
        for bad in ["rtkate.", ".rtkate", "...", "___", "-_-", "a..b", "a._b", "a-.b", "ab", "a b", "ana!", "ánа"] {
            assert!(Login::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Login::parse("  ANA ").unwrap().as_str(), "ana", "trimmed and lowercased");
    }

    /// The grammar, read differently: words of letters and digits joined by single separators.
    fn login_grammar(raw: &str) -> bool {
        let login = raw.trim().to_lowercase();
        let words_ok = login
            .split(['.', '_', '-'])
            .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        words_ok && (3..=64).contains(&login.chars().count())
    }

    proptest! {
        #[test]
        fn logins_accept_exactly_their_grammar(raw in "\\PC{0,12}|[a-zA-Z0-9._ -]{0,70}") {
            prop_assert_eq!(Login::parse(&raw).is_ok(), login_grammar(&raw), "{:?}", raw);
        }

        #[test]
        fn passwords_are_judged_by_length_only(raw in "\\PC{0,140}") {
            prop_assert_eq!(NewPassword::parse(raw.clone()).is_ok(), (8..=128).contains(&raw.chars().count()));
        }
    }
}
