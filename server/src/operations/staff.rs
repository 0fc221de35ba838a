//! Staff accounts: created by `passcom-server staff add LOGIN` on the airline's own database,
//! never by self-registration. A staff member is a row of `users` with the role `staff`, so a
//! staff token's `sub` names an existing account like a passenger's does; the row is never put
//! in the outbox, so it exists only at its airline, and its token is honoured only there.

use std::io::BufRead;

use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::accounts::{Login, NewPassword};
use crate::auth::password::Passwords;
use crate::config::Settings;
use crate::db;

/// Where the command reads the password from when stdin should not be used (scripts).
pub const PASSWORD_VAR: &str = "PASSCOM_STAFF_PASSWORD";

#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Created(Uuid),
    /// The login was already staff here: its password is replaced.
    PasswordChanged(Uuid),
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("`{0}` is a passenger's login (or is being registered by one); pick another")]
    PassengersLogin(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    /// The role of the account holding the claim, if it exists yet.
    #[diesel(sql_type = Nullable<Text>)]
    role: Option<String>,
}

/// Adds a staff member of `airline`, or sets the password of an existing one. The login is
/// claimed here like a passenger's, so that no registration can take it at this airline.
pub async fn add(
    conn: &mut AsyncPgConnection,
    airline: &str,
    login: &Login,
    password_hash: &str,
) -> Result<Added, StaffError> {
    conn.transaction::<_, StaffError, _>(|conn| {
        async move {
            let new_id = Uuid::now_v7();
            let claimed: Vec<Row> = diesel::sql_query(
                "INSERT INTO login_claims (login, user_id) VALUES ($1, $2)
                 ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login
                 RETURNING user_id, (SELECT role FROM users WHERE users.login = $1) AS role",
            )
            .bind::<Text, _>(login.as_str())
            .bind::<SqlUuid, _>(new_id)
            .load(conn)
            .await?;
            let Some(claim) = claimed.into_iter().next() else {
                return Err(StaffError::PassengersLogin(login.as_str().to_owned()));
            };
            // Ours if we just claimed it or it is staff already; else a passenger has it, or a
            // registration holds the claim for an account not yet created.
            if claim.user_id != new_id && claim.role.as_deref() != Some("staff") {
                return Err(StaffError::PassengersLogin(login.as_str().to_owned()));
            }
            let updated = diesel::sql_query(
                "INSERT INTO users (user_id, login, password_hash, home_airline, role)
                 VALUES ($1, $2, $3, $4, 'staff')
                 ON CONFLICT (login) DO UPDATE SET password_hash = EXCLUDED.password_hash
                 WHERE users.role = 'staff' AND users.user_id = EXCLUDED.user_id",
            )
            .bind::<SqlUuid, _>(claim.user_id)
            .bind::<Text, _>(login.as_str())
            .bind::<Text, _>(password_hash)
            .bind::<Text, _>(airline)
            .execute(conn)
            .await?;
            match updated {
                1 if claim.user_id == new_id => Ok(Added::Created(new_id)),
                1 => Ok(Added::PasswordChanged(claim.user_id)),
                // A passenger's account appeared with this login meanwhile (replicated).
                _ => Err(StaffError::PassengersLogin(login.as_str().to_owned())),
            }
        }
        .scope_boxed()
    })
    .await
}

/// `passcom-server staff add LOGIN`: the password comes from `PASSCOM_STAFF_PASSWORD`, or else
/// from the first line of stdin. Returns what to print.
pub async fn add_command(settings: &Settings, raw_login: &str) -> anyhow::Result<String> {
    let login = Login::parse(raw_login)?;
    let password = match std::env::var(PASSWORD_VAR) {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let password = NewPassword::parse(password)?;
    db::migrate(&settings.database_url).await?;
    let hash = password.hash(&Passwords::new(1)).await?;
    let mut conn = <AsyncPgConnection as AsyncConnection>::establish(&settings.database_url).await?;
    let airline = settings.airline.as_str();
    Ok(match add(&mut conn, airline, &login, &hash).await? {
        Added::Created(id) => format!("staff {} of airline {airline} created ({id})", login.as_str()),
        Added::PasswordChanged(id) => {
            format!("staff {} of airline {airline} exists ({id}); password changed", login.as_str())
        }
    })
}
