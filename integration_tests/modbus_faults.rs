//! Devices that refuse connections or never answer: their requests fail
//! within the timeout, and nothing else waits for them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use actors::sim::{powerbrain, serve_tcp, SharedBank};
use futures_util::future::join_all;
use serde_json::json;

use crate::harness::{device, plain_settings, Daemon, DaemonConfig};

const TIMEOUT_MS: u64 = 300;

/// A generous bound: far above the timeout, far below "waits for others".
const ANSWER_BOUND: Duration = Duration::from_secs(2);

struct Plant {
    daemon: Daemon,
    _blackhole: TcpListener,
    _refusing: tokio::net::TcpSocket,
}

/// M1 refuses connections, M2 accepts but never answers, M3 is healthy.
async fn plant() -> Plant {
    // A port that is bound but not listening refuses connections, and stays
    // ours for the whole test: no other process can take it meanwhile.
    let refusing = tokio::net::TcpSocket::new_v4().expect("socket");
    refusing
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let refused = refusing.local_addr().expect("addr");
    let blackhole = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let silent = blackhole.local_addr().expect("addr");
    let healthy = serve_tcp(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        2,
        SharedBank::new(powerbrain::s0_meter(1)),
    )
    .await
    .expect("simulator");
    let devices = [
        device("M1", "meter_powerbrain", &refused.to_string(), 2),
        device("M2", "meter_powerbrain", &silent.to_string(), 2),
        device("M3", "meter_powerbrain", &healthy.addr.to_string(), 2),
    ]
    .concat();
    Plant {
        daemon: Daemon::start(DaemonConfig::new(plain_settings(&devices, TIMEOUT_MS))).await,
        _blackhole: blackhole,
        _refusing: refusing,
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_clear_device_error() {
    let p = plant().await;
    let started = Instant::now();
    let (status, body) = p.daemon.get("cmd=modbus&device=M1&read=8002").await;
    assert!(started.elapsed() < ANSWER_BOUND);
    assert_eq!(status, 502);
    let text = body.as_str().unwrap_or_default();
    assert!(
        text.starts_with("device M1: not connected: 127.0.0.1:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_device_times_out_while_the_others_answer() {
    let p = plant().await;
    let d = &p.daemon;
    let started = Instant::now();
    let silent = async {
        let answer = d.get("cmd=modbus&device=M2&read=8002").await;
        (answer, Instant::now())
    };
    let healthy = async {
        let answer = d.get("cmd=modbus&device=M3&read=8002").await;
        let info = d.get("cmd=get_dev_info").await;
        (answer, info, Instant::now())
    };
    let ((silent_answer, silent_done), (healthy_answer, info, healthy_done)) =
        tokio::join!(silent, healthy);
    assert_eq!(
        silent_answer,
        (
            504,
            json!(format!("device M2: no answer within {TIMEOUT_MS} ms"))
        )
    );
    assert_eq!(healthy_answer, (200, json!(1)));
    assert_eq!(info.0, 200, "the HTTP server answers while a device hangs");
    assert!(
        healthy_done < silent_done,
        "the healthy device did not wait for the silent one"
    );
    assert!(started.elapsed() < ANSWER_BOUND);
}

#[tokio::test]
async fn queued_requests_to_a_silent_device_each_end_at_their_own_deadline() {
    let p = plant().await;
    let d = &p.daemon;
    let started = Instant::now();
    // Ten requests queue on one bus; without per-request deadlines the last
    // would wait for all nine before it (ten times the timeout).
    let answers = join_all((0..10).map(|_| d.get("cmd=modbus&device=M2&read=8002"))).await;
    for (status, _) in answers {
        assert_eq!(status, 504);
    }
    assert!(
        started.elapsed() < ANSWER_BOUND,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn communication_errors_show_in_get_dev_info() {
    let p = plant().await;
    let d = &p.daemon;
    d.get("cmd=modbus&device=M1&read=8002").await;
    d.get("cmd=modbus&device=M2&read=8002").await;
    d.ok("cmd=modbus&device=M3&read=8002").await;
    let info = d.ok("cmd=get_dev_info").await;
    let devices = info["devices"].as_array().expect("devices");
    for failed in &devices[..2] {
        assert_eq!(failed["com_err"], json!(true), "{failed}");
        assert!(failed["com_errors"].as_u64() >= Some(1), "{failed}");
        assert_ne!(failed["last_error"], json!(""), "{failed}");
        assert_eq!(failed["model"], json!("failed to connect"));
    }
    assert_eq!(devices[2]["com_err"], json!(false));
    assert_eq!(devices[2]["com_errors"], json!(0));
}
