//! Prometheus metrics, one registry per server instance (three servers share a test process).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    bookings: IntCounterVec,
    peer_calls: IntCounterVec,
    outbox: IntCounterVec,
    worker_panics: IntCounterVec,
    handler_panics: prometheus::IntCounter,
}

impl Metrics {
    pub fn new(airline: &str) -> anyhow::Result<Self> {
        let registry =
            Registry::new_custom(Some("passcom".into()), Some([("airline".to_owned(), airline.to_owned())].into()))?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route pattern and status"),
            &["method", "route", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route pattern")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["route"],
        )?;
        let bookings =
            IntCounterVec::new(Opts::new("bookings_total", "Bookings coordinated here, by outcome"), &["outcome"])?;
        let peer_calls =
            IntCounterVec::new(Opts::new("peer_calls_total", "Calls to peers by outcome"), &["peer", "op", "outcome"])?;
        let outbox = IntCounterVec::new(
            Opts::new("outbox_messages_total", "Replicated writes sent to peers, by outcome"),
            &["peer", "outcome"],
        )?;
        let worker_panics = IntCounterVec::new(
            Opts::new("worker_panics_total", "Background workers that panicked and were restarted"),
            &["worker"],
        )?;
        let handler_panics = prometheus::IntCounter::new(
            "http_handler_panics_total",
            "Requests whose handler panicked (answered 500; no input should reach one)",
        )?;
        registry.register(Box::new(handler_panics.clone()))?;
        registry.register(Box::new(worker_panics.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(bookings.clone()))?;
        registry.register(Box::new(peer_calls.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        Ok(Self { registry, requests, request_seconds, bookings, peer_calls, outbox, worker_panics, handler_panics })
    }

    /// `route` is a route pattern or a fixed word, never a raw path; a method outside HTTP's
    /// own set is counted as `other`, so no client can mint labels.
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];
        let method = METHODS.into_iter().find(|m| *m == method).unwrap_or("other");
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.request_seconds.with_label_values(&[route]).observe(seconds);
    }

    /// `outcome` is `confirmed` or an error code such as `seat_locked`.
    pub fn booking(&self, outcome: &str) {
        self.bookings.with_label_values(&[outcome]).inc();
    }

    pub fn peer_call(&self, peer: &str, op: &str, outcome: &str) {
        self.peer_calls.with_label_values(&[peer, op, outcome]).inc();
    }

    pub fn outbox_delivery(&self, peer: &str, outcome: &str, messages: usize) {
        self.outbox.with_label_values(&[peer, outcome]).inc_by(messages as u64);
    }

    pub fn worker_panic(&self, worker: &'static str) {
        self.worker_panics.with_label_values(&[worker]).inc();
    }

    pub fn handler_panic(&self) {
        self.handler_panics.inc();
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}
