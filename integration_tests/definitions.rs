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
/// 1.0.8 (the first with the watchdog and fail-safe registers), a car
/// charging (C2), 230 V, the defaults for the watchdog (15 000 ms) and the
/// fail-safe current (0).
fn heidelberg() -> SharedBank {
    let map = DeviceType::find("evse_heidelberg")
        .expect("the Heidelberg definition ships in the binary")
        .register_map();
    let mut bank = RegisterBank::new(map);
    bank.set_words(4, &[0x0108, 7]);
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

/// Two words of an IEEE-754 float32, high word first.
fn f32_words(value: f32) -> Vec<u16> {
    let bits = value.to_bits();
    vec![(bits >> 16) as u16, bits as u16]
}

/// One shipped definition read against a simulated device holding the
/// values of a known state, as the maker's table lays them out, and what
/// `get_dev_info` must then show.
struct Case {
    key: &'static str,
    words: Vec<(u16, Vec<u16>)>,
    expect: Vec<(&'static str, Value)>,
}

fn cases() -> Vec<Case> {
    // A single-phase Eastron meter exporting 1150.4 W at 231.2 V, 4.976 A.
    let eastron = |key| Case {
        key,
        words: vec![
            (0x0000, f32_words(231.2)),
            (0x0006, f32_words(4.976)),
            (0x000c, f32_words(-1150.4)),
            (0x0048, f32_words(1234.5678)),
            (0x004a, f32_words(87.6)),
        ],
        expect: vec![
            ("power_w", json!(-1150)),
            ("current_l1", json!(-4976)),
            ("current_l2", json!(0)),
            ("voltage_l1", json!(231)),
            ("import", json!(1_234_568)),
            ("export", json!(87_600)),
        ],
    };
    vec![
        eastron("meter_sdm120"),
        eastron("meter_sdm220"),
        // A Heidelberg charging (C2) with 15.9, 16.0 and 0.0 A (0.1 A units)
        // at 232/230/229 V, 7350 VA, 100 000 Wh since installation.
        Case {
            key: "evse_heidelberg",
            words: vec![
                (4, vec![0x0108, 7, 159, 160, 0, 254, 232, 230, 229, 1, 7350]),
                (17, vec![0x0001, 0x86a0]),
                (100, vec![16, 6]),
                (257, vec![15_000, 4, 1]),
                (261, vec![160, 0]),
            ],
            expect: vec![
                ("state", json!(3)),
                ("cur_charging_power", json!(7350)),
                ("current_l1", json!(15_900)),
                ("current_l2", json!(16_000)),
                ("current_l3", json!(0)),
                ("total_energy", json!(100_000)),
            ],
        },
    ]
}

/// `E<n>` for a wallbox, `M<n>` for a meter.
fn dev_id(t: DeviceType, n: usize) -> String {
    format!("{}{}", if t.is_evse() { "E" } else { "M" }, n + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_definition_reads_the_makers_values_for_a_known_state() {
    let cases = cases();
    let shipped: Vec<String> = actors::drivers::definition::builtin()
        .expect("the shipped definitions load")
        .into_iter()
        .map(|d| d.key)
        .collect();
    let mut tested: Vec<String> = cases.iter().map(|c| c.key.to_string()).collect();
    tested.sort();
    let mut sorted = shipped.clone();
    sorted.sort();
    assert_eq!(tested, sorted, "one case per shipped definition");

    let mut devices = String::new();
    for (n, case) in cases.iter().enumerate() {
        let t = DeviceType::find(case.key).expect("known type");
        let mut bank = RegisterBank::new(t.register_map());
        for (addr, words) in &case.words {
            bank.set_words(*addr, words);
        }
        let sim = serve_tcp(
            "127.0.0.1:0".parse().expect("addr"),
            1,
            SharedBank::new(bank),
        )
        .await
        .expect("simulated device");
        devices += &device(&dev_id(t, n), case.key, &sim.addr.to_string(), 1);
    }
    // Observation: nothing is written over the maker's values.
    let settings = plain_settings(&devices, 1000) + "[load]\nlb_enabled = false\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.wait_for(SETTLE, "every device read", |i| {
        (0..cases.len()).all(|n| {
            let t = DeviceType::find(cases[n].key).expect("type");
            let dev = device_info(i, &dev_id(t, n));
            dev["com_err"] == false && dev["model"] != "starting"
        })
    })
    .await;
    // A poll or two more: the first reading is in every view.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let info = d.ok("cmd=get_dev_info").await;
    for (n, case) in cases.iter().enumerate() {
        let t = DeviceType::find(case.key).expect("type");
        let dev = device_info(&info, &dev_id(t, n));
        for (field, want) in &case.expect {
            assert_eq!(&dev[field], want, "{} {field}: {dev}", case.key);
        }
    }
}
