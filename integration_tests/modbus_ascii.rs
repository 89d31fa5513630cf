//! Modbus ASCII on a serial line, through the real binary: a wallbox
//! defined as data, served by PyPI pymodbus with its ASCII framer, reached
//! by the daemon over a pty (the test carries the bytes between the pty
//! and the device's socket, as a transparent RS-485 link would).

use std::time::Duration;

use serde_json::json;
use tokio_serial::{SerialPort, SerialStream};

use crate::definitions::set_ma;
use crate::harness::{device, device_info, plain_settings, Daemon, DaemonConfig};
use crate::modbus_device::{PyDevice, Registers};

const SETTLE: Duration = Duration::from_secs(15);

/// A wallbox of holding registers: its state in the low byte of 4 (its
/// high byte repeats the register's address, as ABL's wallboxes do), its
/// currents in 0.1 A at 6..8, its power in W at 9, its current limit in
/// 0.1 A at 20.
const ASCII_BOX: &str = r#"
name = "ascii_box"
kind = "wallbox"
title = "ASCII wallbox"
maker = "Me"
device = "Box 1"
source = "Me, register table 1.0"
function = 3

[readings]
state = { addr = 4, type = "u16", byte = "low" }
current = [
    { addr = 6, type = "u16", scale = 0.1 },
    { addr = 7, type = "u16", scale = 0.1 },
    { addr = 8, type = "u16", scale = 0.1 },
]
power = { addr = 9, type = "u16" }

[wallbox]
min_current = 6.0
max_current = 16.0
current_limit = { addr = 20, type = "u16", scale = 0.1 }

[wallbox.states]
"1" = 1
"2" = 2
"3" = 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallbox_over_modbus_ascii_is_read_and_set_through_pymodbus() {
    let defs = tempfile::tempdir().expect("tempdir");
    std::fs::write(defs.path().join("ascii_box.toml"), ASCII_BOX).expect("write");
    // Charging, 9.5 / 9.6 / 9.4 A, 6555 W, the limit at 16 A.
    let registers = Registers::default()
        .words("holding", 4, &[0x0403, 0, 95, 96, 94, 6555])
        .words("holding", 20, &[160]);
    let mut py = PyDevice::start_ascii(1, &registers).await;

    let (mut line, daemon_end) = SerialStream::pair().expect("pty pair");
    let path = daemon_end.name().expect("pty name");
    let mut socket = tokio::net::TcpStream::connect(&py.addr)
        .await
        .expect("the pymodbus device listens");
    tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut line, &mut socket).await;
    });

    // Unit 2 shares the line; pymodbus serves no unit 2 and answers its
    // requests with an exception: E2 fails alone.
    let address = format!("{path},38400,8,e,1,ascii");
    let devices = [
        device("E1", "evse_ascii_box", &address, 1),
        device("E2", "evse_ascii_box", &address, 2),
    ]
    .concat();
    let settings = plain_settings(&devices, 500)
        + "[load]\nmax_total_current = 10000\n"
        + &format!("[definitions]\ndir = {:?}\n", defs.path());
    let d = Daemon::start(DaemonConfig::new(settings)).await;

    // The site allows 10 A: the box is told 10 A (100 in 0.1 A).
    let info = d
        .wait_for(SETTLE, "E1 read and set to 10 A", |i| {
            set_ma(i, "E1") == 10_000 && device_info(i, "E2")["com_err"] == true
        })
        .await;
    let e1 = device_info(&info, "E1");
    assert_eq!(e1["state"], 3, "{e1}");
    assert_eq!(e1["com_err"], false, "{e1}");
    assert_eq!(e1["cur_charging_power"], 6555, "{e1}");
    assert_eq!(
        (&e1["current_l1"], &e1["current_l2"], &e1["current_l3"]),
        (&json!(9500), &json!(9600), &json!(9400)),
        "{e1}"
    );
    let e2 = device_info(&info, "E2");
    assert!(
        e2["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("modbus exception: server device failure")),
        "{e2}"
    );

    // At the device: the limit register holds 100, written by the daemon.
    let deadline = tokio::time::Instant::now() + SETTLE;
    while py.holding(20, 1).await != Some(vec![100]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "20 = 100 at the device"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let writes = py.writes().await;
    assert!(
        writes
            .iter()
            .any(|(f, addr, words)| [6, 16].contains(f) && *addr == 20 && words == &[100]),
        "{writes:?}"
    );
    // And `cmd=modbus` reads through the same line.
    assert_eq!(d.ok("cmd=modbus&device=E1&read=20").await, json!(100));
    drop(daemon_end);
}
