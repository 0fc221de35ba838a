//! Typed settings, read once from the environment (DESIGN §7). No global: a test builds three of
//! these side by side. Every variable that is set but invalid, or required but missing, stops the
//! start-up with a message naming it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use passcom_shared::AirlineCode;

use crate::booking::pass_id::tags_collide;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub airline: AirlineCode,
    pub url: String,
}

/// How long after its deadline a booking may still be deciding before recovery aborts it. A live
/// request needs only its decision transaction by then (a pooled connection and three
/// statements, milliseconds when the database is well); a request slower than this is answered
/// 503 `booking_timed_out` rather than 201, never both. What it buys is liveness: seats held by
/// a booking whose coordinator died are freed seconds after the deadline, not a minute.
pub const PREPARE_MARGIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Settings {
    pub airline: AirlineCode,
    pub bind: SocketAddr,
    pub public_url: String,
    pub database_url: String,
    pub db_pool_size: usize,
    pub redis_url: String,
    /// Prefix of every Redis key; tests give each run its own namespace.
    pub redis_prefix: String,
    pub peers: Vec<PeerConfig>,
    pub signing_key_path: PathBuf,
    pub token_ttl: Duration,
    pub lock_ttl: Duration,
    pub hold_ttl: Duration,
    /// A booking still `preparing` after this long is aborted by recovery: by default its
    /// deadline plus [`PREPARE_MARGIN`].
    pub prepare_timeout: Duration,
    /// How long a booking waits for its holds; a hold arriving at its owner later is refused,
    /// and the client has its answer about this long after it asked, whatever the peers do.
    pub booking_deadline: Duration,
    /// A participant asks the coordinator about a hold this old instead of waiting out its
    /// TTL: its booking should have been decided long before.
    pub hold_check_after: Duration,
    pub peer_connect_timeout: Duration,
    pub peer_request_timeout: Duration,
    /// Consecutive failures that open a peer's circuit breaker, and how long it stays open.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub worker_interval: Duration,
    /// How long a catalog read (ours or a peer's) is reused.
    pub catalog_ttl: Duration,
    /// How long each airline's day of segments is reused by search.
    pub search_cache_ttl: Duration,
    /// How long a search waits for a catalog it has no copy of.
    pub catalog_wait: Duration,
    /// How long the last good copy of a catalog is served while its airline does not answer.
    pub catalog_stale: Duration,
    /// A route search answers with what it has found after this long.
    pub search_deadline: Duration,
    pub http_workers: usize,
    pub json_logs: bool,
    pub limits: LimitSettings,
    /// Web origins whose pages may call the original PassCom API (`legacy`) from a browser.
    pub cors_origins: Vec<String>,
    pub faults: Faults,
}

/// What one client may do (README, "Limits"). Zero turns a limit off.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Login attempts per login, and per client address, within one `login_window`.
    pub logins_per_login: u64,
    pub logins_per_address: u64,
    pub login_window: Duration,
    /// Bookings one account may start per minute, at all airlines together.
    pub bookings_per_minute: u64,
    /// Confirmed seats one passenger may hold on one flight.
    pub seats_per_flight: u64,
    /// How long a client may take to send its request head and body.
    pub client_request_timeout: Duration,
}

/// Pauses at the two instants a crash hurts most, so a test can SIGKILL a real process there.
/// Zero (the default) in production; the kill itself is always real.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub pause_after_prepare: Duration,
    pub pause_after_decision: Duration,
    /// `GET /fault/panic` panics, to show what a panic in a handler does.
    pub panic_route: bool,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let airline: AirlineCode = env.parsed("PASSCOM_AIRLINE", None)?;
        let bind: SocketAddr = env.parsed("PASSCOM_BIND", Some("127.0.0.1:8001"))?;
        let public_url = env.string("PASSCOM_PUBLIC_URL", Some(&format!("http://{bind}")))?;
        let signing_key_path = PathBuf::from(env.string("PASSCOM_SIGNING_KEY", Some(&format!("keys/{airline}.pem")))?);
        let peers_raw = env.string("PASSCOM_PEERS", Some(""))?;
        let peers =
            parse_peers(&peers_raw, &airline).map_err(|problem| ConfigError { var: "PASSCOM_PEERS", problem })?;
        let booking_deadline = env.millis("PASSCOM_BOOKING_DEADLINE_MS", "2500")?;
        let prepare_timeout = if env.is_set("PASSCOM_PREPARE_TIMEOUT_SECS") {
            env.secs("PASSCOM_PREPARE_TIMEOUT_SECS", "0")?
        } else {
            booking_deadline + PREPARE_MARGIN
        };
        let cors_origins = parse_origins(&env.string("PASSCOM_CORS_ORIGINS", Some("http://localhost:5050"))?)
            .map_err(|problem| ConfigError { var: "PASSCOM_CORS_ORIGINS", problem })?;
        Ok(Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            database_url: env.string("DATABASE_URL", None)?,
            db_pool_size: env.parsed("PASSCOM_DB_POOL_SIZE", Some("16"))?,
            redis_url: env.string("REDIS_URL", Some("redis://127.0.0.1:6379"))?,
            redis_prefix: env.string("PASSCOM_REDIS_PREFIX", Some("passcom"))?,
            peers,
            signing_key_path,
            token_ttl: env.secs("PASSCOM_TOKEN_TTL_SECS", "3600")?,
            lock_ttl: env.millis("PASSCOM_LOCK_TTL_MS", "30000")?,
            hold_ttl: env.secs("PASSCOM_HOLD_TTL_SECS", "600")?,
            prepare_timeout,
            booking_deadline,
            hold_check_after: env.secs("PASSCOM_HOLD_CHECK_SECS", "10")?,
            peer_connect_timeout: env.millis("PASSCOM_PEER_CONNECT_TIMEOUT_MS", "500")?,
            peer_request_timeout: env.millis("PASSCOM_PEER_TIMEOUT_MS", "3000")?,
            breaker_threshold: env.parsed("PASSCOM_BREAKER_THRESHOLD", Some("3"))?,
            breaker_cooldown: env.millis("PASSCOM_BREAKER_COOLDOWN_MS", "2000")?,
            worker_interval: env.millis("PASSCOM_WORKER_INTERVAL_MS", "500")?,
            catalog_ttl: env.millis("PASSCOM_CATALOG_CACHE_MS", "1000")?,
            catalog_wait: env.millis("PASSCOM_CATALOG_WAIT_MS", "1000")?,
            catalog_stale: env.secs("PASSCOM_CATALOG_STALE_SECS", "300")?,
            search_deadline: env.millis("PASSCOM_SEARCH_DEADLINE_MS", "500")?,
            search_cache_ttl: env.millis("PASSCOM_SEARCH_CACHE_MS", "15000")?,
            http_workers: env.parsed("PASSCOM_HTTP_WORKERS", Some("2"))?,
            json_logs: env.string("PASSCOM_LOG_FORMAT", Some("text"))? == "json",
            limits: LimitSettings {
                logins_per_login: env.parsed("PASSCOM_LOGIN_ATTEMPTS_PER_LOGIN", Some("5"))?,
                logins_per_address: env.parsed("PASSCOM_LOGIN_ATTEMPTS_PER_ADDRESS", Some("30"))?,
                login_window: env.secs("PASSCOM_LOGIN_WINDOW_SECS", "300")?,
                bookings_per_minute: env.parsed("PASSCOM_BOOKINGS_PER_MINUTE", Some("30"))?,
                seats_per_flight: env.parsed("PASSCOM_MAX_SEATS_PER_FLIGHT", Some("9"))?,
                client_request_timeout: env.millis("PASSCOM_CLIENT_REQUEST_TIMEOUT_MS", "5000")?,
            },
            cors_origins,
            faults: Faults {
                pause_after_prepare: env.millis("PASSCOM_FAULT_PAUSE_AFTER_PREPARE_MS", "0")?,
                pause_after_decision: env.millis("PASSCOM_FAULT_PAUSE_AFTER_DECISION_MS", "0")?,
                panic_route: env.string("PASSCOM_FAULT_PANIC_ROUTE", Some("0"))? == "1",
            },
            airline,
            bind,
        })
    }
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// For a default that depends on other settings.
    fn is_set(&self, var: &'static str) -> bool {
        (self.0)(var).is_some_and(|v| !v.is_empty())
    }

    fn string(&self, var: &'static str, default: Option<&str>) -> Result<String, ConfigError> {
        match (self.0)(var).filter(|v| !v.is_empty()) {
            Some(value) => Ok(value),
            None => default.map(str::to_owned).ok_or(ConfigError { var, problem: "is required but not set".into() }),
        }
    }

    fn parsed<T>(&self, var: &'static str, default: Option<&str>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let raw = self.string(var, default)?;
        raw.parse().map_err(|e| ConfigError { var, problem: format!("`{raw}` is invalid: {e}") })
    }

    fn millis(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.parsed::<u64>(var, Some(default)).map(Duration::from_millis)
    }

    fn secs(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.parsed::<u64>(var, Some(default)).map(Duration::from_secs)
    }
}

/// `b=http://127.0.0.1:8002,c=http://127.0.0.1:8003`
fn parse_peers(raw: &str, own: &AirlineCode) -> Result<Vec<PeerConfig>, String> {
    let mut peers: Vec<PeerConfig> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (code, url) = entry.split_once('=').ok_or_else(|| format!("`{entry}` is not `code=url`"))?;
        let airline = AirlineCode::parse(code.trim()).map_err(|e| e.to_string())?;
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("peer `{airline}` has `{url}`, which is not an http(s) URL"));
        }
        if &airline == own || peers.iter().any(|p| p.airline == airline) {
            return Err(format!("airline `{airline}` is listed twice or is this airline itself"));
        }
        if let Some(other) =
            std::iter::once(own).chain(peers.iter().map(|p| &p.airline)).find(|o| tags_collide(o, &airline))
        {
            return Err(format!(
                "airlines `{other}` and `{airline}` would make booking ids that cannot be told apart; rename one"
            ));
        }
        peers.push(PeerConfig { airline, url: url.to_owned() });
    }
    peers.sort_by(|x, y| x.airline.cmp(&y.airline));
    Ok(peers)
}

/// `http://localhost:5050,https://passcom.example`: origins as browsers send them, so without
/// a path or a trailing slash.
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let origin = origin.trim_end_matches('/');
            let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains('/') => Ok(origin.to_owned()),
                _ => Err(format!("`{origin}` is not an origin like http://localhost:5050")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        let err = settings(&[("PASSCOM_AIRLINE", "a")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn an_invalid_variable_is_named() {
        let err = settings(&[("PASSCOM_AIRLINE", "a"), ("DATABASE_URL", "postgres://x"), ("PASSCOM_BIND", "nope")])
            .unwrap_err();
        assert_eq!(err.var, "PASSCOM_BIND");
        let err = settings(&[("PASSCOM_AIRLINE", "A!"), ("DATABASE_URL", "postgres://x")]).unwrap_err();
        assert_eq!(err.var, "PASSCOM_AIRLINE");
    }

    #[test]
    fn peers_parse_and_reject_nonsense() {
        let s = settings(&[
            ("PASSCOM_AIRLINE", "a"),
            ("DATABASE_URL", "postgres://x"),
            ("PASSCOM_PEERS", "c=http://127.0.0.1:8003/, b=http://127.0.0.1:8002"),
        ])
        .unwrap();
        let codes: Vec<_> = s.peers.iter().map(|p| p.airline.as_str()).collect();
        assert_eq!(codes, ["b", "c"]);
        assert_eq!(s.peers[1].url, "http://127.0.0.1:8003");
        for bad in ["b", "a=http://x", "b=ftp://x", "b=http://x,b=http://y"] {
            let err = settings(&[("PASSCOM_AIRLINE", "a"), ("DATABASE_URL", "postgres://x"), ("PASSCOM_PEERS", bad)])
                .unwrap_err();
            assert_eq!(err.var, "PASSCOM_PEERS", "{bad}");
        }
    }

    #[test]
    fn peers_whose_booking_ids_could_not_be_told_apart_are_refused() {
        // Two-letter codes: 1,296 of them, so some pair shares a 16-bit tag.
        let alphabet = "abcdefghijklmnopqrstuvwxyz0123456789".chars();
        let codes: Vec<AirlineCode> = alphabet
            .clone()
            .flat_map(|x| alphabet.clone().map(move |y| AirlineCode::parse(&format!("{x}{y}")).unwrap()))
            .collect();
        let (x, y) = codes
            .iter()
            .enumerate()
            .find_map(|(i, x)| codes[i + 1..].iter().find(|y| tags_collide(x, y)).map(|y| (x, y)))
            .expect("a pair of two-letter codes with one tag");
        let peers = format!("{y}=http://127.0.0.1:8002");
        let err =
            settings(&[("PASSCOM_AIRLINE", x.as_str()), ("DATABASE_URL", "postgres://x"), ("PASSCOM_PEERS", &peers)])
                .unwrap_err();
        assert_eq!(err.var, "PASSCOM_PEERS");
        assert!(err.problem.contains("cannot be told apart"), "{}", err.problem);
    }

    #[test]
    fn an_undecided_booking_is_aborted_soon_after_its_deadline_unless_told_otherwise() {
        let base = [("PASSCOM_AIRLINE", "a"), ("DATABASE_URL", "postgres://x")];
        assert_eq!(settings(&base).unwrap().prepare_timeout, Duration::from_millis(2500) + PREPARE_MARGIN);
        let shorter = [base[0], base[1], ("PASSCOM_BOOKING_DEADLINE_MS", "1000")];
        assert_eq!(settings(&shorter).unwrap().prepare_timeout, Duration::from_millis(1000) + PREPARE_MARGIN);
        let set = [base[0], base[1], ("PASSCOM_PREPARE_TIMEOUT_SECS", "60")];
        assert_eq!(settings(&set).unwrap().prepare_timeout, Duration::from_secs(60));
    }

    #[test]
    fn cors_origins_default_to_the_original_pages_and_reject_urls_with_paths() {
        let base = [("PASSCOM_AIRLINE", "a"), ("DATABASE_URL", "postgres://x")];
        assert_eq!(settings(&base).unwrap().cors_origins, ["http://localhost:5050"]);
        let listed = [base[0], base[1], ("PASSCOM_CORS_ORIGINS", "http://a.test:1/, https://b.test")];
        assert_eq!(settings(&listed).unwrap().cors_origins, ["http://a.test:1", "https://b.test"]);
        for bad in ["localhost:5050", "http://a.test/page", "ftp://a.test"] {
            let err = settings(&[base[0], base[1], ("PASSCOM_CORS_ORIGINS", bad)]).unwrap_err();
            assert_eq!(err.var, "PASSCOM_CORS_ORIGINS", "{bad}");
        }
    }
}
