//! The connection pool and the embedded migrations. The pool is built in one place, with a wait
//! timeout and a per-connection statement timeout, so that a stuck database turns into a 503
//! instead of requests that hang.

use std::time::Duration;

use anyhow::Context;
use diesel::ConnectionError;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures::FutureExt;

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Any fixed number shared by every PassCom server: two replicas of one airline starting
/// together run the migrations one after the other.
const MIGRATION_LOCK: i64 = 0x5041_5353_434F_4D00;

const STATEMENT_TIMEOUT_MS: u64 = 5_000;

/// Gives a hand-written statement a static query id, which is what makes diesel prepare it once
/// per connection and reuse it.
macro_rules! prepared_once {
    ($statement:ident) => {
        impl diesel::query_builder::QueryId for $statement {
            type QueryId = $statement;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
    };
}
pub(crate) use prepared_once;

/// A Rust enum stored as one of a fixed set of words in a TEXT column, whose CHECK constraint
/// lists the same words: code compares variants, never string literals.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let word =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                match word.as_str() {
                    $($word => Ok(Self::$variant),)+
                    other => Err(format!(concat!("unknown ", stringify!($name), " `{}`"), other).into()),
                }
            }
        }
    };
}
pub(crate) use text_enum;

/// Takes the transaction-long lock `key` if no other connection holds it: one round of a worker
/// at a time across an airline's replicas. A worker that calls peers uses this rather than
/// locking rows (`FOR UPDATE`): a row lock gives the transaction an id, and a transaction with an
/// id held across a peer's call would hold back the horizon of every event stream for as long
/// as the peer takes (see `operations::events`).
pub async fn try_round_lock(conn: &mut AsyncPgConnection, key: i64) -> diesel::QueryResult<bool> {
    use diesel_async::RunQueryDsl;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("pg_try_advisory_xact_lock({key})")))
        .get_result(conn)
        .await
}

pub fn build_pool(database_url: &str, size: usize) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::default();
    // No test query on every checkout (a round trip each time): the pool already drops a
    // connection whose socket has closed or whose transaction broke.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(|url| establish_with_timeout(url).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

async fn establish_with_timeout(url: &str) -> Result<AsyncPgConnection, ConnectionError> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute(&format!("SET statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Runs the pending migrations under a session advisory lock.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_owned();
    // The migration harness is synchronous; the wrapper blocks on the async connection, which is
    // only allowed off the runtime's worker threads.
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&url)
            .context("connecting to run migrations")?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
        let result = conn.run_pending_migrations(MIGRATIONS).map(|applied| applied.len());
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
        let applied = result.map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
        Ok(())
    })
    .await
    .context("migration task panicked")?
}
