//! `cmd=modbus` against the built-in simulated Power Brain: the documented
//! examples byte for byte, writes read back, and many clients at once.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use actors::sim::{powerbrain, serve_tcp, SharedBank};
use futures_util::future::join_all;
use serde_json::json;

use crate::harness::{device, plain_settings, simulated_power_brain, Daemon, DaemonConfig};

#[tokio::test]
async fn every_documented_example_is_answered_exactly() {
    let d = Daemon::start(simulated_power_brain()).await;
    let examples = [
        ("cmd=modbus&device=meter1&read=8002", "1"),
        ("cmd=modbus&device=meter1&read=8062d", "-1"),
        (
            "cmd=modbus&device=meter1&read=8016s",
            "\"cFos Power Brain\"",
        ),
        (
            "cmd=modbus&device=meter1&read=8002&count=10",
            "[1,257,256,0,256,0,26211,26165,11619,13366]",
        ),
        (
            "cmd=modbus&device=meter2&read=all",
            r#"{"8000d":-821755904,"8002":1,"8003":257,"8004":16777216,"8006":256,"8007":0,"8008s":"fcf5-c46d-310c","8016s":"cFos Power Brain","8040":41,"8041":1,"8042d":1000,"8044":1,"8045":230,"8046":230,"8047":230,"8050q":0,"8054d":0,"8056":0,"8057":0,"8058q":0,"8062d":-1,"8064d":0,"8066d":0,"8068d":0,"8070":0,"8071":0,"8120d":0}"#,
        ),
        ("cmd=modbus&device=evse&write=8044&value=7", "\"ok\""),
        ("cmd=modbus&device=evse&write=8050q&value=1", "\"ok\""),
        (
            "cmd=modbus&device=evse&write=8044d&value=1",
            "\"bad modbus register size\"",
        ),
        (
            "cmd=modbus&device=evse&write=8044&values=[7,230,230,230%20]",
            "\"ok\"",
        ),
    ];
    for (query, expected) in examples {
        // Writes are changes: POST, as the README shows them.
        let (status, body) = if query.contains("write=") {
            d.change_text(query).await
        } else {
            d.get_text(query).await
        };
        assert_eq!(body, expected, "{query}");
        let expected_status = if expected.contains("bad modbus") {
            400
        } else {
            200
        };
        assert_eq!(status, expected_status, "{query}");
    }
}

#[tokio::test]
async fn dev_ids_work_like_aliases() {
    let d = Daemon::start(simulated_power_brain()).await;
    assert_eq!(d.ok("cmd=modbus&device=M1&read=8002").await, json!(1));
    assert_eq!(d.ok("cmd=modbus&device=e1&read=8090").await, json!(320));
}

#[tokio::test]
async fn numbers_written_as_decimals_are_taken_where_whole() {
    let d = Daemon::start(simulated_power_brain()).await;
    assert_eq!(
        d.ok("cmd=modbus&device=meter1&read=8002&count=2.0").await,
        json!([1, 257])
    );
    assert_eq!(
        d.ok_change("cmd=modbus&device=evse&write=8044&value=6.0")
            .await,
        json!("ok")
    );
    assert_eq!(d.ok("cmd=modbus&device=evse&read=8044").await, json!(6));
}

#[tokio::test]
async fn read_all_keys_every_wide_register_with_its_suffix() {
    let d = Daemon::start(simulated_power_brain()).await;
    // M3 is the simulated SDM630: its float32 pairs are 32-bit registers.
    let all = d.ok("cmd=modbus&device=M3&read=all").await;
    let keys: Vec<&String> = all
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(keys.len() > 30, "{all}");
    assert!(keys.iter().all(|k| k.ends_with('d')), "{keys:?}");
    // Each reads back as the same key does alone.
    let l1 = d.ok("cmd=modbus&device=M3&read=0d").await;
    assert_eq!(all["0d"], l1);
    assert!(l1.as_i64().is_some_and(|bits| bits != 0), "a voltage");
}

#[tokio::test]
async fn writes_are_read_back() {
    let d = Daemon::start(simulated_power_brain()).await;
    // The fixed current in 0.1 A (8093/8094 belong to the load manager).
    assert_eq!(
        d.ok_change("cmd=modbus&device=evse&write=8091&value=123")
            .await,
        json!("ok")
    );
    assert_eq!(d.ok("cmd=modbus&device=evse&read=8091").await, json!(123));
    // 64-bit, negative 32-bit and multi-register writes.
    d.ok_change("cmd=modbus&device=meter1&write=8058q&value=9007199254740993")
        .await;
    assert_eq!(
        d.ok("cmd=modbus&device=meter1&read=8058q").await,
        json!(9_007_199_254_740_993_i64)
    );
    d.ok_change("cmd=modbus&device=meter1&write=8042d&value=-2")
        .await;
    assert_eq!(d.ok("cmd=modbus&device=meter1&read=8042d").await, json!(-2));
    d.ok_change("cmd=modbus&device=meter1&write=8044&values=[5,%20231,232,233]")
        .await;
    assert_eq!(
        d.ok("cmd=modbus&device=meter1&read=8044&count=4").await,
        json!([5, 231, 232, 233])
    );
    // A device keeps its own registers: meter 2 did not change.
    assert_eq!(
        d.ok("cmd=modbus&device=meter2&read=8044&count=4").await,
        json!([1, 230, 230, 230])
    );
    // count with a suffix reads consecutive values of that type.
    assert_eq!(
        d.ok("cmd=modbus&device=evse&read=8064d&count=3").await,
        json!([0, 0, 0])
    );
}

#[tokio::test]
async fn read_only_registers_are_refused_and_stay_unchanged() {
    let d = Daemon::start(simulated_power_brain()).await;
    let (status, body) = d.change("cmd=modbus&device=evse&write=8090&value=2").await;
    assert_eq!(
        (status, body),
        (400, json!("register 8090 (cable_current) is read-only"))
    );
    assert_eq!(d.ok("cmd=modbus&device=evse&read=8090").await, json!(320));
    // Outside the map the request goes to the device, which refuses it.
    let (status, body) = d.get("cmd=modbus&device=evse&read=9000").await;
    assert_eq!(status, 502);
    assert_eq!(
        body,
        json!("device E1: modbus exception: illegal data address (code 2)")
    );
}

#[tokio::test]
async fn get_dev_info_lists_every_device_with_its_identity() {
    let d = Daemon::start(simulated_power_brain()).await;
    // The model is read from the device shortly after start.
    let mut info = d.ok("cmd=get_dev_info").await;
    for _ in 0..100 {
        let models = [&info["devices"][3]["model"], &info["devices"][4]["model"]];
        // Not asked yet ("starting") or not identified yet: wait.
        let pending = [json!("failed to connect"), json!("starting")];
        if models.iter().all(|m| !pending.contains(m)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        info = d.ok("cmd=get_dev_info").await;
    }
    assert_eq!(info["params"]["vsn"]["vendorid"], json!(52997));
    let devices = info["devices"].as_array().expect("devices array");
    let ids: Vec<_> = devices.iter().map(|d| d["dev_id"].clone()).collect();
    assert_eq!(
        ids,
        [
            json!("E1"),
            json!("E2"),
            json!("M1"),
            json!("M2"),
            json!("M3"),
            json!("E4")
        ]
    );
    let evse = &devices[0];
    assert_eq!(evse["dev_type"], json!("evse_powerbrain"));
    assert_eq!(evse["is_evse"], json!(true));
    assert_eq!(evse["device_enabled"], json!(1));
    assert_eq!(evse["id"], json!(1));
    assert_eq!(evse["com_err"], json!(false));
    assert_eq!(devices[2]["is_evse"], json!(false));
    // manufacturer,device,device version,firmware,serial: five fields, no
    // comma inside one.
    assert_eq!(
        devices[3]["model"],
        json!("cFos,Power Brain,1.1,1.0,fcf5-c46d-310c")
    );
    assert_eq!(
        devices[4]["model"],
        json!("Eastron,SDM630 / SDM630MCT / SDM72DM-V2,,,")
    );
}

#[tokio::test]
async fn two_hundred_concurrent_reads_share_one_connection() {
    let bank = SharedBank::new(powerbrain::s0_meter(1));
    let sim = serve_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 2, bank)
        .await
        .expect("simulator");
    let settings = plain_settings(
        &device("M1", "meter_powerbrain", &sim.addr.to_string(), 2),
        2000,
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let reads = (0..200u16).map(|i| {
        let addr = 8002 + (i % 3);
        let d = &d;
        async move {
            (
                addr,
                d.get_text(&format!("cmd=modbus&device=M1&read={addr}"))
                    .await,
            )
        }
    });
    let answers = join_all(reads).await;
    for (addr, (status, body)) in answers {
        let expected = match addr {
            8002 => "1",
            8003 => "257",
            _ => "256",
        };
        assert_eq!((status, body.as_str()), (200, expected), "read {addr}");
    }
    assert_eq!(
        sim.connections.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_third_party_modbus_client_reads_the_simulator() {
    let d = Daemon::start(crate::harness::simulated_power_brain()).await;
    let evse_port = d.simulated["evse"].port();
    d.ok_change("cmd=modbus&device=evse&write=8091&value=140")
        .await;
    let output = Command::new("mbpoll")
        .args([
            "-m",
            "tcp",
            "-p",
            &evse_port.to_string(),
            "-a",
            "1",
            "-t",
            "4",
            "-r",
            "8090",
            "-0",
            "-c",
            "2",
            "-1",
        ])
        .arg("127.0.0.1")
        .output()
        .expect("mbpoll is needed for this test: apt-get install mbpoll");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "mbpoll failed: {text}");
    assert!(text.contains("[8090]: \t320"), "{text}");
    assert!(text.contains("[8091]: \t140"), "{text}");
}
