//! The daemon as an attacker on the LAN, a hostile web page or a broken
//! state file would try it: cards and PINs, floods of logins, cross-site
//! requests, slow clients, bad state files and mistaken limits.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::harness::{device_info, simulated_power_brain, Daemon, DaemonConfig};

const PASSWORD: &str = "garage-1234";

/// A request to `/cnf?{query}`: the status and the body as JSON (or text).
async fn call(
    d: &Daemon,
    method: Method,
    query: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = d
        .client()
        .request(method, format!("{}/cnf?{query}", d.base));
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let resp = request.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// GET `/cnf?{query}` with `Authorization: {auth}`: the status and body.
async fn get_as(d: &Daemon, query: &str, auth: &str) -> (u16, Value) {
    call(d, Method::GET, query, None, &[("Authorization", auth)]).await
}

fn basic(password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"))
    )
}

async fn set_password(d: &Daemon) {
    // As query parameters of a JSON POST: what older versions took too.
    let query = format!("cmd=change_admin_pwd&new_pwd={PASSWORD}");
    assert_eq!(d.post(&query, "").await, (200, json!("ok")));
}

/// An HTTP wallbox E1 with a car, and two users, Anna and Ben.
async fn wallbox_with_users() -> Daemon {
    let settings = "[simulation]\nenabled = false\n[load]\ncycle_time_ms = 200\n\
        [[devices]]\ndev_id = \"E1\"\ndev_type = \"evse_ajax\"\n\
        [[devices]]\ndev_id = \"E2\"\ndev_type = \"evse_ajax\"\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    for user in [
        json!({"id": "anna", "name": "Anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}, {"id": "1357"}]}),
        json!({"id": "ben", "name": "Ben", "dev_ids": ["E2"], "rfids": [{"id": "9999"}]}),
    ] {
        assert_eq!(d.post("cmd=set_user", user.to_string()).await.0, 200);
    }
    set_password(&d).await;
    let auth = basic(PASSWORD);
    let (status, _) = get_as(&d, "cmd=set_ajax_evse&dev_id=E1&state=2", &auth).await;
    assert_eq!(status, 200);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_and_pins_are_credentials() {
    let d = wallbox_with_users().await;
    let auth = basic(PASSWORD);

    // Without the password a user is shown without cards; with one of the
    // user's cards, or the password, with them.
    let anna = d.ok("cmd=get_user&id=anna").await;
    assert_eq!(anna["name"], "Anna");
    assert!(anna.get("rfids").is_none(), "cards are hidden: {anna}");
    let proven = d.ok("cmd=get_user&id=anna&rfid=1357").await;
    assert_eq!(proven["rfids"][0]["id"], "04AB");
    let (status, _) = get_as(&d, "cmd=get_user&id=anna", &auth).await;
    assert_eq!(status, 200);

    // Knowing the id does not let anyone replace the cards.
    let steal = json!({"id": "anna", "rfids": [{"id": "6666"}]});
    let (status, answer) = call(&d, Method::POST, "cmd=set_user", Some(steal.clone()), &[]).await;
    assert_eq!(status, 401, "{answer}");
    let (status, by_other) = call(
        &d,
        Method::POST,
        "cmd=set_user&rfid=9999",
        Some(steal.clone()),
        &[],
    )
    .await;
    assert_eq!(status, 400, "{by_other}");
    let (_, by_unknown) = call(
        &d,
        Method::POST,
        "cmd=set_user&rfid=1111",
        Some(steal.clone()),
        &[],
    )
    .await;
    assert_eq!(
        by_other, by_unknown,
        "the refusal does not tell whose the card is"
    );
    let own = json!({"id": "anna", "rfids": [{"id": "04AB"}, {"id": "2468"}]});
    let (status, answer) = call(&d, Method::POST, "cmd=set_user&rfid=1357", Some(own), &[]).await;
    assert_eq!(
        (status, answer),
        (200, json!("ok")),
        "with her own card she may"
    );

    // Refusals at the wallbox read the same for an unknown card and another's.
    let (status, unknown) = d.get("cmd=enter_rfid&rfid=0000&dev_id=E1").await;
    let (_, others) = d.get("cmd=enter_rfid&rfid=9999&dev_id=E1").await;
    assert_eq!(status, 400);
    assert_eq!(unknown, json!("card or PIN 0000 not accepted at E1"));
    assert_eq!(others, json!("card or PIN 9999 not accepted at E1"));

    // Anonymous readers do not see who charges; the admin does.
    assert_eq!(
        d.ok("cmd=enter_rfid&rfid=04AB&dev_id=E1").await,
        json!("E1")
    );
    let e1 = device_info(&d.ok("cmd=get_dev_info").await, "E1");
    assert_eq!(
        (&e1["user"], &e1["user_name"]),
        (&json!(""), &json!("")),
        "{e1}"
    );
    assert!(!e1.to_string().contains("anna"), "{e1}");
    let (_, info) = get_as(&d, "cmd=get_dev_info", &auth).await;
    assert_eq!(device_info(&info, "E1")["user"], "anna");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_pins_is_limited_per_client_and_per_wallbox() {
    let d = wallbox_with_users().await;
    // Five wrong PINs from this address, then even the right one waits.
    for pin in 1000..1005 {
        let (status, _) = d.get(&format!("cmd=enter_rfid&rfid={pin}&dev_id=E1")).await;
        assert_eq!(status, 400);
    }
    let (status, answer) = d.get("cmd=enter_rfid&rfid=04AB&dev_id=E1").await;
    assert_eq!(status, 429, "{answer}");
    assert!(answer
        .as_str()
        .unwrap_or_default()
        .starts_with("too many wrong cards or PINs"));
    // Other addresses together get ten tries at the wallbox, then it waits too.
    let mut statuses = Vec::new();
    for n in 2..9u8 {
        let client = reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
            .build()
            .expect("client");
        for pin in [2000, 2001] {
            let url = format!("{}/cnf?cmd=enter_rfid&rfid={pin}{n}&dev_id=E1", d.base);
            let resp = client.get(url).send().await.expect("request");
            statuses.push(resp.status().as_u16());
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Another wallbox is not locked by guesses at E1.
    let (status, _) = call(
        &d,
        Method::GET,
        "cmd=enter_rfid&rfid=7777&dev_id=E2",
        None,
        &[],
    )
    .await;
    assert_ne!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_card_register_needs_the_password() {
    let d = Daemon::start(simulated_power_brain()).await;
    assert_eq!(
        d.ok("cmd=modbus&device=evse&read=8016s").await,
        json!("cFos Power Brain"),
        "other reads stay open"
    );
    set_password(&d).await;
    for query in [
        "cmd=modbus&device=evse&read=8096s",
        "cmd=modbus&device=evse&read=8100&count=2",
        "cmd=modbus&device=evse&read=all",
    ] {
        assert_eq!(d.get(query).await.0, 401, "{query}");
        let (status, _) = get_as(&d, query, &basic(PASSWORD)).await;
        assert_eq!(status, 200, "{query}");
    }
}

/// The peak resident memory of a process (VmHWM), bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_wrong_passwords_leave_memory_and_the_cycle_alone() {
    let d = Daemon::start(simulated_power_brain()).await;
    set_password(&d).await;
    let pid = d.pid().expect("pid");
    // From 200 addresses at once, so no per-address lockout helps.
    let guesses = (0..200u8).map(|n| {
        let base = d.base.clone();
        async move {
            let client = reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)))
                .build()
                .expect("client");
            let resp = client
                .post(format!("{base}/cnf?cmd=set_params"))
                .basic_auth("admin", Some(format!("guess-{n}")))
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("request");
            resp.status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let peak = peak_rss(pid);
    assert!(peak < 64 << 20, "peak RSS {} MB", peak >> 20);
    // The cycle kept its time (1 s) through the flood.
    let info = d.ok("cmd=get_dev_info").await;
    let period = info["params"]["cycle_time"].as_u64().unwrap_or(0);
    assert!((800..1500).contains(&period), "cycle_time {period} ms");
    // The right password still works.
    let (status, _) = call(
        &d,
        Method::POST,
        "cmd=set_params",
        Some(json!({})),
        &[("Authorization", &basic(PASSWORD))],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_post_json_and_pages_of_other_sites_are_refused() {
    let mut config = simulated_power_brain();
    config.settings = config
        .settings
        .replace("[http]\n", "[http]\nhosts = [\"charger.local\"]\n");
    let d = Daemon::start(config).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !d.logged("no admin password is set") {
        assert!(Instant::now() < deadline, "the log says so at start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A GET or a text/plain POST (what a form of another site can send)
    // changes nothing, even with no password set.
    let (status, answer) = d.get("cmd=change_admin_pwd&new_pwd=taken").await;
    assert_eq!(status, 405, "{answer}");
    let resp = d
        .client()
        .post(format!("{}/cnf?cmd=set_params", d.base))
        .header("Content-Type", "text/plain")
        .body(r#"{"max_total_current": 1000}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(
        d.ok("cmd=get_dev_info").await["params"]["max_total_current"],
        32000
    );

    // A JSON POST from a page of another site is refused by its Origin,
    // Referer or Sec-Fetch-Site; from the daemon's own page it is fine.
    let own = d.base.trim_start_matches("http://").to_string();
    let change = json!({"reserve_current": 1000});
    for headers in [
        vec![("Origin", "http://evil.example")],
        vec![("Referer", "http://evil.example/page.html")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let (status, answer) = call(
            &d,
            Method::POST,
            "cmd=set_params",
            Some(change.clone()),
            &headers,
        )
        .await;
        assert_eq!(status, 403, "{headers:?}: {answer}");
    }
    let origin = format!("http://{own}");
    let (status, _) = call(
        &d,
        Method::POST,
        "cmd=set_params",
        Some(change.clone()),
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
    )
    .await;
    assert_eq!(status, 200);
    // The commands clients send by GET still work by GET, without Origin.
    let (status, answer) = d.get("cmd=override_device&dev_id=E1&flags=C").await;
    assert_ne!(status, 405, "{answer}");
    let (status, _) = call(
        &d,
        Method::GET,
        "cmd=override_device&dev_id=E1&flags=C",
        None,
        &[("Sec-Fetch-Site", "cross-site")],
    )
    .await;
    assert_eq!(status, 403, "but not from a page of another site");

    // DNS rebinding: a name that is not the daemon's is refused.
    let (status, _) = call(
        &d,
        Method::GET,
        "cmd=get_dev_info",
        None,
        &[("Host", "evil.example")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &d,
        Method::GET,
        "cmd=get_dev_info",
        None,
        &[("Host", "charger.local:8080")],
    )
    .await;
    assert_eq!(status, 200, "a configured name");

    // The admin page logs in for a session token; basic auth stays for clients.
    set_password(&d).await;
    let (status, login) = call(
        &d,
        Method::POST,
        "cmd=login",
        Some(json!({"password": PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let bearer = format!("Bearer {}", login["token"].as_str().unwrap_or_default());
    let (status, _) = get_as(&d, "cmd=get_users", &bearer).await;
    assert_eq!(status, 200);
    let resp = d
        .client()
        .get(format!("{}/cnf?cmd=get_users", d.base))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    let challenge = resp
        .headers()
        .get("WWW-Authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        !challenge.starts_with("Basic"),
        "a browser is never asked to keep a password: {challenge}"
    );
    call(
        &d,
        Method::POST,
        "cmd=logout",
        Some(json!({})),
        &[("Authorization", &bearer)],
    )
    .await;
    let (status, _) = get_as(&d, "cmd=get_users", &bearer).await;
    assert_eq!(status, 401, "the session ended");
    let (status, _) = get_as(&d, "cmd=get_users", &basic(PASSWORD)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_bodies_time_out_and_one_address_cannot_hold_the_server() {
    let d = Daemon::start(
        simulated_power_brain()
            .env("CHARGEBRAIN__HTTP__BODY_TIMEOUT_S", 4)
            .env("CHARGEBRAIN__HTTP__MAX_CONNECTIONS_PER_CLIENT", 8),
    )
    .await;
    let pid = d.pid().expect("pid");
    let open_files = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    d.ok("cmd=get_dev_info").await;
    let before = open_files();
    let server: SocketAddr = d
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    // 60 connections from 127.0.0.2, each with a head and one byte of a body.
    let mut held = Vec::new();
    for _ in 0..60 {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)))
            .expect("bind");
        let mut stream = socket.connect(server).await.expect("connect");
        let head = format!(
            "POST /cnf?cmd=set_params HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        held.push(stream);
    }
    let started = Instant::now();
    // The connections over the cap are answered at once and let go within
    // a second; the others wait for their bodies.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    // Meanwhile another address is served at once.
    assert_eq!(
        d.ok("cmd=get_dev_types").await["evse_powerbrain"],
        "cFos Power Brain Wallbox"
    );
    let held_open = open_files().saturating_sub(before);
    assert!(
        held_open < 30,
        "{held_open} more descriptors open: one address held far more than its 8 connections"
    );
    // Each held connection is answered (408 or 429) and closed.
    for mut stream in held {
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "a connection was still open after {:?}",
            started.elapsed()
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 408") || text.starts_with("HTTP/1.1 429"),
            "{text}"
        );
    }
}

/// Starts the daemon on a state file changed by `edit`: the error it stops with.
async fn refused_state(edit: impl Fn(&mut Value)) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || DaemonConfig {
        settings: "[simulation]\nenabled = false\n".into(),
        env: Vec::new(),
        dir: Some(dir.path().to_path_buf()),
    };
    let d = Daemon::start(config()).await;
    d.ok("cmd=get_dev_info").await;
    assert_eq!(d.stop().await, Some(0));
    let path = dir.path().join("data/state.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("state")).expect("json");
    edit(&mut state);
    std::fs::write(&path, state.to_string()).expect("write");
    match Daemon::try_start(config()).await {
        Ok(_) => panic!("started with {state}"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_is_checked_like_api_input() {
    let err = refused_state(|s| {
        s["users"] = json!([
            {"id": "anna", "rfids": [{"id": "04AB"}]},
            {"id": "ben", "rfids": [{"id": "04ab"}]}
        ]);
    })
    .await;
    assert!(
        err.contains("users: rfid 04ab belongs to two users"),
        "{err}"
    );
    let err = refused_state(|s| s["title"] = json!("x".repeat(100_000))).await;
    assert!(err.contains("title: longer than 200 characters"), "{err}");
    let err = refused_state(|s| s["admin_hash"] = json!("$argon2id$v=19$broken")).await;
    assert!(err.contains("admin_hash: not a PHC string"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_total_current_has_one_range_and_a_hint_for_amperes() {
    let d = Daemon::start(simulated_power_brain()).await;
    let (status, answer) = d
        .post("cmd=set_params", r#"{"max_total_current": 16}"#)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!("max_total_current: 16 mA is not 1000 to 1000000 (16 is mA; did you mean 16000?)")
    );
    for too_much in [1_000_001, 10_000_000] {
        let (status, answer) = d
            .post(
                "cmd=set_params",
                format!(r#"{{"max_total_current": {too_much}}}"#),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            answer,
            json!(format!(
                "max_total_current: {too_much} mA is not 1000 to 1000000"
            ))
        );
    }
    let err = match Daemon::try_start(DaemonConfig::new(
        "[simulation]\nenabled = false\n[load]\nmax_total_current = 32\n",
    ))
    .await
    {
        Ok(_) => panic!("started with 32 mA"),
        Err(e) => e,
    };
    assert!(
        err.contains(
            "load.max_total_current: 32 mA is not 1000 to 1000000 (32 is mA; did you mean 32000?)"
        ),
        "{err}"
    );
}
