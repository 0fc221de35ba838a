//! The other airlines: each a [`Peer`] whose typed calls go through its circuit breaker, carry a
//! short-lived service token signed by this airline and the caller's request id, and are
//! counted in the metrics. [`Owner`] says whether an airline's data is here or at a peer.

pub mod breaker;
pub mod owner;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passcom_shared::api::{Account, Pass, PeerStatus, SegmentDetail};
use passcom_shared::client::{CallContext, FinishAction, PeerClient, PeerError};
use passcom_shared::internal::{
    CancelRequest, CityBatch, DecisionBody, HoldGranted, HoldRequest, LegacyLookup, LegacySegmentBatch, LoginClaim,
    ReplicationBatch, ReplicationReceipt, SeatsChanged, SegmentBatch, SegmentFilter,
};
use passcom_shared::{AirlineCode, SegmentId};
use uuid::Uuid;

use self::breaker::Breaker;
pub use self::owner::Owner;
use crate::auth::{tokens, KeyRing};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::stall::LoopClock;

/// What every call to a peer needs besides the peer itself.
struct Caller {
    keys: Arc<KeyRing>,
    metrics: Arc<Metrics>,
    clock: Arc<LoopClock>,
    /// One service token serves every call for a while: signing per call would be waste.
    token: Mutex<Option<(String, Instant)>>,
}

const TOKEN_REUSE: Duration = Duration::from_secs(30);

impl Caller {
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
}

pub struct Peer {
    pub airline: AirlineCode,
    client: PeerClient,
    breaker: Breaker,
    caller: Arc<Caller>,
}

impl Peer {
    /// One call through the breaker. A definite refusal (4xx) counts as the peer being up; only
    /// timeouts, refused connections and 5xx count against it.
    #[tracing::instrument(name = "peer_call", skip_all, fields(peer = %self.airline, op = op))]
    async fn call<'a, T, Fut>(
        &'a self,
        op: &'static str,
        request_id: &str,
        timeout: Option<Duration>,
        f: impl FnOnce(&'a PeerClient, CallContext) -> Fut,
    ) -> Result<T, PeerError>
    where
        Fut: Future<Output = Result<T, PeerError>>,
    {
        let metrics = &self.caller.metrics;
        let Some(permit) = self.breaker.allow() else {
            metrics.peer_call(self.airline.as_str(), op, "breaker_open");
            return Err(PeerError::Unreachable(format!("airline {} is unavailable (circuit open)", self.airline)));
        };
        let ctx = CallContext { token: self.caller.service_token()?, request_id: request_id.to_owned(), timeout };
        let started = Instant::now();
        let result = f(&self.client, ctx).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(PeerError::Refused(_)) => "refused",
            Err(PeerError::Unreachable(_)) => "unreachable",
        };
        metrics.peer_call(self.airline.as_str(), op, outcome);
        match &result {
            Err(PeerError::Unreachable(why)) if self.caller.clock.stalled_since(started) => {
                tracing::warn!(error = %why, "peer call failed while this process stood still; not held against the peer");
                drop(permit);
            }
            Err(PeerError::Unreachable(why)) => {
                tracing::warn!(error = %why, "peer call failed");
                permit.failure();
            }
            _ => permit.success(),
        }
        result
    }

    /// `within`: a bound shorter than the usual request timeout, for a caller with a deadline.
    pub async fn segments(
        &self,
        request_id: &str,
        filter: &SegmentFilter,
        within: Option<Duration>,
    ) -> Result<SegmentBatch, PeerError> {
        self.call("segments", request_id, within, |client, ctx| client.segments(ctx, filter)).await
    }

    pub async fn cities(&self, request_id: &str) -> Result<CityBatch, PeerError> {
        self.call("cities", request_id, None, |client, ctx| client.cities(ctx)).await
    }

    pub async fn segment(&self, request_id: &str, id: &SegmentId) -> Result<SegmentDetail, PeerError> {
        self.call("segment", request_id, None, |client, ctx| client.segment(ctx, id)).await
    }

    pub async fn legacy_segments(
        &self,
        request_id: &str,
        lookup: &LegacyLookup,
    ) -> Result<LegacySegmentBatch, PeerError> {
        self.call("legacy_segments", request_id, None, |client, ctx| client.legacy_segments(ctx, lookup)).await
    }

    pub async fn claim_login(&self, request_id: &str, claim: &LoginClaim) -> Result<LoginClaim, PeerError> {
        self.call("claim_login", request_id, None, |client, ctx| client.claim_login(ctx, claim)).await
    }

    pub async fn release_login(&self, request_id: &str, claim: &LoginClaim) -> Result<LoginClaim, PeerError> {
        self.call("release_login", request_id, None, |client, ctx| client.release_login(ctx, claim)).await
    }

    pub async fn replicate(&self, request_id: &str, batch: &ReplicationBatch) -> Result<ReplicationReceipt, PeerError> {
        self.call("replicate", request_id, None, |client, ctx| client.replicate(ctx, batch)).await
    }

    /// A hold given up on at `timeout`: the booking's deadline, not the usual request timeout.
    pub async fn hold(
        &self,
        request_id: &str,
        request: &HoldRequest,
        timeout: Duration,
    ) -> Result<HoldGranted, PeerError> {
        self.call("hold", request_id, Some(timeout), |client, ctx| client.hold(ctx, request)).await
    }

    pub async fn finish(
        &self,
        request_id: &str,
        booking_id: Uuid,
        action: FinishAction,
    ) -> Result<SeatsChanged, PeerError> {
        self.call(action.as_str(), request_id, None, |client, ctx| client.finish(ctx, booking_id, action)).await
    }

    pub async fn decision(&self, request_id: &str, booking_id: Uuid) -> Result<DecisionBody, PeerError> {
        self.call("decision", request_id, None, |client, ctx| client.decision(ctx, booking_id)).await
    }

    pub async fn account(&self, request_id: &str, user_id: Uuid) -> Result<Account, PeerError> {
        self.call("account", request_id, None, |client, ctx| client.account(ctx, user_id)).await
    }

    pub async fn cancel_pass(&self, request_id: &str, pass_id: Uuid, req: &CancelRequest) -> Result<Pass, PeerError> {
        self.call("cancel_pass", request_id, None, |client, ctx| client.cancel_pass(ctx, pass_id, req)).await
    }

    pub fn status(&self) -> PeerStatus {
        let (breaker, consecutive_failures) = self.breaker.state();
        PeerStatus {
            airline: self.airline.clone(),
            url: self.client.base_url().to_owned(),
            breaker,
            consecutive_failures,
            reachable: consecutive_failures == 0,
        }
    }
}

pub struct Federation {
    own: AirlineCode,
    peers: Vec<Peer>,
}

impl Federation {
    pub fn new(
        settings: &Settings,
        http: &reqwest::Client,
        keys: Arc<KeyRing>,
        metrics: Arc<Metrics>,
        clock: Arc<LoopClock>,
    ) -> Self {
        let caller = Arc::new(Caller { keys, metrics, clock, token: Mutex::new(None) });
        let peers = settings
            .peers
            .iter()
            .map(|p| Peer {
                airline: p.airline.clone(),
                client: PeerClient::new(http.clone(), &p.url),
                breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
                caller: caller.clone(),
            })
            .collect();
        Self { own: settings.airline.clone(), peers }
    }

    pub fn own(&self) -> &AirlineCode {
        &self.own
    }

    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    pub fn peer_codes(&self) -> Vec<AirlineCode> {
        self.peers.iter().map(|p| p.airline.clone()).collect()
    }

    pub fn peer(&self, airline: &AirlineCode) -> Option<&Peer> {
        self.peers.iter().find(|p| &p.airline == airline)
    }

    /// Where `airline`'s data lives, or `None` for an airline outside the federation.
    pub fn owner(&self, airline: &AirlineCode) -> Option<Owner<'_>> {
        if *airline == self.own {
            Some(Owner::Here)
        } else {
            self.peer(airline).map(Owner::Peer)
        }
    }

    /// This airline and every peer, in code order: the order logins are claimed in.
    pub fn owners(&self) -> Vec<(AirlineCode, Owner<'_>)> {
        let mut all: Vec<(AirlineCode, Owner<'_>)> =
            self.peers.iter().map(|p| (p.airline.clone(), Owner::Peer(p))).collect();
        all.push((self.own.clone(), Owner::Here));
        all.sort_by(|x, y| x.0.cmp(&y.0));
        all
    }

    pub fn knows(&self, airline: &AirlineCode) -> bool {
        self.owner(airline).is_some()
    }

    pub fn status(&self) -> Vec<PeerStatus> {
        self.peers.iter().map(Peer::status).collect()
    }
}
