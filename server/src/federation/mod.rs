//! The other airlines: their typed clients, each behind a circuit breaker, called with a
//! short-lived service token signed by this airline and the caller's request id.

pub mod breaker;
pub mod catalog;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use passcom_shared::api::{PeerStatus, Segment};
use passcom_shared::client::{CallContext, PeerClient, PeerError};
use passcom_shared::AirlineCode;

use self::breaker::Breaker;
use crate::auth::{tokens, KeyRing};
use crate::cache::TtlCache;
use crate::config::Settings;
use crate::metrics::Metrics;

pub struct Peer {
    pub airline: AirlineCode,
    pub client: PeerClient,
    pub breaker: Breaker,
    /// The peer's whole upcoming catalog, reused for `catalog_ttl`.
    pub catalog: TtlCache<Vec<Segment>>,
}

pub struct Federation {
    peers: Vec<Peer>,
    keys: Arc<KeyRing>,
    metrics: Arc<Metrics>,
    /// One service token serves every call for a while: signing per call would be waste.
    token: Mutex<Option<(String, Instant)>>,
}

const TOKEN_REUSE: Duration = Duration::from_secs(30);

impl Federation {
    pub fn new(settings: &Settings, http: &reqwest::Client, keys: Arc<KeyRing>, metrics: Arc<Metrics>) -> Self {
        let peers = settings
            .peers
            .iter()
            .map(|p| Peer {
                airline: p.airline.clone(),
                client: PeerClient::new(http.clone(), &p.url),
                breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
                catalog: TtlCache::new(settings.catalog_ttl),
            })
            .collect();
        Self { peers, keys, metrics, token: Mutex::new(None) }
    }

    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    pub fn peer(&self, airline: &AirlineCode) -> Option<&Peer> {
        self.peers.iter().find(|p| &p.airline == airline)
    }

    fn service_token(&self) -> Result<String, PeerError> {
        let mut slot = self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, at)) = slot.as_ref() {
            if at.elapsed() < TOKEN_REUSE {
                return Ok(token.clone());
            }
        }
        let token = tokens::issue_service(self.keys.own()).map_err(|e| PeerError::Unreachable(e.to_string()))?;
        *slot = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// One call to one peer through its breaker. A definite refusal (4xx) counts as the peer
    /// being up; only timeouts, refused connections and 5xx count against it.
    #[tracing::instrument(name = "peer_call", skip_all, fields(peer = %peer.airline, op = op))]
    pub async fn call<T, F, Fut>(&self, peer: &Peer, op: &'static str, request_id: &str, f: F) -> Result<T, PeerError>
    where
        F: FnOnce(CallContext) -> Fut,
        Fut: Future<Output = Result<T, PeerError>>,
    {
        if !peer.breaker.allow() {
            self.metrics.peer_call(peer.airline.as_str(), op, "breaker_open");
            return Err(PeerError::Unreachable(format!("airline {} is unavailable (circuit open)", peer.airline)));
        }
        let ctx = CallContext { token: self.service_token()?, request_id: request_id.to_owned() };
        let result = f(ctx).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(PeerError::Refused(_)) => "refused",
            Err(PeerError::Unreachable(_)) => "unreachable",
        };
        self.metrics.peer_call(peer.airline.as_str(), op, outcome);
        match &result {
            Err(PeerError::Unreachable(why)) => {
                tracing::warn!(error = %why, "peer call failed");
                peer.breaker.record_failure();
            }
            _ => peer.breaker.record_success(),
        }
        result
    }

    /// The same call to every peer at once.
    pub async fn call_all<'a, T, F, Fut>(
        &'a self,
        op: &'static str,
        request_id: &str,
        f: F,
    ) -> Vec<(&'a Peer, Result<T, PeerError>)>
    where
        F: Fn(&'a Peer, CallContext) -> Fut,
        Fut: Future<Output = Result<T, PeerError>>,
    {
        let f = &f;
        join_all(self.peers.iter().map(|peer| async move {
            let result = self.call(peer, op, request_id, |ctx| f(peer, ctx)).await;
            (peer, result)
        }))
        .await
    }

    pub fn status(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .map(|p| {
                let (breaker, consecutive_failures) = p.breaker.state();
                PeerStatus {
                    airline: p.airline.clone(),
                    url: p.client.base_url().to_owned(),
                    breaker,
                    consecutive_failures,
                    reachable: consecutive_failures == 0,
                }
            })
            .collect()
    }
}
