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
