//! Hand-checked graphs for the route search.

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

fn placed(segments: &[Segment]) -> Vec<Placed> {
    segments.iter().cloned().map(Placed::new).collect()
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

    fn query(&self) -> RouteQuery {
        RouteQuery {
            origin: self.origin.to_owned(),
            destination: self.destination.to_owned(),
            first_from: self.first_from,
            first_to: self.first_to,
            passengers: self.passengers,
            max_legs: self.max_legs,
            limit: 50,
            sort: self.sort,
        }
    }

    fn run_with(&self, segments: &[Segment], budget: &Budget<'_>) -> Found {
        find_routes(&placed(segments), &self.query(), budget)
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
    let next_day = Ask { first_from: day.first_to, first_to: day.first_to + Duration::days(1), ..Ask::new("A", "C") };
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

/// Every route of `segments` the rules allow, found by trying every path: what the pruned
/// search must agree with. Returns their keys, best first.
fn every_route_key(segments: &[Segment], ask: &Ask<'_>, arrive_by: DateTime<Utc>) -> Vec<Key> {
    fn walk(segments: &[Segment], ask: &Ask<'_>, path: &mut Vec<usize>, keys: &mut Vec<Key>, by: DateTime<Utc>) {
        let last = &segments[*path.last().unwrap_or(&0)];
        if city_key(&last.destination) == city_key(ask.destination) {
            let first = &segments[path[0]];
            let price: i64 = path.iter().map(|&i| segments[i].price.cents).sum();
            if last.arrives_at <= by {
                let (arrival, legs) = (last.arrives_at.timestamp(), path.len() as i64);
                keys.push(key_of(ask.sort, arrival, price, legs, arrival - first.departs_at.timestamp()));
            }
            return;
        }
        if path.len() == ask.max_legs {
            return;
        }
        for (i, next) in segments.iter().enumerate() {
            let wait = next.departs_at - last.arrives_at;
            let seen = path.iter().any(|&p| city_key(&segments[p].origin) == city_key(&next.destination));
            if city_key(&next.origin) == city_key(&last.destination)
                && (MIN_CONNECTION..=MAX_CONNECTION).contains(&wait)
                && next.seats_available >= ask.passengers
                && !seen
            {
                path.push(i);
                walk(segments, ask, path, keys, by);
                path.pop();
            }
        }
    }
    let mut keys = Vec::new();
    for (i, first) in segments.iter().enumerate() {
        if city_key(&first.origin) == city_key(ask.origin)
            && (ask.first_from..ask.first_to).contains(&first.departs_at)
            && first.seats_available >= ask.passengers
        {
            walk(segments, ask, &mut vec![i], &mut keys, arrive_by);
        }
    }
    keys.sort();
    keys
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// The bounds only skip routes that cannot rank among the best: on random small networks
    /// the pruned search returns the same best routes as trying every path.
    #[test]
    fn the_pruned_search_finds_the_best_routes_trying_every_path_would(
        flights in proptest::collection::vec((0..5usize, 0..5usize, 0..72 * 60i64, 20..600i64, 1..900i64, 0..3i64), 1..40),
        sort in 0..4usize,
        limit in 1..6usize,
        max_legs in 1..5usize,
    ) {
        const CITIES: [&str; 5] = ["A", "B", "C", "D", "E"];
        let segments: Vec<Segment> = flights
            .iter()
            .enumerate()
            .filter(|(_, (from, to, ..))| from != to)
            .map(|(i, &(from, to, minute, minutes, cents, seats))| {
                let departs = at(0, 0) + Duration::minutes(minute);
                let mut s = seg(&format!("s{i}"), CITIES[from], CITIES[to], departs, departs + Duration::minutes(minutes), cents);
                s.seats_available = seats;
                s
            })
            .collect();
        let sort = [SortBy::Arrival, SortBy::Price, SortBy::Duration, SortBy::Legs][sort];
        let ask = Ask { sort, max_legs, first_from: at(0, 0), first_to: at(0, 0) + Duration::days(1), ..Ask::new("A", "E") };
        let query = RouteQuery { limit, ..ask.query() };
        let cancelled = AtomicBool::new(false);
        let budget = Budget { deadline: Instant::now() + std::time::Duration::from_secs(5), cancelled: &cancelled };
        let found = find_routes(&placed(&segments), &query, &budget);
        proptest::prop_assert!(found.complete);
        let keys: Vec<Key> = found
            .routes
            .iter()
            .map(|r| {
                let (arrival, price) = (r.arrives_at.timestamp(), r.total_price.cents);
                key_of(sort, arrival, price, r.legs.len() as i64, arrival - r.departs_at.timestamp())
            })
            .collect();
        let mut expected = found.arrive_by.map(|by| every_route_key(&segments, &ask, by)).unwrap_or_default();
        expected.truncate(limit);
        proptest::prop_assert_eq!(keys, expected);
    }
}
