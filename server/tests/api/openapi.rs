//! The OpenAPI document covers every public route, and the web app is served safely.

use std::collections::BTreeSet;

use crate::helpers::*;

/// Every `web::resource("…")` a routes module registers for the public API, read from the
/// source: a route added without documenting it fails here.
fn public_routes() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // The internal API is for airlines only; the web app's files are not an API; the
        // original PassCom API is an adapter for the original clients, not ours to document.
        if ["webapp.rs", "internal.rs", "legacy.rs"].contains(&path.file_name().unwrap().to_str().unwrap()) {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for piece in source.split("web::resource(\"").skip(1) {
            let route = piece.split('"').next().unwrap();
            // The document itself, and a fault-injection route that is off unless a test turns it on.
            if route != "/api/v1/openapi.json" && !route.starts_with("/fault/") {
                found.insert(route.to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn the_openapi_document_lists_every_public_route_with_its_error_codes() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let doc = fed.client().get(&format!("{}/api/v1/openapi.json", fed.url("a")), None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc.body["openapi"]);
    let documented: BTreeSet<String> = doc.body["paths"].as_object().unwrap().keys().cloned().collect();
    let routes = public_routes();
    assert!(routes.len() >= 15, "{routes:?}");
    for route in &routes {
        assert!(documented.contains(route), "{route} is not in the OpenAPI document");
    }
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !path.starts_with("/api/") {
                continue;
            }
            let codes: Vec<&String> =
                op["responses"].as_object().unwrap().keys().filter(|s| !s.starts_with('2')).collect();
            let named = op["responses"]
                .as_object()
                .unwrap()
                .values()
                .any(|r| r["description"].as_str().unwrap_or("").contains('`'));
            assert!(
                (!codes.is_empty() && named) || path == "/api/v1/federation",
                "{method} {path} lists no error codes"
            );
        }
    }
    assert!(doc.body["components"]["schemas"]["Code"].to_string().contains("seat_locked"));
}

#[tokio::test]
async fn the_web_app_is_served_with_a_strict_content_security_policy() {
    let fed = TestFederation::start_airlines(&["a"], Options::empty()).await;
    let client = fed.client();
    for (path, kind) in [("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css")] {
        let answer = client.send(client.http.get(format!("{}{path}", fed.url("a")))).await;
        assert_eq!(answer.status, 200, "{path}");
        let header = |name: &str| answer.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(header("content-type").starts_with(kind), "{path}: {}", header("content-type"));
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    let page = client.send(client.http.get(format!("{}/", fed.url("a")))).await;
    let html = page.body.as_str().unwrap();
    assert!(!html.contains("<script>") && !html.contains("onclick"), "no inline script in the page");
    client.get(&format!("{}/nothing-here.js", fed.url("a")), None).await.assert_problem(404, "not_found");
}
