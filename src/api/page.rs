//! The admin web page: static files embedded in the binary (`web/`: the
//! HTML, the style sheet, the icon and the script's ES modules) and served
//! as they are, but for index.html naming the others under the version of
//! the page. The page itself talks to the daemon through `/cnf` only.
//! Also `/ui/en/sim.htm`, the page cFos clients fetch to check the admin
//! password.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use super::{admin, auth, ApiError, AppState};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// A module of the page's script, `web/js/<file>`, served as `/js/<file>`.
macro_rules! module {
    ($file:literal) => {
        Asset {
            path: concat!("/js/", $file),
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!(concat!("../../web/js/", $file)),
        }
    };
}

/// Every file of `web/` but its unit tests (`web/test/`, and `package.json`,
/// which only tells Node that the modules are modules). A unit test below
/// checks the list against the folder, and the modules against index.html.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
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
    module!("main.js"),
    module!("dom.js"),
    module!("api.js"),
    module!("login.js"),
    module!("poll.js"),
    module!("form.js"),
    module!("meta.js"),
    module!("views/dashboard.js"),
    module!("views/history.js"),
    module!("views/settings.js"),
    module!("views/devices.js"),
    module!("views/users.js"),
    module!("views/rules.js"),
    module!("lib/format.js"),
    module!("lib/words.js"),
    module!("lib/reasons.js"),
    module!("lib/devices.js"),
    module!("lib/chart.js"),
    module!("lib/summary.js"),
    module!("lib/parse.js"),
    module!("lib/rules.js"),
    module!("lib/users.js"),
    module!("lib/sessions.js"),
    module!("lib/mqtt.js"),
    module!("lib/wiring.js"),
];

/// What is served of each asset, computed once: its body (index.html's
/// with the versioned paths) and a strong validator.
struct Served {
    body: Bytes,
    etag: String,
}

/// A short hex digest, for validators and the version.
fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The version of the page's files, a digest of them all. index.html names
/// every other file under `/v/<version>/`, where it is cached for good: a
/// reload asks for index.html alone (a 304 while the binary is the same),
/// not for each of the modules, and another binary's page has other URLs.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let parts: Vec<&[u8]> = ASSETS
            .iter()
            .flat_map(|a| [a.path.as_bytes(), a.body])
            .collect();
        digest(&parts)
    })
}

fn served() -> &'static [Served] {
    static SERVED: OnceLock<Vec<Served>> = OnceLock::new();
    SERVED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let body = if a.path == "/" {
                    Bytes::from(versioned_index(a.body))
                } else {
                    Bytes::from_static(a.body)
                };
                let etag = format!("\"{}\"", digest(&[&body]));
                Served { body, etag }
            })
            .collect()
    })
}

/// index.html with each file it names (`"/style.css"`, `"/js/main.js"`...)
/// under `/v/<version>`. The modules' own imports are relative, so they
/// follow.
fn versioned_index(raw: &[u8]) -> String {
    let mut html = String::from_utf8_lossy(raw).into_owned();
    for asset in ASSETS.iter().filter(|a| a.path != "/") {
        html = html.replace(
            &format!("\"{}\"", asset.path),
            &format!("\"/v/{}{}\"", version(), asset.path),
        );
    }
    html
}

/// The asset a path names: its own path, or the same under `/v/<version>`
/// (true); a path under another version is not found.
fn asset_at(path: &str) -> Option<(usize, bool)> {
    let (plain, versioned) = match path.strip_prefix("/v/") {
        Some(rest) => (rest.strip_prefix(version())?, true),
        None if path == "/index.html" => ("/", false),
        None => (path, false),
    };
    let index = ASSETS.iter().position(|a| a.path == plain)?;
    // index.html is never cached for good: it names the version.
    (!versioned || index != 0).then_some((index, versioned))
}

/// Whether `path` is a file of the page (for the request metrics' labels).
pub fn is_page(path: &str) -> bool {
    asset_at(path).is_some()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    for asset in ASSETS {
        cfg.route(asset.path, web::get().to(serve));
        cfg.route(asset.path, web::head().to(serve));
    }
    cfg.route("/index.html", web::get().to(serve));
    cfg.route("/v/{version}/{file:.*}", web::get().to(serve));
    cfg.route("/v/{version}/{file:.*}", web::head().to(serve));
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
    admin::require_admin(&state, &super::Caller::Http(&req), credentials, "sim.htm").await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>chargebrain</title>\
             <p>The admin password is right. <a href=\"/\">Open the admin page</a>.</p></html>\n",
        ))
}

/// Serves a file of the page: under `/v/<version>/` to be cached for good,
/// else to be revalidated at each load by its ETag (a 304 with no body
/// while the binary is the same).
async fn serve(req: HttpRequest) -> HttpResponse {
    let Some((index, versioned)) = asset_at(req.path()) else {
        return HttpResponse::NotFound().finish();
    };
    let (Some(asset), Some(served)) = (ASSETS.get(index), served().get(index)) else {
        return HttpResponse::NotFound().finish();
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == served.etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    let caching = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .insert_header((header::CACHE_CONTROL, caching))
        .insert_header((header::ETAG, served.etag.as_str()))
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
    response
        .content_type(asset.content_type)
        .body(served.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::App;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn text(asset: &Asset) -> &str {
        std::str::from_utf8(asset.body).expect("the page's files are UTF-8")
    }

    /// The served path of every file under `dir`, as `/<relative path>`.
    fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read web/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files_under(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).expect("under web/");
                out.insert(format!("/{}", rel.to_string_lossy()));
            }
        }
    }

    #[test]
    fn every_file_of_the_page_is_embedded() {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = BTreeSet::new();
        files_under(&web, &web, &mut on_disk);
        let on_disk: BTreeSet<String> = on_disk
            .into_iter()
            .filter(|p| !p.starts_with("/test/") && p != "/package.json")
            .map(|p| if p == "/index.html" { "/".into() } else { p })
            .collect();
        let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(embedded, on_disk, "ASSETS against the files of web/");
        assert_eq!(ASSETS.len(), embedded.len(), "no file twice");
    }

    /// The module paths a module imports, resolved against its own path as
    /// a browser does. An import statement starts a line and may go on over
    /// several; its module is its first quoted text.
    fn imports(module: &Asset) -> Vec<String> {
        let dir = module.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut specs = Vec::new();
        let mut lines = text(module).lines();
        while let Some(line) = lines.next() {
            if !line.starts_with("import ") {
                continue;
            }
            let mut statement = line.to_string();
            while !statement.contains('"') {
                statement += lines.next().unwrap_or("\"\"");
            }
            specs.extend(statement.split('"').nth(1).map(str::to_string));
        }
        specs
            .iter()
            .map(|spec| {
                // Relative, so the page never loads a module from elsewhere.
                assert!(
                    spec.starts_with("./") || spec.starts_with("../"),
                    "{}: import {spec}",
                    module.path
                );
                let mut parts: Vec<&str> = dir.split('/').collect();
                for part in spec.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        name => parts.push(name),
                    }
                }
                parts.join("/")
            })
            .collect()
    }

    #[test]
    fn every_module_is_imported_served_and_preloaded() {
        let modules: BTreeSet<&str> = ASSETS
            .iter()
            .filter(|a| a.content_type.starts_with("text/javascript"))
            .map(|a| a.path)
            .collect();
        // Every import names a module that is served, relatively, as
        // the browser resolves it.
        let mut reached = BTreeSet::from(["/js/main.js".to_string()]);
        let mut todo = vec!["/js/main.js".to_string()];
        while let Some(path) = todo.pop() {
            let module = ASSETS.iter().find(|a| a.path == path).expect("served");
            for import in imports(module) {
                assert!(
                    modules.contains(import.as_str()),
                    "{path} imports {import}, which is not served"
                );
                if reached.insert(import.clone()) {
                    todo.push(import);
                }
            }
        }
        let reached: BTreeSet<&str> = reached.iter().map(String::as_str).collect();
        assert_eq!(reached, modules, "every module is used by the page");
        // index.html loads main.js and preloads every other module, so the
        // browser fetches them at once instead of level by level.
        let index = text(&ASSETS[0]);
        assert!(index.contains(r#"<script type="module" src="/js/main.js"></script>"#));
        let preloaded: BTreeSet<&str> = index
            .lines()
            .filter_map(|l| l.strip_prefix(r#"<link rel="modulepreload" href=""#))
            .filter_map(|l| l.strip_suffix(r#"">"#))
            .collect();
        let others: BTreeSet<&str> = modules
            .iter()
            .copied()
            .filter(|m| *m != "/js/main.js")
            .collect();
        assert_eq!(preloaded, others, "index.html's modulepreload links");
        // Nothing from elsewhere: index.html names files of this daemon only.
        for attr in ["src=\"", "href=\""] {
            for (at, _) in index.match_indices(attr) {
                let value = index[at + attr.len()..].split('"').next().unwrap_or("");
                assert!(
                    value.starts_with('/') || value.starts_with('#'),
                    "index.html: {attr}{value}\""
                );
            }
        }
    }

    /// GET `path` from the page's routes (with an If-None-Match), as the
    /// status, the headers that matter here and the body.
    async fn get(path: &str, tag: Option<&str>) -> (u16, [String; 4], Bytes) {
        let app = init_service(App::new().configure(routes)).await;
        let mut req = TestRequest::get().uri(path);
        if let Some(tag) = tag {
            req = req.insert_header((header::IF_NONE_MATCH, tag));
        }
        let res = call_service(&app, req.to_request()).await;
        let header = |name: header::HeaderName| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let headers = [
            header(header::ETAG),
            header(header::CACHE_CONTROL),
            header(header::CONTENT_SECURITY_POLICY),
            header(header::CONTENT_TYPE),
        ];
        (res.status().as_u16(), headers, read_body(res).await)
    }

    #[actix_web::test]
    async fn every_file_is_served_with_its_headers_and_revalidated_by_etag() {
        for path in ASSETS.iter().map(|a| a.path).chain(["/index.html"]) {
            let (status, [etag, caching, csp, kind], body) = get(path, None).await;
            assert_eq!(status, 200, "{path}");
            assert!(etag.starts_with('"') && etag.len() == 18, "{path}: {etag}");
            assert_eq!(caching, "no-cache", "{path}");
            assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            if path.ends_with(".js") {
                assert_eq!(kind, "text/javascript; charset=utf-8", "{path}");
            }
            assert!(!body.is_empty(), "{path}");
            // A reload sends the tag back and gets no body.
            let (status, [again, ..], body) = get(path, Some(&etag)).await;
            assert_eq!((status, again.as_str()), (304, etag.as_str()), "{path}");
            assert!(body.is_empty(), "{path}");
        }
        assert_eq!(get("/js/nothing.js", None).await.0, 404);
        assert!(is_page("/js/lib/format.js") && is_page("/index.html") && !is_page("/cnf"));
    }

    #[actix_web::test]
    async fn index_html_names_the_files_under_their_version_cached_for_good() {
        let (_, _, index) = get("/", None).await;
        let index = std::str::from_utf8(&index).expect("UTF-8").to_string();
        let prefix = format!("/v/{}/", version());
        assert!(
            index.contains(&format!(
                r#"<script type="module" src="{prefix}js/main.js">"#
            )),
            "{index}"
        );
        let mut named = 0;
        for attr in ["src=\"", "href=\""] {
            for (at, _) in index.match_indices(attr) {
                let path = index[at + attr.len()..].split('"').next().unwrap_or("");
                if path.starts_with('#') {
                    continue;
                }
                assert!(path.starts_with(&prefix), "{path}");
                let (status, [_, caching, csp, _], body) = get(path, None).await;
                assert_eq!(status, 200, "{path}");
                assert_eq!(caching, "public, max-age=31536000, immutable", "{path}");
                assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
                let plain = &path[prefix.len() - 1..];
                let asset = ASSETS.iter().find(|a| a.path == plain).expect("an asset");
                assert_eq!(&body[..], asset.body, "{path}");
                named += 1;
            }
        }
        // Every file but index.html itself, and the icon twice.
        assert_eq!(named, ASSETS.len());
        // Another version's files and index.html itself are not cached for good.
        for path in [
            "/v/0123456789abcdef/js/main.js",
            prefix.as_str(),
            &format!("{prefix}index.html"),
        ] {
            assert_eq!(get(path, None).await.0, 404, "{path}");
        }
        assert!(
            is_page(&format!("{prefix}js/main.js")) && !is_page("/v/0123456789abcdef/js/main.js")
        );
    }
}
