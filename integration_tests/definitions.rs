//! Devices defined as data, through the real binary: a Heidelberg Energy
//! Control (a shipped definition) over Modbus RTU beside a Power Brain on
//! one site; a user's own definition directory; a bad definition stops the
//! daemon naming its file and field.

use std::time::Duration;

use actors::drivers::DeviceType;
use actors::sim::{powerbrain, serve_rtu, serve_tcp, RegisterBank, SharedBank};
use serde_json::{json, Value};
use tokio_serial::{SerialPort, SerialStream};

use crate::harness::{device, device_info, plain_settings, Daemon, DaemonConfig};

const SETTLE: Duration = Duration::from_secs(15);

/// A Heidelberg Energy Control as its register table describes it: layout
/// 1.0.7, a car charging (C2), 230 V, the maker's defaults for the
/// watchdog (15 000 ms) and the fail-safe current (0).
fn heidelberg() -> SharedBank {
    let map = DeviceType::find("evse_heidelberg")
        .expect("the Heidelberg definition ships in the binary")
        .register_map();
    let mut bank = RegisterBank::new(map);
    bank.set_words(4, &[0x0107, 7]);
    bank.set_words(10, &[230, 231, 229]);
    bank.set_words(13, &[1]);
    bank.set_words(17, &[0x0001, 0x86a0]); // 100 000 Wh since installation
    bank.set_words(100, &[16, 6]);
    bank.set_words(257, &[15_000, 4, 1]);
    bank.set_words(261, &[160, 0]);
    SharedBank::new(bank)
}

fn set_ma(info: &Value, dev_id: &str) -> i64 {
    device_info(info, dev_id)["last_set_charging_cur"]
        .as_i64()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heidelberg_over_rtu_follows_the_allocation_beside_a_power_brain() {
    let (line, daemon_end) = SerialStream::pair().expect("pty pair");
    let path = daemon_end.name().expect("pty name");
    let hd = heidelberg();
    tokio::spawn(serve_rtu(line, vec![(1, hd.clone())]));
    let mut pb_bank = powerbrain::evse();
    pb_bank.set_int(8092, 2); // charging
    let pb = SharedBank::new(pb_bank);
    let pb_sim = serve_tcp("127.0.0.1:0".parse().expect("addr"), 1, pb.clone())
        .await
        .expect("power brain");

    let devices = [
        device("E1", "evse_powerbrain", &pb_sim.addr.to_string(), 1),
        device("E2", "evse_heidelberg", &format!("{path},19200,8,e,1"), 1),
        "fail_safe_duration_s = 30\nfail_safe_current = 6000\n".to_string(),
    ]
    .concat();
    let settings =
        plain_settings(&devices, 1000) + "[load]\nmax_total_current = 20000\ncycle_time_ms = 500\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;

    // 20 A for two charging cars: 10 A each; the Heidelberg's maximal
    // current command (261, 0.1 A) follows.
    let info = d
        .wait_for(SETTLE, "10 A each", |i| {
            set_ma(i, "E1") == 10_000 && set_ma(i, "E2") == 10_000
        })
        .await;
    let e2 = device_info(&info, "E2");
    assert_eq!(e2["state"], 3, "C2 is charging");
    assert_eq!(e2["model"], "Heidelberg,Energy Control,,,");
    d.wait_for(SETTLE, "261 = 100", |_| {
        hd.lock().read(261, 1) == Ok(vec![100])
    })
    .await;
    assert_eq!(pb.lock().read(8093, 1), Ok(vec![100]));
    // Its watchdog (257, ms) and fail-safe current (262, 0.1 A) are set
    // from the device's settings.
    assert_eq!(hd.lock().read(257, 1), Ok(vec![30_000]));
    assert_eq!(hd.lock().read(262, 1), Ok(vec![60]));

    // The car leaves the Heidelberg (A1): the Power Brain gets its own
    // maximum (16 A) and the Heidelberg's command goes to 0 (it has no
    // enable register).
    hd.lock().set_words(5, &[2]);
    d.wait_for(SETTLE, "E1 gets 16 A", |i| {
        set_ma(i, "E1") == 16_000 && device_info(i, "E2")["state"] == 1
    })
    .await;
    d.wait_for(SETTLE, "261 = 0", |_| hd.lock().read(261, 1) == Ok(vec![0]))
        .await;

    // `read=all` lists the definition's registers by their names.
    let all = d.ok("cmd=modbus&device=E2&read=all").await;
    assert!(all.get("261").is_some(), "{all}");
    assert_eq!(d.ok("cmd=modbus&device=E2&read=261").await, json!(0));
    drop(daemon_end);
}

const OWN_METER: &str = r#"
name = "my_meter"
kind = "meter"
title = "My meter"
maker = "Me"
device = "Meter 1"
source = "Me, register table 1.0"
[readings]
power = { addr = 0, type = "i32", invert = true }
import_energy = { addr = 2, type = "u32", scale = 0.01 }
"#;

#[tokio::test]
async fn a_users_definition_is_a_device_type_like_a_built_in_one() {
    let defs = tempfile::tempdir().expect("tempdir");
    std::fs::write(defs.path().join("my_meter.toml"), OWN_METER).expect("write");
    let bank = {
        static MAP: actors::drivers::map::RegisterMap = actors::drivers::map::RegisterMap {
            registers: &[
                actors::drivers::map::reg(
                    "power",
                    0,
                    actors::codec::RegType::I32,
                    actors::drivers::map::Access::Read,
                    "W",
                ),
                actors::drivers::map::reg(
                    "energy",
                    2,
                    actors::codec::RegType::I32,
                    actors::drivers::map::Access::Read,
                    "0.01 kWh",
                ),
            ],
        };
        let mut bank = RegisterBank::new(&MAP);
        // Counted the other way round: -1500 here is 1500 W drawn.
        bank.set_words(0, &[0xffff, 0xfa24]);
        bank.set_words(2, &[0, 12_345]);
        SharedBank::new(bank)
    };
    let sim = serve_tcp("127.0.0.1:0".parse().expect("addr"), 1, bank)
        .await
        .expect("meter");
    let settings = plain_settings(
        &device("M1", "meter_my_meter", &sim.addr.to_string(), 1),
        500,
    ) + &format!("[definitions]\ndir = {:?}\n", defs.path());
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let params = d.ok("cmd=get_params").await;
    let meta = &params["dev_meta"];
    assert_eq!(meta["meter_my_meter"], "My meter", "{meta}");
    assert_eq!(meta["evse_heidelberg"], "Heidelberg Energy Control");
    let info = d
        .wait_for(SETTLE, "the meter is read", |i| {
            device_info(i, "M1")["power_w"] == 1500
        })
        .await;
    assert_eq!(device_info(&info, "M1")["import"], 123_450);
}

#[tokio::test]
async fn a_bad_definition_stops_the_daemon_naming_its_file_and_field() {
    let defs = tempfile::tempdir().expect("tempdir");
    let bad = OWN_METER.replace("scale = 0.01", "scale = 0");
    std::fs::write(defs.path().join("my_meter.toml"), bad).expect("write");
    let settings = plain_settings("", 500) + &format!("[definitions]\ndir = {:?}\n", defs.path());
    let err = match Daemon::try_start(DaemonConfig::new(settings)).await {
        Ok(_) => panic!("started with a bad definition"),
        Err(e) => e,
    };
    assert!(
        err.contains("my_meter.toml: readings.import_energy.scale: 0 is not a finite number"),
        "{err}"
    );
}
