//! Route search: every simple path of segments from one city to another, each leg departing at
//! least [`MIN_CONNECTION`] after the previous one arrives and at most [`MAX_CONNECTION`] later
//! (nobody wants a two-day layover, and without a bound the paths explode). Sold-out segments
//! are left out: a route that cannot be bought is no answer.

use std::collections::HashMap;

use chrono::Duration;
use passcom_shared::api::{Money, Route, Segment};
use passcom_shared::city::city_key;

pub const MIN_CONNECTION: Duration = Duration::minutes(30);
pub const MAX_CONNECTION: Duration = Duration::hours(24);
pub const DEFAULT_MAX_LEGS: usize = 4;
/// Routes returned at most; the earliest arrivals win.
pub const MAX_ROUTES: usize = 200;

pub fn find_routes(segments: &[Segment], origin: &str, destination: &str, max_legs: usize) -> Vec<Route> {
    let (origin, destination) = (city_key(origin), city_key(destination));
    if origin == destination {
        return Vec::new();
    }
    // Cities become small integers once, so the search itself compares numbers, not strings.
    let mut cities: HashMap<String, usize> = HashMap::new();
    let mut city_id = |name: &str| {
        let next = cities.len();
        *cities.entry(city_key(name)).or_insert(next)
    };
    let legs: Vec<Leg<'_>> = segments
        .iter()
        .filter(|s| s.seats_available > 0)
        .map(|segment| Leg { from: city_id(&segment.origin), to: city_id(&segment.destination), segment })
        .collect();
    let (Some(&from), Some(&to)) = (cities.get(&origin), cities.get(&destination)) else {
        return Vec::new();
    };
    let mut departures: Vec<Vec<&Leg<'_>>> = vec![Vec::new(); cities.len()];
    for leg in &legs {
        departures[leg.from].push(leg);
    }
    for list in &mut departures {
        list.sort_by_key(|l| l.segment.departs_at);
    }
    let search = Search { departures: &departures, destination: to, max_legs };
    let mut routes = Vec::new();
    let mut path = Vec::new();
    let mut visited = vec![false; cities.len()];
    visited[from] = true;
    for first in &departures[from] {
        search.extend(first, &mut path, &mut visited, &mut routes);
    }
    routes.sort_by(|a, b| a.arrives_at.cmp(&b.arrives_at).then(a.total_price.cents.cmp(&b.total_price.cents)));
    routes.truncate(MAX_ROUTES);
    routes
}

struct Leg<'a> {
    from: usize,
    to: usize,
    segment: &'a Segment,
}

struct Search<'a> {
    departures: &'a [Vec<&'a Leg<'a>>],
    destination: usize,
    max_legs: usize,
}

impl<'a> Search<'a> {
    fn extend(&self, leg: &'a Leg<'a>, path: &mut Vec<&'a Segment>, visited: &mut [bool], routes: &mut Vec<Route>) {
        if visited[leg.to] {
            return;
        }
        path.push(leg.segment);
        if leg.to == self.destination {
            routes.push(route_of(path));
        } else if path.len() < self.max_legs {
            visited[leg.to] = true;
            let earliest = leg.segment.arrives_at + MIN_CONNECTION;
            let latest = leg.segment.arrives_at + MAX_CONNECTION;
            let next = &self.departures[leg.to];
            // Departures are sorted: skip straight to the first one that makes the connection.
            let start = next.partition_point(|n| n.segment.departs_at < earliest);
            for candidate in &next[start..] {
                if candidate.segment.departs_at > latest {
                    break;
                }
                self.extend(candidate, path, visited, routes);
            }
            visited[leg.to] = false;
        }
        path.pop();
    }
}

fn route_of(path: &[&Segment]) -> Route {
    let currency = path[0].price.currency.clone();
    Route {
        legs: path.iter().map(|s| (*s).clone()).collect(),
        total_price: Money { cents: path.iter().map(|s| s.price.cents).sum(), currency },
        departs_at: path[0].departs_at,
        arrives_at: path[path.len() - 1].arrives_at,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
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
        let routes = find_routes(&segments, "x", "Z", 4);
        let found: Vec<Vec<&str>> = routes.iter().map(ids).collect();
        assert_eq!(found, vec![vec!["x1", "y2"], vec!["x2"]]);
        assert_eq!(routes[0].total_price.cents, 200);
        assert_eq!(routes[0].departs_at, at(8, 0));
        assert_eq!(routes[0].arrives_at, at(11, 0));
    }

    #[test]
    fn max_legs_and_sold_out_segments_limit_the_answer() {
        let mut segments = vec![
            seg("a1", "A", "B", at(1, 0), at(2, 0), 1),
            seg("b1", "B", "C", at(3, 0), at(4, 0), 1),
            seg("c1", "C", "D", at(5, 0), at(6, 0), 1),
        ];
        assert_eq!(find_routes(&segments, "A", "D", 3).len(), 1);
        assert!(find_routes(&segments, "A", "D", 2).is_empty());
        segments[1].seats_available = 0;
        assert!(find_routes(&segments, "A", "D", 3).is_empty());
        assert!(find_routes(&segments, "A", "nowhere", 3).is_empty());
    }

    #[test]
    fn ties_in_arrival_go_to_the_cheaper_route() {
        let segments = vec![seg("p1", "P", "Q", at(1, 0), at(5, 0), 500), seg("p2", "P", "Q", at(2, 0), at(5, 0), 300)];
        let routes = find_routes(&segments, "p", "q", 4);
        assert_eq!(routes.iter().map(ids).collect::<Vec<_>>(), vec![vec!["p2"], vec!["p1"]]);
    }
}
