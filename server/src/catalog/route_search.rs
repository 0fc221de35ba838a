//! Route search over a time-expanded graph: the best `limit` simple paths of segments from one
//! city to another whose first leg departs in a window, each later leg departing at least
//! [`MIN_CONNECTION`] after the previous one arrives and at most [`MAX_CONNECTION`] later, on
//! legs with enough free seats for the party, ranked by what the passenger sorts by.
//!
//! It is bounded by design. One pass over the legs, latest departure first, gives each leg the
//! best a route taking it can still do: its earliest arrival, lowest price and fewest legs to
//! the destination. A depth-first search then keeps the best `limit` routes found and follows a
//! leg only when the best route it could lead to would rank among them (branch and bound), so
//! it never enumerates the many routes that rank below. Routes arriving more than a day after
//! the earliest possible arrival are not shown. It stops after a work bound, at a deadline, or
//! when the caller gives up; then the answer says `complete: false`.

use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use passcom_shared::api::{Money, Route, Segment};
use passcom_shared::city::city_key;

pub const MIN_CONNECTION: Duration = Duration::minutes(30);
pub const MAX_CONNECTION: Duration = Duration::hours(24);
pub const DEFAULT_MAX_LEGS: usize = 4;
/// Routes arriving later than this after the earliest possible arrival are not worth showing.
pub const ARRIVAL_SLACK: Duration = Duration::hours(24);
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

/// Every city a cached segment names, as a small number. A day's segments get theirs once,
/// when the day is cached, so a search neither normalizes nor hashes a city name (doing both
/// for every segment was the largest cost of a search). Only segments from airlines of the
/// federation are numbered, so the table holds the network's cities and no more.
static CITIES: LazyLock<RwLock<HashMap<String, usize>>> = LazyLock::new(Default::default);

fn city_number(name: &str) -> usize {
    let key = city_key(name);
    if let Some(&n) = CITIES.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return n;
    }
    let mut cities = CITIES.write().unwrap_or_else(PoisonError::into_inner);
    let next = cities.len();
    *cities.entry(key).or_insert(next)
}

fn known_city(name: &str) -> Option<usize> {
    CITIES.read().unwrap_or_else(PoisonError::into_inner).get(&city_key(name)).copied()
}

/// A segment with its cities' numbers.
pub struct Placed {
    pub segment: Segment,
    origin: usize,
    destination: usize,
}

impl Placed {
    pub fn new(segment: Segment) -> Self {
        Self { origin: city_number(&segment.origin), destination: city_number(&segment.destination), segment }
    }
}

/// A segment as the search reads it: cities as numbers, times as Unix seconds (comparing and
/// adding chrono's date-times was a tenth of a search).
struct Leg<'a> {
    from: usize,
    to: usize,
    departs: i64,
    arrives: i64,
    price: i64,
    segment: &'a Segment,
}

const MIN_WAIT: i64 = MIN_CONNECTION.num_seconds();
const MAX_WAIT: i64 = MAX_CONNECTION.num_seconds();

/// The latest span any route may take: from the first departure window, `max_legs` legs, each
/// waiting and flying at most a day. Search needs the segments departing in this span.
pub fn horizon(first_to: DateTime<Utc>, max_legs: usize) -> DateTime<Utc> {
    first_to + (MAX_CONNECTION + Duration::hours(24)) * i32::try_from(max_legs.saturating_sub(1)).unwrap_or(5)
}

pub fn find_routes<'a>(
    segments: impl IntoIterator<Item = &'a Placed>,
    query: &RouteQuery,
    budget: &Budget<'_>,
) -> Found {
    let nothing = Found { routes: Vec::new(), complete: true, arrive_by: None };
    let (Some(from), Some(to)) = (known_city(&query.origin), known_city(&query.destination)) else { return nothing };
    if from == to || query.limit == 0 {
        return nothing;
    }
    let mut legs: Vec<Leg<'a>> = segments
        .into_iter()
        .filter(|p| p.segment.seats_available >= query.passengers)
        .map(|p| Leg {
            from: p.origin,
            to: p.destination,
            departs: p.segment.departs_at.timestamp(),
            arrives: p.segment.arrives_at.timestamp(),
            price: p.segment.price.cents,
            segment: &p.segment,
        })
        .collect();
    // By departure, once (each day arrives sorted, so this mostly merges runs): every city's
    // departures are then in order, and the bounds are computed walking it backwards.
    legs.sort_by_key(|l| l.departs);
    let cities = legs.iter().map(|l| l.from.max(l.to)).chain([from, to]).max().unwrap_or(0) + 1;
    let departures = departures_by_city(&legs, cities);
    let reach = reach(&legs, &departures, to);
    let mut firsts: Vec<usize> = departures[from]
        .iter()
        .copied()
        .filter(|&l| reach[l].is_some() && (query.first_from..query.first_to).contains(&legs[l].segment.departs_at))
        .collect();
    let Some(earliest) = firsts.iter().filter_map(|&l| reach[l].map(|r| r.arrival)).min() else { return nothing };
    let arrive_by = earliest + ARRIVAL_SLACK.num_seconds();
    let mut search = Search {
        legs: &legs,
        departures: &departures,
        reach: &reach,
        destination: to,
        arrive_by,
        query,
        budget,
        steps: 0,
        stopped: false,
        best: BinaryHeap::new(),
        path: Vec::new(),
        price: 0,
        visited: vec![false; cities],
    };
    search.visited[from] = true;
    // The most promising first legs first: good routes found early prune the rest sooner.
    firsts.sort_by_cached_key(|&l| search.bound(l));
    for first in firsts {
        if search.stopped {
            break;
        }
        if search.promising(first).is_some() {
            search.extend(first);
        }
    }
    let complete = !search.stopped;
    let routes = search.best.into_sorted_vec().iter().map(|c| route_of(&legs, &c.path)).collect();
    Found { routes, complete, arrive_by: DateTime::from_timestamp(arrive_by, 0) }
}

/// What the passenger sorts by, best first; ties go to the earlier arrival, then the cheaper.
type Key = (i64, i64, i64);

/// The sort key of a route with these figures (or the lowest one a partial route can still
/// reach, given lower bounds of each).
fn key_of(sort: SortBy, arrival: i64, price: i64, legs: i64, duration: i64) -> Key {
    match sort {
        SortBy::Arrival => (arrival, price, legs),
        SortBy::Price => (price, arrival, legs),
        SortBy::Duration => (duration, arrival, price),
        SortBy::Legs => (legs, arrival, price),
    }
}

/// Legs leaving each city, by departure (as `legs` are).
fn departures_by_city(legs: &[Leg<'_>], cities: usize) -> Vec<Vec<usize>> {
    let mut departures = vec![Vec::new(); cities];
    for (i, leg) in legs.iter().enumerate() {
        departures[leg.from].push(i);
    }
    departures
}

/// The best a route can still do once it takes a leg: its earliest arrival at the destination,
/// its lowest price from there and its fewest legs, each on its own (so each is a lower bound:
/// the longest wait between legs and revisited cities are ignored).
#[derive(Debug, Clone, Copy)]
struct Reach {
    arrival: i64,
    price: i64,
    legs: usize,
}

impl Reach {
    fn better(self, other: Reach) -> Reach {
        Reach {
            arrival: self.arrival.min(other.arrival),
            price: self.price.min(other.price),
            legs: self.legs.min(other.legs),
        }
    }
}

/// [`Reach`] of every leg (`None` when it leads nowhere near the destination), latest departure
/// first: the legs a connection may take depart later, so they are done by then. Per city, the
/// legs done so far are kept with the best bounds among them, so the legs departing after any
/// moment are a prefix and its bound one lookup.
fn reach(legs: &[Leg<'_>], departures: &[Vec<usize>], destination: usize) -> Vec<Option<Reach>> {
    let mut done: Vec<Vec<(i64, Reach)>> = departures.iter().map(|d| Vec::with_capacity(d.len())).collect();
    let mut reach = vec![None; legs.len()];
    for l in (0..legs.len()).rev() {
        let leg = &legs[l];
        let own = Reach { arrival: leg.arrives, price: leg.price, legs: 1 };
        let found = if leg.to == destination {
            Some(own)
        } else {
            let later = &done[leg.to];
            let ready = leg.arrives + MIN_WAIT;
            let taken = later.partition_point(|(departs, _)| *departs >= ready);
            taken.checked_sub(1).map(|i| {
                let next = later[i].1;
                Reach { arrival: next.arrival, price: own.price + next.price, legs: 1 + next.legs }
            })
        };
        reach[l] = found;
        if let Some(found) = found {
            let list = &mut done[leg.from];
            let best = list.last().map_or(found, |(_, b)| b.better(found));
            list.push((leg.departs, best));
        }
    }
    reach
}

/// A route found, ranked by its key (then its legs, so that equal keys rank the same way
/// every time).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    key: Key,
    path: Vec<usize>,
}

/// A depth-first search that keeps the best `limit` routes found so far and follows a leg only
/// if the best route it could still lead to would rank among them (branch and bound).
struct Search<'s, 'a> {
    legs: &'s [Leg<'a>],
    departures: &'s [Vec<usize>],
    reach: &'s [Option<Reach>],
    destination: usize,
    /// Routes arriving later are not worth showing (a timestamp).
    arrive_by: i64,
    query: &'s RouteQuery,
    budget: &'s Budget<'s>,
    steps: u64,
    stopped: bool,
    /// The best routes so far, the worst of them on top.
    best: BinaryHeap<Candidate>,
    path: Vec<usize>,
    /// The price of the legs on the path.
    price: i64,
    visited: Vec<bool>,
}

impl Search<'_, '_> {
    /// The lowest key a route can have once it takes leg `l` after the path, or `None` when it
    /// cannot be a route within `max_legs` and the arrival slack.
    fn bound(&self, l: usize) -> Option<Key> {
        let reach = self.reach[l]?;
        let legs = self.path.len() + reach.legs;
        if legs > self.query.max_legs || reach.arrival > self.arrive_by {
            return None;
        }
        let first = self.path.first().map_or(l, |&f| f);
        let duration = reach.arrival - self.legs[first].departs;
        Some(key_of(self.query.sort, reach.arrival, self.price + reach.price, legs as i64, duration))
    }

    /// Whether leg `l` can still lead to a route that ranks among the best `limit`.
    fn promising(&self, l: usize) -> Option<Key> {
        if self.visited[self.legs[l].to] {
            return None;
        }
        let bound = self.bound(l)?;
        match self.best.peek() {
            Some(worst) if self.best.len() >= self.query.limit && bound >= worst.key => None,
            _ => Some(bound),
        }
    }

    fn out_of_budget(&mut self) -> bool {
        self.steps += 1;
        // From the first step on: a search that finds its answer quickly still starts by
        // looking at the clock.
        if self.steps % 1024 == 1
            && (Instant::now() >= self.budget.deadline || self.budget.cancelled.load(Ordering::Relaxed))
        {
            self.stopped = true;
        }
        if self.steps >= MAX_STEPS {
            self.stopped = true;
        }
        self.stopped
    }

    fn offer(&mut self) {
        let (first, last) = (&self.legs[self.path[0]], &self.legs[self.path[self.path.len() - 1]]);
        let (arrival, duration) = (last.arrives, last.arrives - first.departs);
        let key = key_of(self.query.sort, arrival, self.price, self.path.len() as i64, duration);
        self.best.push(Candidate { key, path: self.path.clone() });
        if self.best.len() > self.query.limit {
            self.best.pop();
        }
    }

    /// Takes leg `l` (found promising) and follows every connection from where it lands.
    fn extend(&mut self, l: usize) {
        if self.out_of_budget() {
            return;
        }
        let leg = &self.legs[l];
        self.path.push(l);
        self.price += leg.price;
        if leg.to == self.destination {
            self.offer();
        } else {
            self.visited[leg.to] = true;
            let (earliest, latest) = (leg.arrives + MIN_WAIT, leg.arrives + MAX_WAIT);
            let next = &self.departures[leg.to];
            // Departures are sorted: skip straight to the first one that makes the connection.
            let start = next.partition_point(|&n| self.legs[n].departs < earliest);
            for &candidate in &next[start..] {
                if self.legs[candidate].departs > latest || self.stopped {
                    break;
                }
                if self.promising(candidate).is_some() {
                    self.extend(candidate);
                }
            }
            self.visited[leg.to] = false;
        }
        self.price -= leg.price;
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
