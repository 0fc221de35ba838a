//! Test passengers: created through the public API, one batch per server, each logged in at the
//! server that created it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use passcom_shared::api::{Credentials, Session};
use uuid::Uuid;

use crate::client::{ApiClient, CallError, CallResult};

#[derive(Debug, Clone)]
pub struct User {
    pub login: String,
    pub password: String,
    pub user_id: Uuid,
    /// Index (into the tool's server list) of the server that created the account and issued
    /// `token`.
    pub home: usize,
    /// A bearer token. Every airline accepts every airline's tokens, so it is good at any server.
    pub token: String,
}

impl User {
    pub fn credentials(&self) -> Credentials {
        Credentials { login: self.login.clone(), password: self.password.clone() }
    }
}

/// How long a login keeps being retried while it is refused: an account created at one server
/// reaches the others within about a second.
const REPLICATION_PATIENCE: Duration = Duration::from_secs(5);

/// Logs in, retrying a 401 until [`REPLICATION_PATIENCE`] is over: right after the account was
/// created elsewhere, "no such login" only means "not replicated here yet".
pub async fn log_in(server: &ApiClient, credentials: &Credentials) -> CallResult<Session> {
    let deadline = Instant::now() + REPLICATION_PATIENCE;
    loop {
        match server.log_in(credentials).await {
            Err(CallError::Status { status: 401, .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Creates `per_server` users at each server and logs each in there. Logins are
/// `{prefix}-{run}-{server}-{n}`, with a random `run`, so that runs never collide. Password
/// hashing is deliberately slow, so at most `parallelism` accounts are made at once.
pub async fn create_users(
    servers: &[ApiClient],
    per_server: usize,
    prefix: &str,
    parallelism: usize,
) -> Result<Vec<User>> {
    let run = &Uuid::new_v4().simple().to_string()[..10];
    let wanted: Vec<(usize, usize)> =
        (0..servers.len()).flat_map(|server| (0..per_server).map(move |n| (server, n))).collect();
    futures::stream::iter(wanted)
        .map(|(home, n)| async move {
            let credentials = Credentials {
                login: format!("{prefix}-{run}-{home}-{n}"),
                password: Uuid::new_v4().simple().to_string(),
            };
            let server = &servers[home];
            let account = server
                .create_account(&credentials)
                .await
                .with_context(|| format!("creating user {} at {}", credentials.login, server.label()))?;
            let session = log_in(server, &credentials)
                .await
                .with_context(|| format!("logging {} in at {}", credentials.login, server.label()))?;
            Ok(User {
                login: credentials.login,
                password: credentials.password,
                user_id: account.user_id,
                home,
                token: session.access_token,
            })
        })
        .buffered(parallelism.max(1))
        .try_collect()
        .await
}
