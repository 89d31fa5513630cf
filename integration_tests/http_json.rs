//! HTTP-JSON meters through the real daemon: a local HTTP server answers
//! as the devices' documentation says they answer (the Shelly Pro 3EM's
//! Gen2 `EM.GetStatus`, the Shelly 3EM's Gen1 `/status`, a Tasmota SML
//! reader's `Status 10`), then late, with no JSON, without a path, with
//! an HTTP error and with a value that cannot be true.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::{device, device_info, plain_settings, Daemon, DaemonConfig};

const SETTLE: Duration = Duration::from_secs(15);

/// What the server answers next, and the request paths it was asked.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

#[derive(Clone)]
struct JsonServer {
    addr: String,
    answer: Arc<Mutex<Answer>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl JsonServer {
    /// Serves `body` with status 200 on a free loopback port.
    async fn start(body: &Value) -> JsonServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = JsonServer {
            addr: listener.local_addr().expect("addr").to_string(),
            answer: Arc::new(Mutex::new(Answer {
                status: 200,
                body: body.to_string(),
                delay: Duration::ZERO,
            })),
            asked: Arc::default(),
        };
        let shared = server.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or_default().to_string();
                    shared.asked.lock().expect("lock").push(path);
                    let answer = shared.answer.lock().expect("lock").clone();
                    tokio::time::sleep(answer.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(answer.body.as_bytes()).await;
                });
            }
        });
        server
    }

    fn answer(&self, status: u16, body: &str, delay: Duration) {
        *self.answer.lock().expect("lock") = Answer {
            status,
            body: body.to_string(),
            delay,
        };
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("lock").clone()
    }
}

/// A Shelly Pro 3EM's `EM.GetStatus` answer, in the documented fields:
/// L1 draws 8.2 A (1870 W), L2 feeds in 4.1 A (-930 W), L3 draws 0.5 A.
fn shelly_pro_3em(a_voltage: f64) -> Value {
    json!({
        "id": 0,
        "a_current": 8.204, "a_voltage": a_voltage, "a_act_power": 1870.4,
        "a_aprt_power": 1890.1, "a_pf": 0.99, "a_freq": 50.0,
        "b_current": 4.1, "b_voltage": 231.0, "b_act_power": -930.2,
        "b_aprt_power": 945.0, "b_pf": -0.98, "b_freq": 50.0,
        "c_current": 0.5, "c_voltage": 229.4, "c_act_power": 98.0,
        "c_aprt_power": 114.7, "c_pf": 0.85, "c_freq": 50.0,
        "n_current": null,
        "total_current": 12.804, "total_act_power": 1038.2, "total_aprt_power": 2949.8,
        "user_calibrated_phase": []
    })
}

/// A Shelly 3EM's (Gen1) `/status` answer, its emeters and total_power
/// among the other fields the device reports.
fn shelly_3em() -> Value {
    let emeter = |power: f64, current: f64, voltage: f64| {
        json!({ "power": power, "pf": 0.97, "current": current, "voltage": voltage,
                "is_valid": true, "total": 123_456.7, "total_returned": 2345.6 })
    };
    json!({
        "wifi_sta": { "connected": true, "ssid": "home", "ip": "192.168.1.30", "rssi": -60 },
        "cloud": { "enabled": false, "connected": false },
        "mqtt": { "connected": false },
        "time": "17:42",
        "relays": [{ "ison": false, "has_timer": false, "overpower": false, "is_valid": true, "source": "input" }],
        "emeters": [
            emeter(-1612.0, 7.01, 230.2),
            emeter(-1597.5, 6.95, 229.8),
            emeter(310.0, 1.42, 231.5)
        ],
        "total_power": -2899.5,
        "fs_mounted": true,
        "uptime": 123_456
    })
}

/// A Tasmota SML reader's `Status 10` answer with the common script's names.
fn tasmota_sml() -> Value {
    json!({
        "StatusSNS": {
            "Time": "2026-12-01T17:42:10",
            "SML": { "Total_in": 12345.6789, "Total_out": 678.9012, "Power_curr": -2140, "Meter_Id": "0a01454d4800000b1234" }
        }
    })
}

/// Settings without simulation, observing only, a 1000 ms timeout.
fn settings(devices: &str) -> String {
    plain_settings(devices, 1000) + "[load]\nlb_enabled = false\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shelly_and_tasmota_meters_are_read_from_their_documented_answers() {
    let pro = JsonServer::start(&shelly_pro_3em(232.1)).await;
    let gen1 = JsonServer::start(&shelly_3em()).await;
    let sml = JsonServer::start(&tasmota_sml()).await;
    let devices = device("M1", "meter_shelly_pro_3em", &pro.addr, 1)
        + &device(
            "M2",
            "meter_shelly_3em",
            &format!("http://{}/", gen1.addr),
            1,
        )
        + &device("M3", "meter_tasmota_sml", &sml.addr, 1);
    let d = Daemon::start(DaemonConfig::new(settings(&devices))).await;
    d.wait_for(SETTLE, "every meter read", |i| {
        ["M1", "M2", "M3"].iter().all(|m| {
            let dev = device_info(i, m);
            dev["com_err"] == false && dev["model"] != "starting"
        })
    })
    .await;
    // Another cycle or two: the reading is in every view.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let info = d.ok("cmd=get_dev_info").await;
    let expect = |dev_id: &str, want: &[(&str, Value)]| {
        let dev = device_info(&info, dev_id);
        for (field, value) in want {
            assert_eq!(&dev[field], value, "{dev_id} {field}: {dev}");
        }
    };
    // Currents take the sign of their phase's power; the power is the total.
    expect(
        "M1",
        &[
            ("power_w", json!(1038)),
            ("current_l1", json!(8204)),
            ("current_l2", json!(-4100)),
            ("current_l3", json!(500)),
            ("voltage_l1", json!(232)),
            ("voltage_l3", json!(229)),
            ("model", json!("Shelly,Pro 3EM,,,")),
        ],
    );
    expect(
        "M2",
        &[
            ("power_w", json!(-2900)),
            ("current_l1", json!(-7010)),
            ("current_l2", json!(-6950)),
            ("current_l3", json!(1420)),
            ("voltage_l2", json!(230)),
        ],
    );
    // Tasmota: power only, spread over the phases; energy in kWh.
    expect(
        "M3",
        &[
            ("power_w", json!(-2140)),
            ("import", json!(12_345_679)),
            ("export", json!(678_901)),
        ],
    );
    assert!(
        pro.asked().iter().all(|p| p == "/rpc/EM.GetStatus?id=0"),
        "{:?}",
        pro.asked()
    );
    assert!(
        gen1.asked().iter().all(|p| p == "/status"),
        "{:?}",
        gen1.asked()
    );
    assert!(
        sml.asked().iter().all(|p| p == "/cm?cmnd=Status%2010"),
        "{:?}",
        sml.asked()
    );
    // Asked every cycle (1 s).
    let before = pro.asked().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = pro.asked().len();
    assert!(after >= before + 2, "asked {before}, then {after} times");
}

/// Waits until M1's last_error starts with `start` (and com_err is set).
async fn fails_with(d: &Daemon, start: &str) -> Value {
    let info = d
        .wait_for(SETTLE, start, |i| {
            let dev = device_info(i, "M1");
            dev["com_err"] == true
                && dev["last_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with(start))
        })
        .await;
    device_info(&info, "M1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_that_answers_late_wrongly_or_implausibly_is_a_com_error_until_it_answers_well() {
    let good = shelly_pro_3em(232.1).to_string();
    let pro = JsonServer::start(&shelly_pro_3em(232.1)).await;
    let devices = device("M1", "meter_shelly_pro_3em", &pro.addr, 1);
    let d = Daemon::start(DaemonConfig::new(settings(&devices))).await;
    let ok = |i: &Value| {
        device_info(i, "M1")["com_err"] == false && device_info(i, "M1")["power_w"] == 1038
    };
    d.wait_for(SETTLE, "read", ok).await;

    // Later than the devices' timeout (1000 ms).
    pro.answer(200, &good, Duration::from_millis(3000));
    fails_with(&d, "no answer within 1000 ms").await;

    // An error page instead of JSON.
    pro.answer(
        200,
        "<html><body>Unauthorized</body></html>",
        Duration::ZERO,
    );
    fails_with(&d, "unexpected answer: the answer is not JSON").await;

    // An HTTP error status.
    pro.answer(401, "{\"code\":401}", Duration::ZERO);
    fails_with(&d, "unexpected answer: HTTP status 401").await;

    // A firmware that renamed a field.
    let renamed = good.replace("total_act_power", "total_power");
    pro.answer(200, &renamed, Duration::ZERO);
    fails_with(
        &d,
        "unexpected answer: readings.power: no value at total_act_power",
    )
    .await;

    // A reading that cannot be true is refused like a Modbus meter's.
    pro.answer(200, &shelly_pro_3em(2321.0).to_string(), Duration::ZERO);
    let dev = fails_with(&d, "implausible reading: voltage L1: 2321 V is outside").await;
    assert!(dev["com_errors"].as_u64().unwrap_or(0) >= 5, "{dev}");
    assert_eq!(
        dev["voltage_l1"], 232,
        "the refused reading changed nothing: {dev}"
    );

    // Answering well again, it is read again.
    pro.answer(200, &good, Duration::ZERO);
    d.wait_for(SETTLE, "read again", ok).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_json_meter_needs_an_address_and_a_users_json_definition_is_a_type() {
    // A definition of the user's own, for a JSON meter on the LAN.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("my_meter.toml"),
        "name = \"my_meter\"\nprotocol = \"http_json\"\nkind = \"meter\"\ntitle = \"My meter\"\n\
         maker = \"Me\"\ndevice = \"JSON meter\"\nsource = \"its own page\"\n\
         [http]\npath = \"/data.json\"\n[readings]\npower = { json = \"grid.kw\", scale = 1000 }\n",
    )
    .expect("write");
    let server = JsonServer::start(&json!({ "grid": { "kw": 1.25 } })).await;
    let devices = device("M1", "meter_my_meter", &server.addr, 1);
    let text = format!(
        "[definitions]\ndir = \"{}\"\n{}",
        dir.path().display(),
        settings(&devices)
    );
    let d = Daemon::start(DaemonConfig::new(text)).await;
    d.wait_for(SETTLE, "read", |i| device_info(i, "M1")["power_w"] == 1250)
        .await;
    let params = d.ok("cmd=get_params").await;
    assert_eq!(
        params["meta"]["dev_types"]["meter_my_meter"],
        json!({"kind": "meter", "link": "http_json"})
    );
    assert_eq!(params["dev_meta"]["meter_my_meter"], "My meter");

    // Without an address it is refused, naming the field.
    let body = json!({"devices": [{"dev_id": "M2", "dev_type": "meter_shelly_3em", "name": "M2"}]});
    let (status, answer) = d.post("cmd=set_params", body.to_string()).await;
    assert_ne!(status, 200, "{answer}");
    assert!(answer.to_string().contains("address"), "{answer}");
}
