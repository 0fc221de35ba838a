//! The passenger web app, embedded in the binary: every airline serves it at `/`, so a
//! federation needs no web server of its own; its staff page is at `/staff`. The pages only use
//! the public API.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// No inline script or style, nothing from elsewhere: what the page shows cannot run.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        ($name, $mime, include_bytes!(concat!("../../web/", $name)).as_slice())
    };
}

const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("search.js", "text/javascript; charset=utf-8"),
    asset!("booking.js", "text/javascript; charset=utf-8"),
    asset!("seatmap.js", "text/javascript; charset=utf-8"),
    asset!("passes.js", "text/javascript; charset=utf-8"),
    asset!("staff.html", "text/html; charset=utf-8"),
    asset!("staff.js", "text/javascript; charset=utf-8"),
];

pub fn config(cfg: &mut web::ServiceConfig) {
    for &(name, mime, body) in ASSETS {
        // The two pages live at `/` and `/staff`; their scripts and styles under their names.
        let path = match name {
            "index.html" => "/".to_owned(),
            "staff.html" => "/staff".to_owned(),
            other => format!("/{other}"),
        };
        cfg.service(web::resource(path).get(move || serve(mime, body)));
    }
}

async fn serve(mime: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(mime)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Short: a new release is picked up within a minute.
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(body)
}
