//! The test harness. Every test gets fresh databases (copies of a migrated template, dropped
//! afterwards), its own Redis key namespace, and real servers on real ports:
//! [`TestFederation::start`] runs airlines in this process, [`ProcessFederation::start`] runs
//! the real `passcom-server` binary as child processes that a test can SIGKILL and restart.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use diesel::sql_types::Bool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passcom_seed::{load, Departure, Timetable};
use passcom_server::config::Settings;
use passcom_server::startup::Application;
use passcom_shared::api::{Account, Session};
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::load_balancer::LoadBalancer;

pub const AIRLINES: [&str; 3] = ["a", "b", "c"];

pub fn admin_url() -> String {
    std::env::var("PASSCOM_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:54329/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("PASSCOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:63799".into())
}

fn db_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
    format!("{base}/{name}")
}

async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&admin_url()).await.expect("PostgreSQL for tests (run scripts/test)")
}

/// The migrated template, made once per migration set; its name carries a hash of the
/// migrations so a changed schema gets a new template.
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            use sha2::{Digest, Sha256};
            let mut hasher = Sha256::new();
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations");
            let mut files: Vec<PathBuf> = walk(&dir);
            files.sort();
            for file in files {
                hasher.update(file.to_string_lossy().as_bytes());
                hasher.update(std::fs::read(&file).unwrap());
            }
            let name = format!("passcom_tpl_{}", &format!("{:x}", hasher.finalize())[..16]);
            let mut conn = admin().await;
            diesel::sql_query("SELECT pg_advisory_lock(727001)").execute(&mut conn).await.unwrap();
            let exists: bool = diesel::select(diesel::dsl::sql::<Bool>(&format!(
                "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
            )))
            .get_result(&mut conn)
            .await
            .unwrap();
            if !exists {
                let building = format!("{name}_building");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}")).execute(&mut conn).await.unwrap();
                diesel::sql_query(format!("CREATE DATABASE {building}")).execute(&mut conn).await.unwrap();
                passcom_server::db::migrate(&db_url(&building)).await.unwrap();
                diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            diesel::sql_query("SELECT pg_advisory_unlock(727001)").execute(&mut conn).await.unwrap();
            name
        })
        .await
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A database copied from the template, dropped when this value is.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let template = template().await;
        let name = format!("passcom_test_{}", Uuid::new_v4().simple());
        let mut conn = admin().await;
        // Copies from one template may not overlap with a connection to it; retry briefly.
        let mut tries = 0;
        loop {
            match diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut conn).await {
                Ok(_) => break,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("retrying CREATE DATABASE: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("creating {name}: {e}"),
            }
        }
        TestDb { url: db_url(&name), name }
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }

    /// Runs a query returning one i64, for assertions on the database's state.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn().await;
        diesel::sql_query(sql).get_result::<N>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).n
    }

    /// Whether [`count`](Self::count) comes to `n` within 15 s: for state that background work
    /// (delivery, recovery, acknowledgements) settles a moment after the answer.
    pub async fn count_becomes(&self, sql: &str, n: i64) -> bool {
        eventually(SETTLE, || async { self.count(sql).await == n }).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run outside any runtime, or inside one we may not block: use a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The data `options` asks for, into airline `code`'s database.
async fn seed(db: &TestDb, code: &str, options: &Options) {
    if let Some(days) = options.demo_days {
        seed_demo(db, code, days).await;
    }
    if options.legacy {
        passcom_seed::legacy::load_legacy(&mut db.conn().await, code, chrono::Utc::now()).await.unwrap();
    }
}

/// Demo data: the bundled timetable of an airline, for the next `days` days.
pub async fn seed_demo(db: &TestDb, airline: &str, days: u32) {
    seed_demo_into(&mut db.conn().await, airline, days).await;
}

/// [`seed_demo`] into any database.
pub async fn seed_demo_into(conn: &mut AsyncPgConnection, airline: &str, days: u32) {
    let timetable = Timetable::bundled(airline).unwrap();
    let departures = passcom_seed::departures(&timetable, chrono::Utc::now(), days).unwrap();
    load(conn, &departures, &timetable.currency, timetable.seat_rows, &timetable.seat_letters).await.unwrap();
}

/// A whole minute a few hours ahead: the origin of hand-made timetables.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    let later = chrono::Utc::now() + chrono::Duration::hours(6);
    chrono::DateTime::from_timestamp(later.timestamp() / 60 * 60, 0).unwrap()
}

/// A hand-made segment departing `at_min` minutes after `t0`, lasting `duration` minutes.
pub fn departure(
    id: &str,
    from: &str,
    to: &str,
    t0: chrono::DateTime<chrono::Utc>,
    at_min: i64,
    duration: i64,
    cents: i64,
) -> Departure {
    let departs_at = t0 + chrono::Duration::minutes(at_min);
    Departure {
        segment_id: id.into(),
        flight_no: id.split('-').next().unwrap().into(),
        origin: from.into(),
        destination: to.into(),
        departs_at,
        arrives_at: departs_at + chrono::Duration::minutes(duration),
        price_cents: cents,
    }
}

pub async fn seed_segments(db: &TestDb, departures: &[Departure], rows: u32) {
    let mut conn = db.conn().await;
    load(&mut conn, departures, "BRL", rows, "ABCDEF").await.unwrap();
}

/// A port nothing listens on, and that no other caller in this test run has been given: the
/// OS may offer a port again as soon as its probe is closed, before the server it was picked
/// for has bound it (airline c of one federation was once given airline a's port).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("passcom-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The environment of one airline's server in a test federation.
fn server_env(
    code: &str,
    ports: &HashMap<String, u16>,
    db: &TestDb,
    prefix: &str,
    dir: &std::path::Path,
    overrides: &[(&str, &str)],
) -> HashMap<String, String> {
    let peers: Vec<String> =
        ports.iter().filter(|(c, _)| c.as_str() != code).map(|(c, p)| format!("{c}=http://127.0.0.1:{p}")).collect();
    let mut env: HashMap<String, String> = [
        ("PASSCOM_AIRLINE", code.to_owned()),
        ("PASSCOM_BIND", format!("127.0.0.1:{}", ports[code])),
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", redis_url()),
        ("PASSCOM_REDIS_PREFIX", prefix.to_owned()),
        ("PASSCOM_PEERS", peers.join(",")),
        ("PASSCOM_SIGNING_KEY", dir.join(format!("{code}.pem")).to_string_lossy().into_owned()),
        ("PASSCOM_WORKER_INTERVAL_MS", "100".into()),
        ("PASSCOM_BREAKER_COOLDOWN_MS", "500".into()),
        ("PASSCOM_PEER_CONNECT_TIMEOUT_MS", "300".into()),
        ("PASSCOM_PEER_TIMEOUT_MS", "3000".into()),
        ("PASSCOM_DB_POOL_SIZE", "6".into()),
        ("PASSCOM_HTTP_WORKERS", "2".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env
}

/// What a federation is started with.
#[derive(Default, Clone)]
pub struct Options {
    /// Days of bundled demo data per airline; `None` leaves the databases empty.
    pub demo_days: Option<u32>,
    /// Also the original PassCom's six segments and demo accounts (`passcom-seed --legacy`).
    pub legacy: bool,
    pub env: Vec<(&'static str, String)>,
    /// `(from, to, port)`: airline `from` reaches airline `to` at `port` (a test's proxy).
    pub via: Vec<(&'static str, &'static str, u16)>,
    /// [`ProcessFederation`] only: airline a runs as two processes on its one database, behind
    /// HAProxy on a's address.
    pub two_replicas_of_a: bool,
}

impl Options {
    pub fn demo() -> Self {
        Options { demo_days: Some(1), ..Options::default() }
    }

    /// The demo and the original PassCom's demo.
    pub fn legacy() -> Self {
        Options { legacy: true, ..Options::demo() }
    }

    pub fn empty() -> Self {
        Options::default()
    }

    pub fn with(mut self, var: &'static str, value: impl Into<String>) -> Self {
        self.env.push((var, value.into()));
        self
    }

    /// For tests where one passenger buys hundreds of seats at once: the limits meant for
    /// real passengers are off.
    pub fn unlimited(self) -> Self {
        self.with("PASSCOM_MAX_SEATS_PER_FLIGHT", "0")
            .with("PASSCOM_BOOKINGS_PER_MINUTE", "0")
            .with("PASSCOM_LOGIN_ATTEMPTS_PER_LOGIN", "0")
            .with("PASSCOM_LOGIN_ATTEMPTS_PER_ADDRESS", "0")
    }

    pub fn two_replicas_of_a(mut self) -> Self {
        self.two_replicas_of_a = true;
        self
    }

    pub fn via(mut self, from: &'static str, to: &'static str, port: u16) -> Self {
        self.via.push((from, to, port));
        self
    }

    /// The ports airline `code` reaches everyone at.
    fn ports_seen_by(&self, code: &str, ports: &HashMap<String, u16>) -> HashMap<String, u16> {
        let mut seen = ports.clone();
        for (_, to, port) in self.via.iter().filter(|(from, _, _)| *from == code) {
            seen.insert((*to).to_owned(), *port);
        }
        seen
    }
}

pub struct TestApp {
    pub airline: String,
    pub url: String,
    pub db: TestDb,
    handle: ServerHandle,
}

/// Airlines a, b, c served in this process.
pub struct TestFederation {
    pub apps: Vec<TestApp>,
    pub prefix: String,
    pub http: reqwest::Client,
    dir: PathBuf,
}

impl TestFederation {
    pub async fn start(options: Options) -> Self {
        Self::start_airlines(&AIRLINES, options).await
    }

    pub async fn start_airlines(codes: &[&str], options: Options) -> Self {
        let dir = scratch_dir();
        let prefix = format!("passcom-test-{}", Uuid::new_v4().simple());
        let listeners: Vec<TcpListener> = codes.iter().map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let ports: HashMap<String, u16> =
            codes.iter().zip(&listeners).map(|(c, l)| ((*c).to_owned(), l.local_addr().unwrap().port())).collect();
        let overrides: Vec<(&str, &str)> = options.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut apps = Vec::new();
        for (code, listener) in codes.iter().zip(listeners) {
            // The template is migrated, so the data goes in before the server starts and its
            // first catalog read already sees it.
            let db = TestDb::create().await;
            seed(&db, code, &options).await;
            let env = server_env(code, &options.ports_seen_by(code, &ports), &db, &prefix, &dir, &overrides);
            let settings = Settings::from_lookup(|k| env.get(k).cloned()).unwrap();
            let app = Application::build_with_listener(settings, listener).await.unwrap();
            let handle = app.handle();
            tokio::spawn(app.run_until_stopped());
            apps.push(TestApp {
                airline: (*code).to_owned(),
                url: format!("http://127.0.0.1:{}", ports[*code]),
                db,
                handle,
            });
        }
        TestFederation { apps, prefix, http: reqwest::Client::new(), dir }
    }

    pub fn app(&self, code: &str) -> &TestApp {
        self.apps.iter().find(|a| a.airline == code).unwrap()
    }

    pub fn url(&self, code: &str) -> String {
        self.app(code).url.clone()
    }

    pub fn client(&self) -> Client {
        Client { http: self.http.clone() }
    }

    /// Where airline `code` keeps its signing key, for tests that forge tokens.
    pub fn key_path(&self, code: &str) -> PathBuf {
        self.dir.join(format!("{code}.pem"))
    }

    /// Airline `code`'s own signing key: what a misbehaving airline signs with.
    pub fn signing_key(&self, code: &str) -> passcom_server::auth::SigningKey {
        let airline = passcom_shared::AirlineCode::parse(code).unwrap();
        passcom_server::auth::SigningKey::load_or_generate(&self.key_path(code), airline).unwrap()
    }

    /// A real service token of airline `code`, as its server would send.
    pub fn service_token(&self, code: &str) -> String {
        passcom_server::auth::tokens::issue_service(&self.signing_key(code)).unwrap()
    }

    /// Stops airline `code`'s server; its peers then find it unreachable.
    pub async fn stop(&self, code: &str) {
        self.app(code).handle.stop(false).await;
    }
}

impl Drop for TestFederation {
    fn drop(&mut self) {
        for app in &self.apps {
            // `stop` sends its command at once; the returned future only waits for completion.
            drop(app.handle.stop(false));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One airline, or one replica of it, as a child process running the real binary.
pub struct ProcessServer {
    /// The airline's code, or for a replica the code and its number (`a1`, `a2`).
    pub name: String,
    pub airline: String,
    /// Where this process listens (for a replica, not the airline's address).
    pub url: String,
    /// The airline's database, shared by its replicas.
    pub db: Arc<TestDb>,
    env: HashMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl ProcessServer {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_passcom-server"))
            .env_clear()
            .envs(&self.env)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown code runs, exactly like a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): the process stands still, sockets open, then goes on.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let signal = if paused { "-STOP" } else { "-CONT" };
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    /// Starts the process again (same port, same database, same key) and waits until ready.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        wait_ready(&self.url, &self.log).await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_ready(url: &str, log: &std::path::Path) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(res) = http.get(format!("{url}/readyz")).send().await {
            if res.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} not ready; log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

/// Airlines a, b, c as real processes (a possibly as two replicas behind HAProxy).
pub struct ProcessFederation {
    pub servers: Vec<ProcessServer>,
    /// Each airline's address, the one its peers and clients use.
    ports: HashMap<String, u16>,
    load_balancer: Option<LoadBalancer>,
    dir: PathBuf,
}

impl ProcessFederation {
    pub async fn start(options: Options) -> Self {
        let dir = scratch_dir();
        let prefix = format!("passcom-test-{}", Uuid::new_v4().simple());
        let ports: HashMap<String, u16> = AIRLINES.iter().map(|c| ((*c).to_owned(), free_port())).collect();
        let overrides: Vec<(&str, &str)> = options.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut servers = Vec::new();
        let mut load_balancer = None;
        for code in AIRLINES {
            let db = Arc::new(TestDb::create().await);
            seed(&db, code, &options).await;
            let env = server_env(code, &options.ports_seen_by(code, &ports), &db, &prefix, &dir, &overrides);
            let public = format!("http://127.0.0.1:{}", ports[code]);
            // (name, port) of each process of this airline
            let processes: Vec<(String, u16)> = if code == "a" && options.two_replicas_of_a {
                let replicas = [free_port(), free_port()];
                load_balancer = Some(LoadBalancer::start(ports[code], replicas));
                replicas.iter().enumerate().map(|(i, port)| (format!("{code}{}", i + 1), *port)).collect()
            } else {
                vec![(code.to_owned(), ports[code])]
            };
            for (name, port) in processes {
                let mut env = env.clone();
                env.insert("PASSCOM_BIND".into(), format!("127.0.0.1:{port}"));
                env.insert("PASSCOM_PUBLIC_URL".into(), public.clone());
                let mut server = ProcessServer {
                    airline: code.to_owned(),
                    url: format!("http://127.0.0.1:{port}"),
                    db: db.clone(),
                    env,
                    log: dir.join(format!("{name}.log")),
                    name,
                    child: None,
                };
                server.spawn();
                servers.push(server);
            }
        }
        for server in &servers {
            wait_ready(&server.url, &server.log).await;
        }
        let fed = ProcessFederation { servers, ports, load_balancer, dir };
        if fed.load_balancer.is_some() {
            wait_ready(&fed.url("a"), &fed.dir.join("a1.log")).await;
        }
        fed
    }

    /// The process named `name`: an airline's code, or a replica's (`a1`).
    pub fn server(&mut self, name: &str) -> &mut ProcessServer {
        self.servers.iter_mut().find(|s| s.name == name).unwrap()
    }

    pub fn url(&self, code: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[code])
    }

    pub fn db(&self, code: &str) -> &TestDb {
        &self.servers.iter().find(|s| s.airline == code).unwrap().db
    }
}

impl Drop for ProcessFederation {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.kill();
        }
        drop(self.load_balancer.take());
        if std::thread::panicking() {
            for server in &self.servers {
                eprintln!("---- log of server {} ----\n{}", server.name, server.log());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A small API client for tests: status and JSON of every answer, never a panic on 4xx.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "body: {}", self.body);
        let ct = self.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert_eq!(ct, "application/problem+json", "problem content type");
        assert!(!self.body["detail"].as_str().unwrap_or("").is_empty(), "a problem has a detail");
    }
}

impl Default for Client {
    fn default() -> Self {
        Client { http: reqwest::Client::new() }
    }
}

impl Client {
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        self.try_send(req).await.expect("the server answers")
    }

    /// `None` when the server never answered (it was killed, say).
    pub async fn try_send(&self, req: reqwest::RequestBuilder) -> Option<Answer> {
        let res = req.send().await.ok()?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.ok()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some(Answer { status, headers, body })
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> Answer {
        let mut req = self.http.get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn post(&self, url: &str, token: Option<&str>, body: &Value) -> Answer {
        let mut req = self.http.post(url).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn delete(&self, url: &str, token: Option<&str>) -> Answer {
        let mut req = self.http.delete(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn register(&self, base: &str, login: &str) -> Account {
        let answer =
            self.post(&format!("{base}/api/v1/accounts"), None, &json!({"login": login, "password": PASSWORD})).await;
        assert_eq!(answer.status, 201, "register: {}", answer.body);
        serde_json::from_value(answer.body).unwrap()
    }

    pub async fn login(&self, base: &str, login: &str) -> Session {
        let answer =
            self.post(&format!("{base}/api/v1/sessions"), None, &json!({"login": login, "password": PASSWORD})).await;
        assert_eq!(answer.status, 200, "login: {}", answer.body);
        serde_json::from_value(answer.body).unwrap()
    }

    /// Registers at `base` and logs in there; returns the token.
    pub async fn passenger(&self, base: &str) -> String {
        let login = format!("p{}", &Uuid::new_v4().simple().to_string()[..12]);
        self.register(base, &login).await;
        self.login(base, &login).await.access_token
    }

    pub async fn book(&self, base: &str, token: &str, legs: &[(&str, &str, &str)]) -> Answer {
        let legs: Vec<Value> = legs
            .iter()
            .map(|(airline, segment, seat)| json!({"airline": airline, "segment_id": segment, "seat": seat}))
            .collect();
        self.post(&format!("{base}/api/v1/bookings"), Some(token), &json!({ "legs": legs })).await
    }
}

/// Books `seat` on every leg (airline, segment); `None` when no answer came (the server died).
pub async fn try_book(
    client: &Client,
    base: &str,
    token: &str,
    legs: &[(String, String)],
    seat: &str,
) -> Option<Answer> {
    let legs: Vec<_> = legs.iter().map(|(a, s)| json!({"airline": a, "segment_id": s, "seat": seat})).collect();
    client
        .try_send(client.http.post(format!("{base}/api/v1/bookings")).bearer_auth(token).json(&json!({ "legs": legs })))
        .await
}

pub const PASSWORD: &str = "correct horse battery";

/// Waits until the pass is readable at `base` by its passenger: it reaches every server but its
/// seller's through the seller's outbox, a moment after the sale.
pub async fn pass_arrives(client: &Client, base: &str, token: &str, pass_id: &str) {
    let url = format!("{base}/api/v1/passes/{pass_id}");
    let arrived =
        eventually(Duration::from_secs(10), || async { client.get(&url, Some(token)).await.status == 200 }).await;
    assert!(arrived, "pass {pass_id} reaches {base}");
}

/// How long a test waits for what the servers finish in the background.
const SETTLE: Duration = Duration::from_secs(15);

/// Whether the seat is available again within 15 s: holds given back by an abort or by a
/// participant's question about an old hold, seats freed by a cancellation.
pub async fn seat_freed(db: &TestDb, segment: &str, seat: &str) -> bool {
    eventually(SETTLE, || async { seat_state(db, segment, seat).await.0 == "available" }).await
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first segment of `airline` departing from `origin`, at the server `base`.
pub async fn first_segment(client: &Client, base: &str, airline: &str) -> Value {
    let answer = client.get(&format!("{base}/api/v1/segments?airline={airline}"), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["segments"][0].clone()
}

/// The legs of the first route from `origin` to `destination` with exactly `legs` legs.
pub async fn itinerary(
    client: &Client,
    base: &str,
    origin: &str,
    destination: &str,
    legs: usize,
) -> Vec<(String, String)> {
    let url = format!("{base}/api/v1/routes?origin={origin}&destination={destination}&max_legs={legs}");
    let answer = client.get(&url, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let route = answer.body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["legs"].as_array().unwrap().len() == legs)
        .unwrap_or_else(|| panic!("no {legs}-leg route from {origin} to {destination}"))
        .clone();
    route["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["airline"].as_str().unwrap().to_owned(), l["segment_id"].as_str().unwrap().to_owned()))
        .collect()
}

/// `(status, booking_id)` of a seat at its owner's database.
pub async fn seat_state(db: &TestDb, segment: &str, seat: &str) -> (String, Option<Uuid>) {
    use diesel::{ExpressionMethods, QueryDsl};
    use passcom_server::schema::seats;
    let mut conn = db.conn().await;
    seats::table
        .filter(seats::segment_id.eq(segment))
        .filter(seats::seat.eq(seat))
        .select((seats::status, seats::booking_id))
        .first(&mut conn)
        .await
        .unwrap()
}

/// Whether the seat reaches `status` within [`SETTLE`]: an owner that did not coordinate a sale
/// sells its held seat when the pass reaches it, a moment after the passenger's answer.
pub async fn seat_becomes(db: &TestDb, segment: &str, seat: &str, status: &str) -> bool {
    eventually(SETTLE, || async { seat_state(db, segment, seat).await.0 == status }).await
}

pub async fn seats_not_available(db: &TestDb) -> i64 {
    db.count("SELECT count(*) AS n FROM seats WHERE status <> 'available'").await
}

/// Seat locks left in this test's Redis namespace.
pub async fn redis_locks(prefix: &str) -> usize {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:seat:*")).query_async(&mut conn).await.unwrap();
    keys.len()
}
