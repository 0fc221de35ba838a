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
    let mut routes: Vec<Route> = search.found.iter().map(|path| route_of(&legs, path)).collect();
    routes.sort_by_key(|r| sort_key(r, query.sort));
    routes.truncate(query.limit);
    Found { routes, complete, arrive_by: Some(arrive_by) }
}

fn sort_key(route: &Route, sort: SortBy) -> (i64, i64, i64) {
    let (arrival, price, legs) = (route.arrives_at.timestamp(), route.total_price.cents, route.legs.len() as i64);
    let duration = (route.arrives_at - route.departs_at).num_seconds();
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
mod tests {
    use chrono::TimeZone;
    use passcom_shared::{AirlineCode, SegmentId};

    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, hour, minute, 0).unwrap()
    }

    fn seg(id: &str, from: &str, to: &str, dep: DateTime<Utc>, arr: DateTime<Utc>, cents: i64) -> Segment {
        Segment {
            airline: AirlineCode::parse("a").unwrap(),
            segment_id: SegmentId::parse(id).unwrap(),
            flight_no: id.into(),
            origin: from.into(),
            destination: to.into(),
            departs_at: dep,
            arrives_at: arr,
            price: Money { cents, currency: "BRL".into() },
            seats_total: 10,
            seats_available: 10,
        }
    }

    fn ids(route: &Route) -> Vec<&str> {
        route.legs.iter().map(|l| l.segment_id.as_str()).collect()
    }

    struct Ask<'a> {
        origin: &'a str,
        destination: &'a str,
        first_from: DateTime<Utc>,
        first_to: DateTime<Utc>,
        passengers: i64,
        max_legs: usize,
        sort: SortBy,
    }

    impl<'a> Ask<'a> {
        fn new(origin: &'a str, destination: &'a str) -> Self {
            let (first_from, first_to) = (at(0, 0) - Duration::days(1), at(0, 0) + Duration::days(2));
            Self { origin, destination, first_from, first_to, passengers: 1, max_legs: 4, sort: SortBy::Arrival }
        }

        fn run(&self, segments: &[Segment]) -> Found {
            let cancelled = AtomicBool::new(false);
            self.run_with(
                segments,
                &Budget { deadline: Instant::now() + std::time::Duration::from_secs(5), cancelled: &cancelled },
            )
        }

        fn run_with(&self, segments: &[Segment], budget: &Budget<'_>) -> Found {
            let query = RouteQuery {
                origin: self.origin.to_owned(),
                destination: self.destination.to_owned(),
                first_from: self.first_from,
                first_to: self.first_to,
                passengers: self.passengers,
                max_legs: self.max_legs,
                limit: 50,
                sort: self.sort,
            };
            find_routes(segments, &query, budget)
        }

        fn ids(&self, segments: &[Segment]) -> Vec<Vec<String>> {
            let found = self.run(segments);
            assert!(found.complete);
            found.routes.iter().map(|r| ids(r).into_iter().map(str::to_owned).collect()).collect()
        }
    }

    #[test]
    fn finds_every_chained_path_and_respects_connections() {
        let segments = vec![
            seg("x1", "X", "Y", at(8, 0), at(9, 0), 100),
            seg("y1", "Y", "Z", at(9, 29), at(10, 0), 100), // 29 min: too tight
            seg("y2", "Y", "Z", at(9, 30), at(11, 0), 100), // exactly 30 min: fine
            seg("x2", "X", "Z", at(7, 0), at(12, 0), 50),
            seg("z1", "Z", "X", at(12, 0), at(13, 0), 10), // back to origin: not a simple path
            seg("y3", "Y", "X", at(10, 0), at(10, 30), 10),
        ];
        let found = Ask::new("x", "Z").run(&segments);
        let routes: Vec<Vec<&str>> = found.routes.iter().map(ids).collect();
        assert_eq!(routes, vec![vec!["x1", "y2"], vec!["x2"]]);
        assert_eq!(found.routes[0].total_price.cents, 200);
        assert_eq!(found.routes[0].departs_at, at(8, 0));
        assert_eq!(found.routes[0].arrives_at, at(11, 0));
        assert_eq!(found.routes[0].seats_available, 10);
    }

    #[test]
    fn max_legs_and_sold_out_segments_limit_the_answer() {
        let mut segments = vec![
            seg("a1", "A", "B", at(1, 0), at(2, 0), 1),
            seg("b1", "B", "C", at(3, 0), at(4, 0), 1),
            seg("c1", "C", "D", at(5, 0), at(6, 0), 1),
        ];
        let three = Ask { max_legs: 3, ..Ask::new("A", "D") };
        assert_eq!(three.ids(&segments).len(), 1);
        assert!(Ask { max_legs: 2, ..Ask::new("A", "D") }.ids(&segments).is_empty());
        segments[1].seats_available = 0;
        assert!(three.ids(&segments).is_empty());
        assert!(Ask::new("A", "nowhere").ids(&segments).is_empty());
    }

    #[test]
    fn ties_in_arrival_go_to_the_cheaper_route() {
        let segments = vec![seg("p1", "P", "Q", at(1, 0), at(5, 0), 500), seg("p2", "P", "Q", at(2, 0), at(5, 0), 300)];
        assert_eq!(Ask::new("p", "q").ids(&segments), vec![vec!["p2"], vec!["p1"]]);
    }

    #[test]
    fn the_date_is_the_first_legs_departure_day_and_later_legs_may_cross_midnight() {
        let segments = vec![
            seg("late", "A", "B", at(23, 50), at(23, 59) + Duration::minutes(40), 100),
            seg("next", "B", "C", at(23, 59) + Duration::hours(2), at(23, 59) + Duration::hours(3), 100),
            seg("tomorrow", "A", "C", at(0, 10) + Duration::days(1), at(2, 0) + Duration::days(1), 100),
        ];
        let day = Ask { first_from: at(0, 0), first_to: at(0, 0) + Duration::days(1), ..Ask::new("A", "C") };
        assert_eq!(
            day.ids(&segments),
            vec![vec!["late", "next"]],
            "departing 23:50 is that day; the next leg is the day after"
        );
        let next_day =
            Ask { first_from: day.first_to, first_to: day.first_to + Duration::days(1), ..Ask::new("A", "C") };
        assert_eq!(next_day.ids(&segments), vec![vec!["tomorrow"]]);
    }

    #[test]
    fn legs_with_fewer_free_seats_than_the_party_are_left_out() {
        let mut direct = seg("direct", "A", "B", at(8, 0), at(9, 0), 100);
        direct.seats_available = 2;
        let segments =
            vec![direct, seg("a2", "A", "M", at(8, 0), at(9, 0), 50), seg("m2", "M", "B", at(10, 0), at(11, 0), 50)];
        assert_eq!(Ask { passengers: 2, ..Ask::new("A", "B") }.ids(&segments), vec![vec!["direct"], vec!["a2", "m2"]]);
        assert_eq!(Ask { passengers: 3, ..Ask::new("A", "B") }.ids(&segments), vec![vec!["a2", "m2"]]);
        let found = Ask { passengers: 2, ..Ask::new("A", "B") }.run(&segments);
        assert_eq!(found.routes[0].seats_available, 2);
    }

    #[test]
    fn a_cycle_in_the_graph_ends_and_is_never_followed() {
        // A <-> B every hour for days, and one way out to C.
        let mut segments = Vec::new();
        for h in 0..48 {
            let t = at(0, 0) + Duration::hours(h);
            segments.push(seg(&format!("ab{h}"), "A", "B", t, t + Duration::minutes(20), 10));
            segments.push(seg(&format!("ba{h}"), "B", "A", t, t + Duration::minutes(20), 10));
        }
        segments.push(seg("bc", "B", "C", at(5, 0), at(6, 0), 10));
        let ask = Ask { max_legs: 6, ..Ask::new("A", "C") };
        let routes = ask.ids(&segments);
        assert!(!routes.is_empty());
        for route in &routes {
            assert_eq!(route.len(), 2, "A→B→C only; never through A again: {route:?}");
        }
    }

    #[test]
    fn sort_orders_by_what_the_passenger_asked() {
        let segments = vec![
            seg("fast", "A", "B", at(8, 0), at(9, 0), 900),
            seg("cheap", "A", "B", at(6, 0), at(12, 0), 100),
            seg("a1", "A", "M", at(7, 0), at(7, 30), 200),
            seg("m1", "M", "B", at(8, 0), at(8, 50), 200),
        ];
        let by = |sort| Ask { sort, ..Ask::new("A", "B") }.ids(&segments);
        assert_eq!(by(SortBy::Arrival)[0], ["a1", "m1"]);
        assert_eq!(by(SortBy::Price)[0], ["cheap"]);
        assert_eq!(by(SortBy::Duration)[0], ["fast"]);
        assert_eq!(by(SortBy::Legs).iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 2]);
    }

    #[test]
    fn a_search_past_its_deadline_or_abandoned_says_it_is_incomplete() {
        let mut segments = Vec::new();
        for h in 0..200 {
            let t = at(0, 0) + Duration::minutes(h * 7);
            for (from, to) in [("A", "B"), ("B", "C"), ("C", "D"), ("A", "C"), ("B", "D")] {
                segments.push(seg(&format!("{from}{to}{h}"), from, to, t, t + Duration::minutes(40), 10));
            }
        }
        let ask = Ask { max_legs: 6, ..Ask::new("A", "D") };
        let cancelled = AtomicBool::new(false);
        let past = ask.run_with(&segments, &Budget { deadline: Instant::now(), cancelled: &cancelled });
        assert!(!past.complete, "the deadline had passed");
        cancelled.store(true, Ordering::Relaxed);
        let gone = ask.run_with(
            &segments,
            &Budget { deadline: Instant::now() + std::time::Duration::from_secs(60), cancelled: &cancelled },
        );
        assert!(!gone.complete, "the client left");
        assert!(gone.routes.len() <= 50);
    }
}
