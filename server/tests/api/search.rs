//! Search and booking the way passengers do it: routes by date and party size, the catalog in
//! pages, cities, and one booking for a whole party.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use passcom_seed::Departure;
use serde_json::{json, Value};

use crate::helpers::*;

/// The day after tomorrow (UTC) at `hour:minute`: a date every test can search for.
fn on(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, minute, 0).unwrap().and_utc()
}

fn later_day(days: i64) -> NaiveDate {
    (Utc::now() + Duration::days(days)).date_naive()
}

fn dep(id: &str, from: &str, to: &str, departs_at: DateTime<Utc>, minutes: i64, cents: i64) -> Departure {
    Departure {
        segment_id: id.into(),
        flight_no: id.split('-').next().unwrap().into(),
        origin: from.into(),
        destination: to.into(),
        departs_at,
        arrives_at: departs_at + Duration::minutes(minutes),
        price_cents: cents,
    }
}

fn route_ids(answer: &Answer) -> Vec<Vec<String>> {
    answer.body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["legs"].as_array().unwrap().iter().map(|l| l["segment_id"].as_str().unwrap().to_owned()).collect())
        .collect()
}

/// Three airlines chained over two days: X→Y at a, Y→Z at b, Z→W at c, plus a direct X→W at a
/// the next day with only one row of seats.
async fn chained(fed: &TestFederation, day: NaiveDate) {
    let next = day + Duration::days(1);
    seed_segments(
        &fed.app("a").db,
        &[dep("AX1-1", "X", "Y", on(day, 23, 0), 60, 100), dep("AXW-2", "X", "W", on(next, 8, 0), 120, 900)],
        1,
    )
    .await;
    // Leaves 30 minutes after AX1 lands, just after midnight.
    seed_segments(&fed.app("b").db, &[dep("BYZ-1", "Y", "Z", on(next, 0, 30), 60, 100)], 5).await;
    seed_segments(&fed.app("c").db, &[dep("CZW-1", "Z", "W", on(next, 2, 0), 60, 100)], 5).await;
}

#[tokio::test]
async fn routes_are_searched_by_the_first_legs_day_and_the_partys_size() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let day = later_day(3);
    chained(&fed, day).await;
    let base = fed.url("b");
    let search = |query: String| {
        let client = &client;
        let base = &base;
        async move { client.get(&format!("{base}/api/v1/routes?origin=X&destination=W&{query}"), None).await }
    };

    let first_day = search(format!("date={day}")).await;
    assert_eq!(first_day.status, 200, "{}", first_day.body);
    assert_eq!(route_ids(&first_day), vec![vec!["AX1-1", "BYZ-1", "CZW-1"]], "three airlines, across midnight");
    assert_eq!(first_day.body["complete"], json!(true));
    assert_eq!(first_day.body["routes"][0]["total_price"]["amount"], "3.00");
    assert_eq!(first_day.body["routes"][0]["seats_available"], 6, "the fewest seats free on any leg");

    let next_day = search(format!("date={}", day + Duration::days(1))).await;
    assert_eq!(route_ids(&next_day), vec![vec!["AXW-2"]]);
    // The direct flight has 6 seats: a party of 7 cannot take it.
    assert!(route_ids(&search(format!("date={}&passengers=7", day + Duration::days(1))).await).is_empty());
    assert_eq!(route_ids(&search(format!("date={day}&passengers=6")).await).len(), 1);
    assert!(route_ids(&search(format!("date={day}&max_legs=2")).await).is_empty(), "three legs are needed");

    for bad in [
        "date=tomorrow",
        "date=2026-02-30",
        "passengers=0",
        "passengers=10",
        "max_legs=7",
        "limit=0",
        "limit=201",
        "sort=cheapest",
        "seats=2",
    ] {
        search(bad.to_owned()).await.assert_problem(400, "invalid_query");
    }
    let past = search("date=2020-01-01".to_owned()).await;
    assert_eq!((past.status, route_ids(&past).len()), (200, 0), "a day gone by has no departures left");
}

#[tokio::test]
async fn a_search_that_hits_its_deadline_answers_what_it_has() {
    // A dense hub: every hour, for two days, between four cities, at all three airlines.
    let fed = TestFederation::start(Options::empty().with("PASSCOM_SEARCH_DEADLINE_MS", "0")).await;
    let day = later_day(2);
    for (code, (from, to)) in ["a", "b", "c"].iter().zip([("P", "Q"), ("Q", "R"), ("R", "S")]) {
        let mut departures = Vec::new();
        for h in 0..48 {
            let at = on(day, 0, 0) + Duration::hours(h);
            departures.push(dep(&format!("{}{from}{to}-{h}", code.to_uppercase()), from, to, at, 50, 100));
            departures.push(dep(&format!("{}{to}{from}-{h}", code.to_uppercase()), to, from, at, 50, 100));
            departures.push(dep(&format!("{}PS-{h}", code.to_uppercase()), "P", "S", at, 240, 100));
        }
        seed_segments(&fed.app(code).db, &departures, 1).await;
    }
    let answer = fed
        .client()
        .get(&format!("{}/api/v1/routes?origin=P&destination=S&date={day}&max_legs=6", fed.url("a")), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["complete"], json!(false), "a deadline of zero cannot finish");
    assert!(answer.body["routes"].as_array().unwrap().len() <= 50);
}

async fn all_pages(client: &Client, base: &str, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/segments?{query}&cursor={c}"),
            None => format!("{base}/api/v1/segments?{query}"),
        };
        let page = client.get(&url, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for s in page.body["segments"].as_array().unwrap() {
            seen.push(format!("{}/{}", s["airline"].as_str().unwrap(), s["segment_id"].as_str().unwrap()));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn pages_of_segments_lose_and_repeat_nothing_while_seats_sell() {
    let fed = TestFederation::start(Options::empty()).await;
    let client = fed.client();
    let day = later_day(2);
    // Many departures at the very same minutes across airlines: the order's ties are the test.
    for code in ["a", "b", "c"] {
        let departures: Vec<Departure> = (0..23)
            .map(|i| dep(&format!("{}{i}-X", code.to_uppercase()), "M", "N", on(day, 6 + (i % 4) as u32, 0), 60, 100))
            .collect();
        seed_segments(&fed.app(code).db, &departures, 2).await;
    }
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    let selling = async {
        for i in 0..10 {
            client.book(&base, &token, &[("b", &format!("B{i}-X"), "1A")]).await;
        }
    };
    let (paged, ()) = tokio::join!(all_pages(&client, &base, "limit=7"), selling);
    let unique: BTreeSet<&String> = paged.iter().collect();
    assert_eq!((paged.len(), unique.len()), (69, 69), "every segment exactly once");
    assert_eq!(all_pages(&client, &base, "limit=500&airline=c").await.len(), 23);
    assert_eq!(all_pages(&client, &base, &format!("date={}", day + Duration::days(1))).await.len(), 0);
    assert_eq!(all_pages(&client, &base, &format!("date={day}&origin=m")).await.len(), 69);

    for bad in ["limit=0", "limit=501", "cursor=nonsense", "cursor=", "date=x", "from=yesterday", "page=2"] {
        let answer = client.get(&format!("{base}/api/v1/segments?{bad}"), None).await;
        if bad == "cursor=" {
            // An empty cursor is no cursor.
            assert_eq!(answer.status, 400, "{}", answer.body);
            continue;
        }
        answer.assert_problem(400, "invalid_query");
    }
    let both =
        client.get(&format!("{base}/api/v1/segments?date={day}&from={}", on(day, 0, 0).to_rfc3339()), None).await;
    both.assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn cities_come_from_every_airline() {
    let fed = TestFederation::start(Options::demo()).await;
    let answer = fed.client().get(&format!("{}/api/v1/cities", fed.url("c")), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let cities: Vec<&str> = answer.body["cities"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(cities.contains(&"Porto Alegre") && cities.contains(&"Recife"), "{cities:?}");
    fed.client().get(&format!("{}/api/v1/cities?x=1", fed.url("c")), None).await.assert_problem(400, "invalid_query");
}

fn party(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({ "name": n })).collect())
}

#[tokio::test]
async fn a_party_books_one_seat_each_on_every_leg_all_or_nothing() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    let route = itinerary(&client, &base, "Porto%20Alegre", "Recife", 3).await;
    let legs = |seats: [&str; 2]| -> Value {
        Value::Array(route.iter().map(|(a, s)| json!({"airline": a, "segment_id": s, "seats": seats})).collect())
    };
    let ana = client.passenger(&base).await;
    let booked = client
        .post(
            &format!("{base}/api/v1/bookings"),
            Some(&ana),
            &json!({"passengers": party(&["Ana Lima", "Rui Lima"]), "legs": legs(["2A", "2B"])}),
        )
        .await;
    assert_eq!(booked.status, 201, "{}", booked.body);
    assert_eq!(booked.body["passengers"], party(&["Ana Lima", "Rui Lima"]));
    for leg in booked.body["legs"].as_array().unwrap() {
        assert_eq!(leg["seats"], json!(["2A", "2B"]));
        assert_eq!(leg["seat"], "2A");
    }
    let one_seat: i64 = route.len() as i64;
    assert!(one_seat > 0);
    let per_seat: f64 = booked.body["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["price"]["amount"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    let total: f64 = booked.body["total_price"]["amount"].as_str().unwrap().parse().unwrap();
    assert!((total - 2.0 * per_seat).abs() < 0.001, "two passengers pay twice: {total} vs {per_seat}");
    for (airline, segment) in &route {
        for seat in ["2A", "2B"] {
            assert!(seat_becomes(&fed.app(airline).db, segment, seat, "sold").await);
        }
    }
    // The pass reads the same at another airline once replicated.
    let pass_id = booked.body["pass_id"].as_str().unwrap().to_owned();
    assert!(
        eventually(std::time::Duration::from_secs(10), || async {
            client.get(&format!("{}/api/v1/passes/{pass_id}", fed.url("c")), Some(&ana)).await.body["passengers"]
                == party(&["Ana Lima", "Rui Lima"])
        })
        .await
    );

    // Two parties race for seat 3C on every leg: one wins whole, the other holds nothing.
    let (x, y) = (client.passenger(&base).await, client.passenger(&fed.url("b")).await);
    let body_x = json!({"passengers": party(&["X1", "X2"]), "legs": legs(["3C", "3D"])});
    let body_y = json!({"passengers": party(&["Y1", "Y2"]), "legs": legs(["3E", "3C"])});
    let (at_a, at_b) = (format!("{base}/api/v1/bookings"), format!("{}/api/v1/bookings", fed.url("b")));
    let (one, two) = tokio::join!(client.post(&at_a, Some(&x), &body_x), client.post(&at_b, Some(&y), &body_y));
    let mut statuses = [one.status, two.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", one.body, two.body);
    let (winner, loser_seat) = if one.status == 201 { (["3C", "3D"], "3E") } else { (["3E", "3C"], "3D") };
    for (airline, segment) in &route {
        let db = &fed.app(airline).db;
        for seat in winner {
            assert!(seat_becomes(db, segment, seat, "sold").await);
        }
        assert!(seat_freed(db, segment, loser_seat).await, "the losing party's other seat is free again at {airline}");
    }
}

#[tokio::test]
async fn party_bookings_that_do_not_add_up_are_refused_naming_the_field() {
    let fed = TestFederation::start(Options::demo()).await;
    let client = fed.client();
    let base = fed.url("a");
    let token = client.passenger(&base).await;
    let (airline, segment) = itinerary(&client, &base, "Porto%20Alegre", "Recife", 3).await.remove(0);
    let leg = |seats: Value| json!([{"airline": airline, "segment_id": segment, "seats": seats}]);
    let long = "x".repeat(101);
    let ten: Vec<Value> = (0..10).map(|i| json!({ "name": format!("P{i}") })).collect();
    let ten_seats: Vec<String> = (1..=10).map(|r| format!("{r}A")).collect();
    let cases = [
        (json!({"passengers": party(&["A", "B"]), "legs": leg(json!(["1A", "1A"]))}), "invalid_itinerary", "twice"),
        (json!({"passengers": party(&["A", "B"]), "legs": leg(json!(["1A"]))}), "invalid_itinerary", "seats"),
        (json!({"passengers": party(&["A"]), "legs": leg(json!(["1A", "1B"]))}), "invalid_itinerary", "seats"),
        (json!({"passengers": ten, "legs": leg(json!(ten_seats))}), "invalid_body", "passengers"),
        (json!({"passengers": [], "legs": leg(json!([]))}), "invalid_body", "passengers"),
        (json!({"passengers": party(&["  "]), "legs": leg(json!(["1A"]))}), "invalid_body", "passengers[0].name"),
        (
            json!({"passengers": party(&["A", &long]), "legs": leg(json!(["1A", "1B"]))}),
            "invalid_body",
            "passengers[1].name",
        ),
        (json!({"passengers": [{"name": "A", "age": 3}], "legs": leg(json!(["1A"]))}), "invalid_body", "age"),
        (
            json!({"legs": [{"airline": airline, "segment_id": segment, "seat": "1A", "seats": ["1A"]}]}),
            "invalid_body",
            "seat",
        ),
    ];
    for (body, code, field) in &cases {
        let answer = client.post(&format!("{base}/api/v1/bookings"), Some(&token), body).await;
        answer.assert_problem(400, code);
        assert!(answer.body["detail"].as_str().unwrap().contains(field), "{body}: {}", answer.body);
    }
    assert_eq!(seats_not_available(&fed.app(&airline).db).await, 0, "nothing was held");
}
