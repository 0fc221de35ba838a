//! Route search over a time-expanded graph: every simple path of segments from one city to
//! another whose first leg departs in a window, each later leg departing at least
//! [`MIN_CONNECTION`] after the previous one arrives and at most [`MAX_CONNECTION`] later, on
//! legs with enough free seats for the party.
//!
//! It is bounded by design. Before enumerating, two cheap passes over the graph bound every
//! city: the fewest legs it still needs to reach the destination, and the latest time one may
//! arrive there and still reach the destination by the latest useful arrival (a day after the
//! earliest possible one). A path is only extended along legs that can still complete, so the
//! enumeration does not wander. It stops after [`MAX_CANDIDATES`] routes, after a work bound,
//! at a deadline, or when the caller gives up; then the answer says `complete: false`.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use passcom_shared::api::{Money, Route, Segment};
use passcom_shared::city::city_key;

pub const MIN_CONNECTION: Duration = Duration::minutes(30);
pub const MAX_CONNECTION: Duration = Duration::hours(24);
pub const DEFAULT_MAX_LEGS: usize = 4;
/// Routes arriving later than this after the earliest possible arrival are not worth showing.
pub const ARRIVAL_SLACK: Duration = Duration::hours(24);
/// Routes collected before ranking; a search that finds more says it is incomplete.
pub const MAX_CANDIDATES: usize = 2000;
/// Legs tried at most per search.
const MAX_STEPS: u64 = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    Arrival,
    Price,
    Duration,
    Legs,
}

#[derive(Debug, Clone)]
pub struct RouteQuery {
    pub origin: String,
    pub destination: String,
    /// The first leg departs in `[first_from, first_to)`.
    pub first_from: DateTime<Utc>,
    pub first_to: DateTime<Utc>,
    pub passengers: i64,
    pub max_legs: usize,
    pub limit: usize,
    pub sort: SortBy,
}

/// When to give up: a deadline, and a flag the caller sets when its client has gone.
pub struct Budget<'a> {
    pub deadline: Instant,
    pub cancelled: &'a AtomicBool,
}

pub struct Found {
    pub routes: Vec<Route>,
    pub complete: bool,
    /// The latest arrival a route may have (a day after the earliest possible one), or `None`
    /// when no route reaches the destination among the segments given.
    pub arrive_by: Option<DateTime<Utc>>,
}

struct Leg<'a> {
    from: usize,
    to: usize,
    segment: &'a Segment,
}

/// The latest span any route may take: from the first departure window, `max_legs` legs, each
/// waiting and flying at most a day. Search needs the segments departing in this span.
pub fn horizon(first_to: DateTime<Utc>, max_legs: usize) -> DateTime<Utc> {
    first_to + (MAX_CONNECTION + Duration::hours(24)) * i32::try_from(max_legs.saturating_sub(1)).unwrap_or(5)
}

pub fn find_routes<'a>(
    segments: impl IntoIterator<Item = &'a Segment>,
    query: &RouteQuery,
    budget: &Budget<'_>,
) -> Found {
    let (origin, destination) = (city_key(&query.origin), city_key(&query.destination));
    let nothing = Found { routes: Vec::new(), complete: true, arrive_by: None };
    if origin == destination {
        return nothing;
    }
    // Cities become small integers once, so the search itself compares numbers, not strings.
    let mut cities: HashMap<String, usize> = HashMap::new();
    let mut city_id = |name: &str| {
        let next = cities.len();
        *cities.entry(city_key(name)).or_insert(next)
    };
    let legs: Vec<Leg<'a>> = segments
        .into_iter()
        .filter(|s| s.seats_available >= query.passengers)
        .map(|segment| Leg { from: city_id(&segment.origin), to: city_id(&segment.destination), segment })
        .collect();
    let (Some(&from), Some(&to)) = (cities.get(&origin), cities.get(&destination)) else { return nothing };
    let graph = Graph::new(&legs, cities.len(), to);
    let firsts: Vec<usize> = graph.departures[from]
        .iter()
        .copied()
        .filter(|&l| (query.first_from..query.first_to).contains(&legs[l].segment.departs_at))
        .collect();
    let Some(earliest) = graph.earliest_arrival(&firsts) else { return nothing };
    let arrive_by = earliest + ARRIVAL_SLACK;
    let bounds = Bounds { legs_to_go: graph.legs_to_go(), latest_at: graph.latest_arrivals(arrive_by) };
    let mut search = Search {
        legs: &legs,
        graph: &graph,
        bounds: &bounds,
        query,
        budget,
        steps: 0,
        stopped: false,
        found: Vec::new(),
        path: Vec::new(),
        visited: vec![false; cities.len()],
    };
    search.visited[from] = true;
    for first in firsts {
        if search.stopped {
            break;
        }
        search.extend(first);
    }
    let complete = !search.stopped;
    // Ranked as index paths: only the routes returned are built (cloning every candidate's
    // segments cost more than the search itself).
    let mut found = std::mem::take(&mut search.found);
    found.sort_by_cached_key(|path| sort_key(&legs, path, query.sort));
    found.truncate(query.limit);
    let routes = found.iter().map(|path| route_of(&legs, path)).collect();
    Found { routes, complete, arrive_by: Some(arrive_by) }
}

fn sort_key(legs: &[Leg<'_>], path: &[usize], sort: SortBy) -> (i64, i64, i64) {
    let (first, last) = (legs[path[0]].segment, legs[path[path.len() - 1]].segment);
    let arrival = last.arrives_at.timestamp();
    let price: i64 = path.iter().map(|&l| legs[l].segment.price.cents).sum();
    let legs = path.len() as i64;
    let duration = (last.arrives_at - first.departs_at).num_seconds();
    match sort {
        SortBy::Arrival => (arrival, price, legs),
        SortBy::Price => (price, arrival, legs),
        SortBy::Duration => (duration, arrival, price),
        SortBy::Legs => (legs, arrival, price),
    }
}

struct Graph {
    /// Legs leaving each city, by departure.
    departures: Vec<Vec<usize>>,
    /// Legs arriving in each city.
    arrivals: Vec<Vec<usize>>,
    destination: usize,
    times: Vec<(DateTime<Utc>, DateTime<Utc>, usize, usize)>,
}

impl Graph {
    fn new(legs: &[Leg<'_>], cities: usize, destination: usize) -> Self {
        let mut departures = vec![Vec::new(); cities];
        let mut arrivals = vec![Vec::new(); cities];
        for (i, leg) in legs.iter().enumerate() {
            departures[leg.from].push(i);
            arrivals[leg.to].push(i);
        }
        for list in &mut departures {
            list.sort_by_key(|&l| legs[l].segment.departs_at);
        }
        let times = legs.iter().map(|l| (l.segment.departs_at, l.segment.arrives_at, l.from, l.to)).collect();
        Self { departures, arrivals, destination, times }
    }

    /// The fewest legs from each city to the destination (`usize::MAX` when it cannot).
    fn legs_to_go(&self) -> Vec<usize> {
        let mut legs = vec![usize::MAX; self.departures.len()];
        legs[self.destination] = 0;
        let mut queue = VecDeque::from([self.destination]);
        while let Some(city) = queue.pop_front() {
            for &l in &self.arrivals[city] {
                let from = self.times[l].2;
                if legs[from] == usize::MAX {
                    legs[from] = legs[city] + 1;
                    queue.push_back(from);
                }
            }
        }
        legs
    }

    /// The earliest arrival at the destination over the given first legs, ignoring the longest
    /// wait between legs: a lower bound of every route's arrival.
    fn earliest_arrival(&self, firsts: &[usize]) -> Option<DateTime<Utc>> {
        let mut best: Vec<Option<DateTime<Utc>>> = vec![None; self.departures.len()];
        let mut heap = BinaryHeap::new();
        for &l in firsts {
            let (_, arrives, _, to) = self.times[l];
            heap.push(std::cmp::Reverse((arrives, to)));
        }
        while let Some(std::cmp::Reverse((at, city))) = heap.pop() {
            if best[city].is_some() {
                continue;
            }
            best[city] = Some(at);
            if city == self.destination {
                return Some(at);
            }
            let next = &self.departures[city];
            let start = next.partition_point(|&l| self.times[l].0 < at + MIN_CONNECTION);
            for &l in &next[start..] {
                let (_, arrives, _, to) = self.times[l];
                if best[to].is_none() {
                    heap.push(std::cmp::Reverse((arrives, to)));
                }
            }
        }
        None
    }

    /// For each city, the latest arrival there from which the destination can still be reached
    /// by `deadline` (the longest wait ignored, so this is an upper bound).
    fn latest_arrivals(&self, deadline: DateTime<Utc>) -> Vec<Option<DateTime<Utc>>> {
        let mut latest: Vec<Option<DateTime<Utc>>> = vec![None; self.departures.len()];
        let mut heap = BinaryHeap::from([(deadline, self.destination)]);
        while let Some((at, city)) = heap.pop() {
            if latest[city].is_some() {
                continue;
            }
            latest[city] = Some(at);
            // A leg into this city is usable if it arrives by `at`; then its origin must be
            // reached in time to change planes for it.
            for &l in &self.arrivals[city] {
                let (departs, arrives, from, _) = self.times[l];
                if arrives <= at && latest[from].is_none() {
                    heap.push((departs - MIN_CONNECTION, from));
                }
            }
        }
        latest
    }
}

struct Bounds {
    legs_to_go: Vec<usize>,
    latest_at: Vec<Option<DateTime<Utc>>>,
}

struct Search<'s, 'a> {
    legs: &'s [Leg<'a>],
    graph: &'s Graph,
    bounds: &'s Bounds,
    query: &'s RouteQuery,
    budget: &'s Budget<'s>,
    steps: u64,
    stopped: bool,
    found: Vec<Vec<usize>>,
    path: Vec<usize>,
    visited: Vec<bool>,
}

impl Search<'_, '_> {
    /// Whether leg `l` can still lead to a route, given the legs already on the path.
    fn promising(&self, l: usize) -> bool {
        let leg = &self.legs[l];
        let legs_after = self.bounds.legs_to_go[leg.to];
        !self.visited[leg.to]
            && legs_after != usize::MAX
            && self.path.len() + 1 + legs_after <= self.query.max_legs
            && self.bounds.latest_at[leg.to].is_some_and(|latest| leg.segment.arrives_at <= latest)
    }

    fn out_of_budget(&mut self) -> bool {
        self.steps += 1;
        if self.steps.is_multiple_of(1024)
            && (Instant::now() >= self.budget.deadline || self.budget.cancelled.load(Ordering::Relaxed))
        {
            self.stopped = true;
        }
        if self.steps >= MAX_STEPS || self.found.len() >= MAX_CANDIDATES {
            self.stopped = true;
        }
        self.stopped
    }

    fn extend(&mut self, l: usize) {
        if self.out_of_budget() || !self.promising(l) {
            return;
        }
        let leg = &self.legs[l];
        self.path.push(l);
        if leg.to == self.graph.destination {
            self.found.push(self.path.clone());
        } else {
            self.visited[leg.to] = true;
            let arrived = leg.segment.arrives_at;
            let next = &self.graph.departures[leg.to];
            // Departures are sorted: skip straight to the first one that makes the connection.
            let start = next.partition_point(|&n| self.legs[n].segment.departs_at < arrived + MIN_CONNECTION);
            for &candidate in &next[start..] {
                if self.legs[candidate].segment.departs_at > arrived + MAX_CONNECTION || self.stopped {
                    break;
                }
                self.extend(candidate);
            }
            self.visited[leg.to] = false;
        }
        self.path.pop();
    }
}

fn route_of(legs: &[Leg<'_>], path: &[usize]) -> Route {
    let segments: Vec<Segment> = path.iter().map(|&l| legs[l].segment.clone()).collect();
    let currency = segments[0].price.currency.clone();
    Route {
        total_price: Money { cents: segments.iter().map(|s| s.price.cents).sum(), currency },
        departs_at: segments[0].departs_at,
        arrives_at: segments[segments.len() - 1].arrives_at,
        seats_available: segments.iter().map(|s| s.seats_available).min().unwrap_or(0),
        legs: segments,
    }
}

#[cfg(test)]
#[path = "route_search_tests.rs"]
mod tests;
