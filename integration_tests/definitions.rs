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
use crate::modbus_device::{PyDevice, Registers};

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

/// The current last written to wallbox `dev_id`, mA (-1 before any).
pub(crate) fn set_ma(info: &Value, dev_id: &str) -> i64 {
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

/// One shipped definition read against a pymodbus device holding the values
/// of a known state, as the maker's table lays them out, and what
/// `get_dev_info` must then show.
struct Case {
    key: &'static str,
    registers: Registers,
    expect: Vec<(&'static str, Value)>,
}

const H: &str = "holding";
const I: &str = "input";

fn cases() -> Vec<Case> {
    // A single-phase Eastron meter exporting 1150.4 W at 231.2 V, 4.976 A.
    let eastron = |key| Case {
        key,
        registers: Registers::default()
            .value(I, 0x0000, "float32", 231.2)
            .value(I, 0x0006, "float32", 4.976)
            .value(I, 0x000c, "float32", -1150.4)
            .value(I, 0x0048, "float32", 1234.5678)
            .value(I, 0x004a, "float32", 87.6),
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
        // An SDM630 drawing 2361.3 W on L1 and feeding 2300 W on L2: its
        // currents are unsigned and take their phase's sign. Its other
        // values (read with these) are 0.
        Case {
            key: "meter_sdm630",
            registers: Registers::default()
                .words(I, 0x0000, &[0; 80])
                .value(I, 0x0000, "float32", 231.2)
                .value(I, 0x0002, "float32", 229.8)
                .value(I, 0x0004, "float32", 230.4)
                .value(I, 0x0006, "float32", 10.2)
                .value(I, 0x0008, "float32", 10.0)
                .value(I, 0x000c, "float32", 2361.3)
                .value(I, 0x000e, "float32", -2300.0)
                .value(I, 0x0034, "float32", 61.3)
                .value(I, 0x0048, "float32", 1234.5678)
                .value(I, 0x004a, "float32", 87.6),
            expect: vec![
                ("power_w", json!(61)),
                ("current_l1", json!(10_200)),
                ("current_l2", json!(-10_000)),
                ("current_l3", json!(0)),
                ("voltage_l1", json!(231)),
                ("voltage_l2", json!(230)),
                ("import", json!(1_234_568)),
                ("export", json!(87_600)),
            ],
        },
        // An SDM72D-M V1 feeding 2300 W: totals only, spread over three
        // phases at 230 V.
        Case {
            key: "meter_sdm72dm",
            registers: Registers::default()
                .words(I, 0x0034, &[0; 24])
                .value(I, 0x0034, "float32", -2300.0)
                .value(I, 0x0048, "float32", 12_345.678)
                .value(I, 0x004a, "float32", 987.654),
            expect: vec![
                ("power_w", json!(-2300)),
                ("current_l1", json!(-3333)),
                ("current_l3", json!(-3333)),
                ("voltage_l1", json!(230)),
                ("import", json!(12_345_678)),
                ("export", json!(987_654)),
            ],
        },
        // An Orno OR-WE-516 feeding 4.6004 kW (its powers are in kW).
        Case {
            key: "meter_orno_we516",
            registers: Registers::default()
                .words(H, 0x000e, &[0; 22])
                .words(H, 0x0108, &[0; 10])
                .value(H, 0x000e, "float32", 229.6)
                .value(H, 0x0010, "float32", 230.2)
                .value(H, 0x0012, "float32", 231.4)
                .value(H, 0x0014, "float32", 50.0)
                .value(H, 0x0016, "float32", 6.5)
                .value(H, 0x0018, "float32", 6.5)
                .value(H, 0x001a, "float32", 7.0)
                .value(H, 0x001c, "float32", -4.6004)
                .value(H, 0x001e, "float32", -1.5)
                .value(H, 0x0020, "float32", -1.5)
                .value(H, 0x0022, "float32", -1.6004)
                .value(H, 0x0108, "float32", 321.5)
                .value(H, 0x0110, "float32", 45.25),
            expect: vec![
                ("power_w", json!(-4600)),
                ("current_l1", json!(-6500)),
                ("current_l2", json!(-6500)),
                ("current_l3", json!(-7000)),
                ("voltage_l1", json!(230)),
                ("voltage_l3", json!(231)),
                ("import", json!(321_500)),
                ("export", json!(45_250)),
            ],
        },
        // A Heidelberg charging (C2) with 15.9, 16.0 and 0.0 A (0.1 A units)
        // at 232/230/229 V, 7350 VA, 100 000 Wh since installation.
        Case {
            key: "evse_heidelberg",
            registers: Registers::default()
                .words(I, 4, &[0x0108, 7, 159, 160, 0, 254, 232, 230, 229, 1, 7350])
                .words(I, 17, &[0x0001, 0x86a0])
                .words(I, 100, &[16, 6])
                .words(H, 257, &[15_000, 4, 1])
                .words(H, 261, &[160, 0]),
            expect: vec![
                ("state", json!(3)),
                ("cur_charging_power", json!(7350)),
                ("current_l1", json!(15_900)),
                ("current_l2", json!(16_000)),
                ("current_l3", json!(0)),
                ("total_energy", json!(100_000)),
            ],
        },
        // An ABB B23 feeding 4622.96 W on L1 and L2 (0.01 W, 0.01 A, 0.1 V,
        // 0.01 kWh): its currents are unsigned and take their phase's sign.
        Case {
            key: "meter_abb_b23",
            registers: Registers::default()
                .value(H, 0x5b00, "uint32", 2301.0)
                .value(H, 0x5b02, "uint32", 2312.0)
                .value(H, 0x5b04, "uint32", 2298.0)
                .value(H, 0x5b0c, "uint32", 1012.0)
                .value(H, 0x5b0e, "uint32", 998.0)
                .value(H, 0x5b10, "uint32", 0.0)
                .value(H, 0x5b14, "int32", -462_296.0)
                .value(H, 0x5b16, "int32", -232_756.0)
                .value(H, 0x5b18, "int32", -229_540.0)
                .value(H, 0x5b1a, "int32", 0.0)
                .value(H, 0x5000, "uint64", 1_234_567.0)
                .value(H, 0x5004, "uint64", 89_012.0),
            expect: vec![
                ("power_w", json!(-4623)),
                ("current_l1", json!(-10_120)),
                ("current_l2", json!(-9980)),
                ("current_l3", json!(0)),
                ("voltage_l1", json!(230)),
                ("voltage_l2", json!(231)),
                ("voltage_l3", json!(230)),
                ("import", json!(12_345_670)),
                ("export", json!(890_120)),
            ],
        },
        // A Carlo Gavazzi EM24 drawing 2557.9 W: INT32 low word first,
        // 0.1 V, 0.001 A, 0.1 W, 0.1 kWh.
        Case {
            key: "meter_carlo_gavazzi_em24",
            registers: Registers::default()
                .value_low_first(H, 0x0000, "int32", 2304.0)
                .value_low_first(H, 0x0002, "int32", 2311.0)
                .value_low_first(H, 0x0004, "int32", 2299.0)
                .value_low_first(H, 0x000c, "int32", 5123.0)
                .value_low_first(H, 0x000e, "int32", 4980.0)
                .value_low_first(H, 0x0010, "int32", 1000.0)
                .value_low_first(H, 0x0012, "int32", 11_808.0)
                .value_low_first(H, 0x0014, "int32", 11_470.0)
                .value_low_first(H, 0x0016, "int32", 2301.0)
                .value_low_first(H, 0x0028, "int32", 25_579.0)
                .value_low_first(H, 0x0034, "int32", 567_890.0)
                .value_low_first(H, 0x004e, "int32", 12_345.0),
            expect: vec![
                ("power_w", json!(2558)),
                ("current_l1", json!(5123)),
                ("current_l2", json!(4980)),
                ("current_l3", json!(1000)),
                ("voltage_l1", json!(230)),
                ("voltage_l2", json!(231)),
                ("import", json!(56_789_000)),
                ("export", json!(1_234_500)),
            ],
        },
        // A Janitza UMG 604 drawing on L1 and L3 and feeding on L2 (floats,
        // energy in Wh).
        Case {
            key: "meter_janitza_umg604",
            registers: Registers::default()
                .value(H, 19000, "float32", 229.9)
                .value(H, 19002, "float32", 230.4)
                .value(H, 19004, "float32", 231.0)
                .value(H, 19012, "float32", 12.5)
                .value(H, 19014, "float32", 0.25)
                .value(H, 19016, "float32", 3.0)
                .value(H, 19020, "float32", 2870.0)
                .value(H, 19022, "float32", -57.5)
                .value(H, 19024, "float32", 690.0)
                .value(H, 19026, "float32", 3502.5)
                .value(H, 19068, "float32", 98_765_432.0)
                .value(H, 19076, "float32", 1_234_567.0),
            expect: vec![
                ("power_w", json!(3503)),
                ("current_l1", json!(12_500)),
                ("current_l2", json!(-250)),
                ("current_l3", json!(3000)),
                ("voltage_l1", json!(230)),
                ("voltage_l3", json!(231)),
                ("import", json!(98_765_432)),
                ("export", json!(1_234_567)),
            ],
        },
        // A KOSTAL Smart Energy Meter feeding 1800.5 W: drawn and fed power
        // apart (0.1 W), currents unsigned (0.001 A), energy in 0.1 Wh.
        Case {
            key: "meter_kostal_powermeter",
            registers: Registers::default()
                .value(H, 0, "uint32", 0.0)
                .value(H, 2, "uint32", 18_005.0)
                .value(H, 60, "uint32", 2610.0)
                .value(H, 62, "uint32", 230_100.0)
                .value(H, 100, "uint32", 2605.0)
                .value(H, 102, "uint32", 231_600.0)
                .value(H, 140, "uint32", 2620.0)
                .value(H, 142, "uint32", 229_400.0)
                .value(H, 512, "uint64", 123_456_789.0)
                .value(H, 516, "uint64", 98_765_432.0),
            expect: vec![
                ("power_w", json!(-1801)),
                ("current_l1", json!(-2610)),
                ("current_l3", json!(-2620)),
                ("voltage_l1", json!(230)),
                ("voltage_l2", json!(232)),
                ("voltage_l3", json!(229)),
                ("import", json!(12_345_679)),
                ("export", json!(9_876_543)),
            ],
        },
        // A MENNEKES AMTRON Professional charging (C) with about 10 A a
        // phase: power per phase only (W), currents in mA, energy in Wh.
        Case {
            key: "evse_mennekes_modbus",
            registers: Registers::default()
                .value(H, 100, "uint32", 0x3531_3134 as f64)
                .value(H, 104, "uint16", 6.0)
                .value(H, 122, "uint16", 3.0)
                .value(H, 131, "uint16", 6.0)
                .value(H, 200, "uint32", 4321.0)
                .value(H, 206, "uint32", 2300.0)
                .value(H, 208, "uint32", 2310.0)
                .value(H, 210, "uint32", 2290.0)
                .value(H, 212, "uint32", 10_000.0)
                .value(H, 214, "uint32", 10_050.0)
                .value(H, 216, "uint32", 9950.0)
                .value(H, 1000, "uint16", 16.0),
            expect: vec![
                ("state", json!(3)),
                ("cur_charging_power", json!(6900)),
                ("current_l1", json!(10_000)),
                ("current_l2", json!(10_050)),
                ("current_l3", json!(9950)),
                ("total_energy", json!(4321)),
            ],
        },
        // An Alfen Eve charging (mode 3 state "C2") with 15.5 A a phase:
        // floats, energy a float64 in Wh.
        Case {
            key: "evse_alfen_eve",
            registers: Registers::default()
                .value(H, 306, "float32", 230.0)
                .value(H, 308, "float32", 231.0)
                .value(H, 310, "float32", 229.0)
                .value(H, 320, "float32", 15.5)
                .value(H, 322, "float32", 15.5)
                .value(H, 324, "float32", 15.5)
                .value(H, 338, "float32", 3565.0)
                .value(H, 340, "float32", 3580.5)
                .value(H, 342, "float32", 3549.5)
                .value(H, 344, "float32", 10_695.0)
                .value(H, 374, "float64", 2_500_000.0)
                .words(H, 1200, &[1, u16::from_be_bytes(*b"C2")])
                .value(H, 1210, "float32", 16.0),
            expect: vec![
                ("state", json!(3)),
                ("cur_charging_power", json!(10_695)),
                ("current_l1", json!(15_500)),
                ("current_l3", json!(15_500)),
                ("total_energy", json!(2_500_000)),
            ],
        },
    ]
}

/// Every register of `key`'s definition, zero, then `case` over them: the
/// device answers for each register the definition names and no other.
fn device_registers(key: &str, case: &Registers) -> Registers {
    let definition = actors::drivers::definition::builtin()
        .expect("the shipped definitions load")
        .into_iter()
        .find(|d| d.key == key)
        .expect("a shipped definition");
    let mut registers = Registers::default();
    for r in &definition.registers {
        let table = match r.table {
            actors::drivers::Table::Holding => H,
            actors::drivers::Table::Input => I,
        };
        registers = registers.words(table, r.addr, &vec![0; usize::from(r.width)]);
    }
    registers.then(case)
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
    let mut running = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let t = DeviceType::find(case.key).expect("known type");
        let sim = PyDevice::start(1, &device_registers(case.key, &case.registers)).await;
        devices += &device(&dev_id(t, n), case.key, &sim.addr, 1);
        running.push(sim);
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
    for sim in &mut running {
        assert_eq!(sim.writes().await, vec![], "nothing written");
    }
}

/// Two wallboxes defined as data under load management, each a pymodbus
/// device: the Alfen takes its limit as an f32 in one write of both
/// registers (the box refuses half of one), the MENNEKES as whole amperes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alfen_and_a_mennekes_follow_the_allocation() {
    let alfen_regs = Registers::default()
        .value(H, 344, "float32", 7000.0)
        .words(H, 1200, &[1, u16::from_be_bytes(*b"C2")])
        .value(H, 1210, "float32", 16.0);
    let mut alfen = PyDevice::start(1, &device_registers("evse_alfen_eve", &alfen_regs)).await;
    let mennekes_regs = Registers::default()
        .value(H, 122, "uint16", 3.0)
        .value(H, 1000, "uint16", 16.0);
    let mut mennekes =
        PyDevice::start(1, &device_registers("evse_mennekes_modbus", &mennekes_regs)).await;
    let devices = [
        device("E1", "evse_alfen_eve", &alfen.addr, 1),
        device("E2", "evse_mennekes_modbus", &mennekes.addr, 1),
    ]
    .concat();
    let settings =
        plain_settings(&devices, 1000) + "[load]\nmax_total_current = 20000\ncycle_time_ms = 500\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.wait_for(SETTLE, "10 A each", |i| {
        set_ma(i, "E1") == 10_000 && set_ma(i, "E2") == 10_000
    })
    .await;
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let a = alfen.holding(1210, 2).await;
        let m = mennekes.holding(1000, 1).await;
        if a == Some(f32_words(10.0)) && m == Some(vec![10]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alfen {a:?}, mennekes {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let writes = alfen.writes().await;
    assert!(!writes.is_empty());
    for (function, addr, words) in &writes {
        assert_eq!((*function, *addr), (16, 1210), "{writes:?}");
        assert_eq!(words.len(), 2, "{writes:?}");
    }
    assert!(writes.contains(&(16, 1210, f32_words(10.0))), "{writes:?}");
    let writes = mennekes.writes().await;
    assert!(writes.contains(&(6, 1000, vec![10])), "{writes:?}");

    // The Alfen falls back to its safe current when its limit is not
    // written again within its validity time (60 s by default): the same
    // limit is written again about every 20 s. The MENNEKES keeps its
    // limit and is not written again so soon.
    let quiet = tokio::time::Instant::now();
    loop {
        let writes = alfen.writes().await;
        if writes.contains(&(16, 1210, f32_words(10.0))) {
            break;
        }
        assert!(writes.is_empty(), "{writes:?}");
        assert!(
            quiet.elapsed() < Duration::from_secs(25),
            "not written again"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        quiet.elapsed() > Duration::from_secs(10),
        "{:?}",
        quiet.elapsed()
    );
    assert_eq!(mennekes.writes().await, vec![]);
}

/// Two words of an IEEE-754 float32, high word first.
fn f32_words(value: f32) -> Vec<u16> {
    let bits = value.to_bits();
    vec![(bits >> 16) as u16, bits as u16]
}
