//! The admin web page: static files embedded in the binary and served as
//! they are. The page itself talks to the daemon through `/cnf` only.
//! Also `/ui/en/sim.htm`, the page cFos clients fetch to check the admin
//! password.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use super::{auth, config, ApiError, AppState};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
];

/// Strong validators, computed once: a browser revalidates each load
/// (`no-cache`) and gets a 304 with no body while the binary is the same.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (index, asset) in ASSETS.iter().enumerate() {
        cfg.route(asset.path, web::get().to(move |req| serve(req, index)));
        cfg.route(asset.path, web::head().to(move |req| serve(req, index)));
    }
    cfg.route("/index.html", web::get().to(|req| serve(req, 0)));
    cfg.route("/ui/en/sim.htm", web::get().to(credential_probe));
}

/// `GET /ui/en/sim.htm`: a page of the cFos web interface that needs the
/// admin password. The Home Assistant integration fetches it with basic
/// auth to check the credentials it was given: 200 with the right password
/// (or while none is set), 401 with a wrong one or none.
async fn credential_probe(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let credentials = auth::Credentials::of(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok()),
    );
    config::require_admin(&state, &req, credentials, "sim.htm").await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>chargebrain</title>\
             <p>The admin password is right. <a href=\"/\">Open the admin page</a>.</p></html>\n",
        ))
}

async fn serve(req: HttpRequest, index: usize) -> HttpResponse {
    let (Some(asset), Some(etag)) = (ASSETS.get(index), etags().get(index)) else {
        return HttpResponse::NotFound().finish();
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; \
             script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ));
    if fresh {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.body)
}
