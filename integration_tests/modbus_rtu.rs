//! Modbus RTU: two meters on one serial line (a pty pair), sharing one bus.

use actors::sim::{powerbrain, serve_rtu, SharedBank};
use futures_util::future::join_all;
use serde_json::json;
use tokio_serial::{SerialPort, SerialStream};

use crate::harness::{device, plain_settings, Daemon, DaemonConfig};

#[tokio::test]
async fn two_devices_on_one_serial_line_answer_each_for_itself() {
    let (line, daemon_end) = SerialStream::pair().expect("pty pair");
    let path = daemon_end.name().expect("pty name");
    let meter1 = SharedBank::new(powerbrain::s0_meter(1));
    let meter2 = SharedBank::new(powerbrain::s0_meter(2));
    tokio::spawn(serve_rtu(
        line,
        vec![(2, meter1.clone()), (3, meter2.clone())],
    ));

    let address = format!("{path},19200,8,n,1");
    let devices = [
        device("M1", "meter_powerbrain", &address, 2),
        device("M2", "meter_powerbrain", &address, 3),
    ]
    .concat();
    let d = Daemon::start(DaemonConfig::new(plain_settings(&devices, 2000))).await;

    assert_eq!(
        d.ok("cmd=modbus&device=M1&read=8016s").await,
        json!("cFos Power Brain")
    );
    assert_eq!(d.ok("cmd=modbus&device=M2&read=8040").await, json!(41));
    assert_eq!(d.ok("cmd=modbus&device=M1&read=8040").await, json!(40));

    d.ok_change("cmd=modbus&device=M1&write=8045&value=231")
        .await;
    assert_eq!(meter1.lock().read(8045, 1), Ok(vec![231]));
    assert_eq!(
        meter2.lock().read(8045, 1),
        Ok(vec![230]),
        "only unit 2 was written"
    );

    // Interleaved requests to both units never mix their frames.
    let reads = (0..40).map(|i| {
        let (dev, expected) = if i % 2 == 0 { ("M1", 40) } else { ("M2", 41) };
        let d = &d;
        async move {
            (
                d.get(&format!("cmd=modbus&device={dev}&read=8040")).await,
                expected,
            )
        }
    });
    for ((status, value), expected) in join_all(reads).await {
        assert_eq!((status, value), (200, json!(expected)));
    }
    drop(daemon_end);
}
