//! Keys. Each airline signs with its own Ed25519 key (`kid` = airline code) and publishes the
//! public half at `/.well-known/jwks.json`. Peers' public keys are fetched from their JWKS,
//! cached, and fetched again when a token names a key we do not hold. No secret is shared.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use passcom_shared::AirlineCode;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::claims::{PassengerClaims, SeenTokens, ServiceClaims};

pub struct SigningKey {
    kid: AirlineCode,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
}

impl SigningKey {
    /// Loads the PKCS#8 PEM key at `path`, or creates one there on first start.
    pub fn load_or_generate(path: &Path, kid: AirlineCode) -> anyhow::Result<Self> {
        let key = match std::fs::read_to_string(path) {
            Ok(pem) => ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                anyhow::anyhow!("PASSCOM_SIGNING_KEY: {} is not an Ed25519 PKCS#8 key: {e}", path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate_at(path)?,
            Err(e) => return Err(e).with_context(|| format!("PASSCOM_SIGNING_KEY: reading {}", path.display())),
        };
        Self::from_dalek(&key, kid)
    }

    fn from_dalek(key: &ed25519_dalek::SigningKey, kid: AirlineCode) -> anyhow::Result<Self> {
        let der = key.to_pkcs8_der().map_err(|e| anyhow::anyhow!("encoding the signing key: {e}"))?;
        let public_x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_components(&public_x).context("own public key")?,
            public_x,
            kid,
        })
    }

    pub fn kid(&self) -> &AirlineCode {
        &self.kid
    }

    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                alg: "EdDSA".into(),
                key_use: "sig".into(),
                kid: self.kid.to_string(),
                x: self.public_x.clone(),
            }],
        }
    }
}

fn generate_at(path: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    use std::io::Write;
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding a new signing key: {e}"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new signing key");
            Ok(key)
        }
        // Another replica of this airline created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(Duration::from_millis(50));
            let pem = std::fs::read_to_string(path)?;
            ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    #[serde(default)]
    pub alg: String,
    #[serde(rename = "use", default)]
    pub key_use: String,
    pub kid: String,
    pub x: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no airline `{0}` in this federation signs tokens")]
    UnknownKid(String),
    #[error("airline `{0}`'s keys cannot be fetched right now")]
    Unavailable(AirlineCode),
}

struct CachedKey {
    key: Option<DecodingKey>,
    fetched_at: Instant,
}

/// Our own key plus the cached public keys of every peer.
pub struct KeyRing {
    own: SigningKey,
    peers: HashMap<AirlineCode, String>,
    cache: RwLock<HashMap<AirlineCode, CachedKey>>,
    http: reqwest::Client,
    pub(super) seen_passengers: SeenTokens<PassengerClaims>,
    pub(super) seen_services: SeenTokens<ServiceClaims>,
}

/// A cached key is trusted this long; after it, the peer's JWKS is fetched again so that a
/// rotated key is picked up.
const KEY_MAX_AGE: Duration = Duration::from_secs(600);
/// At most one fetch per peer per this interval, so a flood of tokens naming a down or
/// unknown key does not become a flood of outbound calls.
const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(1);

impl KeyRing {
    pub fn new(own: SigningKey, peers: HashMap<AirlineCode, String>, http: reqwest::Client) -> Self {
        Self {
            own,
            peers,
            cache: RwLock::new(HashMap::new()),
            http,
            seen_passengers: SeenTokens::default(),
            seen_services: SeenTokens::default(),
        }
    }

    pub fn own(&self) -> &SigningKey {
        &self.own
    }

    /// The public key that verifies tokens with this `kid`.
    pub async fn decoding_key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        if kid == self.own.kid.as_str() {
            return Ok(self.own.decoding.clone());
        }
        let airline = AirlineCode::parse(kid).map_err(|_| KeyError::UnknownKid(truncate(kid)))?;
        let url = self.peers.get(&airline).ok_or_else(|| KeyError::UnknownKid(truncate(kid)))?;
        if let Some(cached) = self.cache.read().await.get(&airline) {
            let fresh = cached.fetched_at.elapsed() < KEY_MAX_AGE;
            let recently_tried = cached.fetched_at.elapsed() < REFETCH_MIN_INTERVAL;
            match &cached.key {
                Some(key) if fresh || recently_tried => return Ok(key.clone()),
                None if recently_tried => return Err(KeyError::Unavailable(airline)),
                _ => {}
            }
        }
        let fetched = self.fetch(&airline, url).await;
        let mut cache = self.cache.write().await;
        match fetched {
            Ok(key) => {
                cache.insert(airline, CachedKey { key: Some(key.clone()), fetched_at: Instant::now() });
                Ok(key)
            }
            Err(e) => {
                tracing::warn!(%airline, error = %e, "fetching a peer's JWKS failed");
                // Keep serving a key we already had: a peer being down must not log its
                // passengers out everywhere else.
                let entry = cache.entry(airline.clone()).or_insert(CachedKey { key: None, fetched_at: Instant::now() });
                entry.fetched_at = Instant::now();
                entry.key.clone().ok_or(KeyError::Unavailable(airline))
            }
        }
    }

    /// Fetches every peer's key that we lack or hold for too long. Failures are not remembered
    /// (unlike in [`KeyRing::decoding_key`]): the peer may simply not be up yet. True when every
    /// peer's key is at hand.
    pub async fn prefetch(&self) -> bool {
        let mut complete = true;
        for (airline, url) in &self.peers {
            let fresh = self
                .cache
                .read()
                .await
                .get(airline)
                .is_some_and(|c| c.key.is_some() && c.fetched_at.elapsed() < KEY_MAX_AGE / 2);
            if fresh {
                continue;
            }
            match self.fetch(airline, url).await {
                Ok(key) => {
                    self.cache
                        .write()
                        .await
                        .insert(airline.clone(), CachedKey { key: Some(key), fetched_at: Instant::now() });
                }
                Err(_) => complete = false,
            }
        }
        complete
    }

    async fn fetch(&self, airline: &AirlineCode, url: &str) -> anyhow::Result<DecodingKey> {
        let jwks: Jwks =
            self.http.get(format!("{url}/.well-known/jwks.json")).send().await?.error_for_status()?.json().await?;
        let jwk = jwks
            .keys
            .iter()
            .find(|k| k.kid == airline.as_str() && k.kty == "OKP" && k.crv == "Ed25519")
            .ok_or_else(|| anyhow::anyhow!("the JWKS of {airline} has no Ed25519 key with kid {airline}"))?;
        Ok(DecodingKey::from_ed_components(&jwk.x)?)
    }
}

fn truncate(kid: &str) -> String {
    kid.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_stored_and_loaded_back() {
        let dir = std::env::temp_dir().join(format!("passcom-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("a.pem");
        let kid = AirlineCode::parse("a").unwrap();
        let first = SigningKey::load_or_generate(&path, kid.clone()).unwrap();
        let second = SigningKey::load_or_generate(&path, kid).unwrap();
        assert_eq!(first.public_x, second.public_x);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
