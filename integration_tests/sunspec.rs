//! SunSpec devices through the real binary: the model chain a pymodbus
//! device holds is laid out by PyPI pysunspec2 from the official SunSpec
//! model definitions it ships (`integration_tests/modbus_device/device.py`),
//! so no offset here is typed by hand.

use std::time::Duration;

use serde_json::{json, Value};

use crate::broker::Broker;
use crate::harness::{device, device_info, get_path, plain_settings, Daemon, DaemonConfig};
use crate::metrics::python_samples;
use crate::modbus_device::{PyDevice, Registers};
use crate::webdriver::Browser;

const SETTLE: Duration = Duration::from_secs(15);

fn common(maker: &str, model: &str) -> Value {
    json!({"id": 1, "points": {"Mn": maker, "Md": model, "Vr": "1.2.3", "SN": "SN42"}})
}

/// An inverter (103) with its battery (storage 124) and a grid meter (203)
/// in one chain, with a model pysunspec2 knows but the reader does not
/// (120, nameplate) and a maker's own model it knows neither (64900)
/// between them.
fn integer_chain() -> Value {
    json!({"models": [
        common("Fronius", "Symo 8.2-3-M"),
        {"id": 103, "points": {
            "A_SF": -2, "AphA": 1000, "AphB": 1005, "AphC": 995,
            "V_SF": -1, "PhVphA": 2301, "PhVphB": 2299, "PhVphC": 2310,
            "W": 6900, "W_SF": 0, "WH": 1_234_567, "WH_SF": 0, "St": 4}},
        {"id": 120, "points": {"DERTyp": 4, "WRtg": 82, "WRtg_SF": 2}},
        // 87.5 % charged, charging, 5000 W at most, 51.2 V, 98 Ah left.
        {"id": 124, "points": {
            "WChaMax": 50, "WChaMax_SF": 2, "ChaState": 875, "ChaState_SF": -1,
            "StorAval": 98, "StorAval_SF": 0, "InBatV": 512, "InBatV_SF": -1,
            "ChaSt": 4}},
        {"id": 64900, "raw_len": 12},
        // Feeding 4623 W: L3 has no current (not implemented).
        {"id": 203, "points": {
            "A_SF": -2, "AphA": 1012, "AphB": 1010,
            "V_SF": -1, "PhVphA": 2301, "PhVphB": 2312, "PhVphC": 2298,
            "W": -4623, "WphA": -2312, "WphB": -2311, "WphC": 0, "W_SF": 0,
            "TotWhImp": 12_345_670, "TotWhExp": 890_120, "TotWh_SF": 0}},
    ]})
}

/// The float models: an inverter (113) and a meter (213).
fn float_chain() -> Value {
    json!({"models": [
        common("SMA", "STP 10.0"),
        {"id": 113, "points": {
            "AphA": 14.5, "AphB": 14.25, "AphC": 14.75,
            "PhVphA": 231.0, "PhVphB": 229.5, "PhVphC": 230.0,
            "W": 10_012.5, "WH": 5_000_000.0}},
        {"id": 213, "points": {
            "AphA": 3.5, "AphB": 0.5, "AphC": 1.25,
            "PhVphA": 230.0, "PhVphB": 231.0, "PhVphC": 229.0,
            "W": 1150.0, "WphA": 805.0, "WphB": -115.0, "WphC": 287.5,
            "TotWhImp": 4_321_000.0, "TotWhExp": 1_000.0}},
    ]})
}

async fn sunspec_device(chain: Value) -> PyDevice {
    PyDevice::start_sunspec(1, &Registers::default(), chain).await
}

fn fields(dev: &Value, names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| (n.to_string(), dev[n].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meters_and_inverters_are_read_from_their_sunspec_chains() {
    let ints = sunspec_device(integer_chain()).await;
    let floats = sunspec_device(float_chain()).await;
    let devices = [
        device("M1", "meter_sunspec", &ints.addr, 1),
        device("M2", "inverter_sunspec", &ints.addr, 1),
        device("M3", "meter_sunspec", &floats.addr, 1),
        // The type's earlier key is still read.
        device("M4", "meter_sunspec_inverter", &floats.addr, 1),
    ]
    .concat();
    let settings = plain_settings(&devices, 1000) + "[load]\nlb_enabled = false\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    d.wait_for(SETTLE, "every device read", |i| {
        ["M1", "M2", "M3", "M4"].iter().all(|m| {
            let dev = device_info(i, m);
            dev["com_err"] == false && dev["model"] != "starting"
        })
    })
    .await;
    // A poll or two more: the first reading is in every view.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let info = d.ok("cmd=get_dev_info").await;
    let names = [
        "dev_type",
        "model",
        "power_w",
        "current_l1",
        "current_l2",
        "current_l3",
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "import",
        "export",
    ];
    assert_eq!(
        fields(&device_info(&info, "M1"), &names),
        json!({"dev_type": "meter_sunspec", "model": "Fronius,Symo 8.2-3-M,SunSpec 203,1.2.3,SN42",
            "power_w": -4623, "current_l1": -10_120, "current_l2": -10_100, "current_l3": 0,
            "voltage_l1": 230, "voltage_l2": 231, "voltage_l3": 230,
            "import": 12_345_670, "export": 890_120})
    );
    assert_eq!(
        fields(&device_info(&info, "M2"), &names),
        json!({"dev_type": "inverter_sunspec", "model": "Fronius,Symo 8.2-3-M,SunSpec 103,1.2.3,SN42",
            "power_w": 6900, "current_l1": 10_000, "current_l2": 10_050, "current_l3": 9950,
            "voltage_l1": 230, "voltage_l2": 230, "voltage_l3": 231,
            "import": 1_234_567, "export": 0})
    );
    assert_eq!(
        fields(&device_info(&info, "M3"), &names),
        json!({"dev_type": "meter_sunspec", "model": "SMA,STP 10.0,SunSpec 213,1.2.3,SN42",
            "power_w": 1150, "current_l1": 3500, "current_l2": -500, "current_l3": 1250,
            "voltage_l1": 230, "voltage_l2": 231, "voltage_l3": 229,
            "import": 4_321_000, "export": 1000})
    );
    assert_eq!(
        fields(&device_info(&info, "M4"), &names),
        json!({"dev_type": "inverter_sunspec", "model": "SMA,STP 10.0,SunSpec 113,1.2.3,SN42",
            "power_w": 10_013, "current_l1": 14_500, "current_l2": 14_250, "current_l3": 14_750,
            "voltage_l1": 231, "voltage_l2": 230, "voltage_l3": 230,
            "import": 5_000_000, "export": 0})
    );
    // The battery is shown with the devices whose chain has model 124
    // (both read the integer chain); the float chain has none.
    let battery = json!({"soc": 88, "state": "charging", "max_charge_w": 5000,
        "voltage": 51, "available_ah": 98});
    assert_eq!(device_info(&info, "M1")["storage"], battery);
    assert_eq!(device_info(&info, "M2")["storage"], battery);
    for m in ["M3", "M4"] {
        assert!(device_info(&info, m).get("storage").is_none(), "{m}");
    }
    let params = d.ok("cmd=get_params").await;
    assert_eq!(params["dev_meta"]["inverter_sunspec"], "SunSpec inverter");
    assert!(params["dev_meta"].get("meter_sunspec_inverter").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_marker_a_missing_end_and_a_chain_without_a_meter_each_say_so() {
    let mut wrong = integer_chain();
    wrong["marker"] = json!("SunX");
    let mut open = integer_chain();
    open["end"] = json!(false);
    let no_meter = json!({"models": [common("Fronius", "Symo"),
        {"id": 103, "points": {"W": 100, "W_SF": 0}}]});
    let devices = [
        sunspec_device(wrong).await,
        sunspec_device(open).await,
        sunspec_device(no_meter).await,
    ];
    let settings = plain_settings(
        &devices
            .iter()
            .enumerate()
            .map(|(n, dev)| device(&format!("M{}", n + 1), "meter_sunspec", &dev.addr, 1))
            .collect::<String>(),
        1000,
    );
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let errors = |i: &Value| -> Vec<String> {
        ["M1", "M2", "M3"]
            .iter()
            .map(|m| {
                device_info(i, m)["last_error"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let info = d
        .wait_for(SETTLE, "three errors", |i| {
            errors(i).iter().all(|e| !e.is_empty())
        })
        .await;
    let errors = errors(&info);
    // Not at 40000, and the other bases the device refuses.
    assert!(
        errors[0].contains("SunSpec: no \"SunS\" marker at 40000 (found [5375, 6e58] \"SunX\"), 0 (refused), 50000 (refused)"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains(
            "reading the model header after model 203 (a chain without an end marker ends here)"
        ),
        "{errors:?}"
    );
    assert!(
        errors[2]
            .contains("SunSpec: no meter model (201-204, 211-214) in the chain (models 1, 103)"),
        "{errors:?}"
    );
    for m in ["M1", "M2", "M3"] {
        assert_eq!(device_info(&info, m)["com_err"], true, "{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_at_50000_is_found_after_40000_and_0() {
    // The device refuses 40000 and 0 (illegal address), as one whose chain
    // starts at 50000 does.
    let mut chain = integer_chain();
    chain["base"] = json!(50000);
    let dev = sunspec_device(chain).await;
    let settings = plain_settings(&device("M1", "meter_sunspec", &dev.addr, 1), 1000);
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let info = d
        .wait_for(SETTLE, "the meter read", |i| {
            device_info(i, "M1")["power_w"] == -4623
        })
        .await;
    let m1 = device_info(&info, "M1");
    assert_eq!(m1["model"], "Fronius,Symo 8.2-3-M,SunSpec 203,1.2.3,SN42");
    assert_eq!(m1["com_err"], false, "{m1}");
    assert_eq!(m1["storage"]["soc"], 88, "{m1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_battery_is_published_over_mqtt_and_in_the_metrics() {
    let dev = sunspec_device(integer_chain()).await;
    let broker = Broker::start().await;
    let sub = broker.subscribe(&["cfos_mqtt/get/+"]).await;
    let settings = plain_settings(&device("M1", "inverter_sunspec", &dev.addr, 1), 1000)
        + &format!("[mqtt]\nurl = \"{}\"\ninterval_ms = 500\n", broker.url());
    let d = Daemon::start(DaemonConfig::new(settings)).await;

    // MQTT: the device's state carries its battery, as get_dev_info does.
    let published = sub
        .wait_for("cfos_mqtt/get/M1", SETTLE, |m| {
            m.json()["storage"]["soc"] == 88
        })
        .await
        .json();
    assert_eq!(
        published["storage"],
        json!({"soc": 88, "state": "charging", "max_charge_w": 5000, "voltage": 51, "available_ah": 98})
    );

    // Prometheus: read by the Python Prometheus client's parser.
    let (status, text) = get_path(&d, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let samples = python_samples(&text);
    let value = |name: &str| {
        samples
            .iter()
            .find(|(n, dev_id, _)| n == name && dev_id == "M1")
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {name} of M1 in {text}"))
    };
    assert_eq!(value("chargebrain_battery_state_of_charge_ratio"), 0.88);
    assert_eq!(value("chargebrain_battery_state"), 4.0, "charging");
    assert_eq!(value("chargebrain_battery_max_charge_power_watts"), 5000.0);
    assert_eq!(value("chargebrain_battery_voltage_volts"), 51.0);
    assert_eq!(value("chargebrain_meter_power_watts"), 6900.0);
    // A device without a battery has none of them.
    assert!(!samples
        .iter()
        .any(|(n, dev_id, _)| n.starts_with("chargebrain_battery") && dev_id != "M1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_shows_the_battery_on_the_inverters_tile() {
    let dev = sunspec_device(integer_chain()).await;
    let devices = [
        device("M1", "inverter_sunspec", &dev.addr, 1),
        device("M2", "meter_sdm630", "127.0.0.1:1", 1),
    ]
    .concat();
    let d = Daemon::start(DaemonConfig::new(plain_settings(&devices, 1000))).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", d.base)).await;
    browser
        .wait_for_text("[data-testid=tile-M1] [data-testid=battery]", |t| {
            t == "88 % · charging · charges at most 5.00 kW"
        })
        .await;
    // A meter without a battery shows no battery line.
    let line = browser
        .wait_for("[data-testid=tile-M2] [data-testid=battery]")
        .await;
    assert_eq!(
        browser.attribute(&line, "hidden").await.as_deref(),
        Some("true")
    );
}
