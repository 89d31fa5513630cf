//! Devices that answer slowly or only with Modbus exceptions: the cycle
//! keeps its time and the device's status fields agree with each other.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use actors::sim::{meters, powerbrain, serve_tcp, SharedBank};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{device, device_info, plain_settings, Daemon, DaemonConfig};

/// A TCP proxy in front of `upstream` that holds every answer for `delay`.
async fn slow_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut buf = vec![0u8; 1024];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A Modbus TCP gateway whose target never answers: every request gets
/// exception 11 (gateway target device failed to respond).
async fn exception_11_gateway() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut header = [0u8; 7];
                while stream.read_exact(&mut header).await.is_ok() {
                    let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
                    let mut pdu = vec![0u8; length.saturating_sub(1)];
                    if stream.read_exact(&mut pdu).await.is_err() {
                        return;
                    }
                    let function = pdu.first().copied().unwrap_or(0);
                    let answer = [
                        header[0],
                        header[1],
                        0,
                        0,
                        0,
                        3,
                        header[6],
                        function | 0x80,
                        0x0b,
                    ];
                    if stream.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_answering_in_900_ms_neither_slows_the_cycle_nor_counts_as_dead() {
    let sdm630 = serve_tcp(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        1,
        SharedBank::new(meters::sdm630()),
    )
    .await
    .expect("meter");
    let healthy = serve_tcp(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        2,
        SharedBank::new(powerbrain::s0_meter(1)),
    )
    .await
    .expect("meter");
    // Each of the SDM630's two requests per poll is answered after 900 ms:
    // a poll takes 1.8 s, longer than the 1 s cycle, yet each request is
    // well within its 2 s timeout (a 1 s timeout left 100 ms, which a
    // loaded machine overran).
    let slow = slow_proxy(sdm630.addr, Duration::from_millis(900)).await;
    let devices = [
        device("M1", "meter_sdm630", &slow.to_string(), 1),
        device("M2", "meter_powerbrain", &healthy.addr.to_string(), 2),
    ]
    .concat();
    let settings =
        plain_settings(&devices, 2000) + "[load]\ncycle_time_ms = 1000\nmeter_timeout_s = 10\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    // The slow meter's first reading comes after two answers.
    let info = d
        .wait_for(
            Duration::from_secs(10),
            "a reading of the slow meter",
            |i| device_info(i, "M1")["voltage_l1"] == 230,
        )
        .await;
    let m1 = device_info(&info, "M1");
    assert_eq!(
        (&m1["com_err"], &m1["com_errors"], &m1["last_error"]),
        (&false.into(), &0.into(), &"".into()),
        "each request answered within its timeout: not dead. {m1}"
    );
    // The cycle runs every second, not every two.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let info = d.ok("cmd=get_dev_info").await;
        let period = info["params"]["cycle_time"].as_u64().unwrap_or(0);
        assert!(
            (800..1500).contains(&period),
            "cycle_time {period} ms with cycle_time_ms 1000"
        );
        assert_eq!(device_info(&info, "M1")["com_err"], false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallbox_answering_only_exceptions_says_so_in_every_status_field() {
    let gateway = exception_11_gateway().await;
    let devices = device("E1", "evse_powerbrain", &gateway.to_string(), 1);
    let settings = plain_settings(&devices, 300) + "[load]\ncycle_time_ms = 200\n";
    let d = Daemon::start(DaemonConfig::new(settings)).await;
    let info = d
        .wait_for(Duration::from_secs(15), "E1 counted as failing", |i| {
            device_info(i, "E1")["com_errors"].as_u64() >= Some(2)
        })
        .await;
    let e1 = device_info(&info, "E1");
    assert_eq!(e1["state"], 6, "{e1}");
    assert_eq!(e1["lb_reason"], "com error", "{e1}");
    assert_eq!(e1["com_err"], true, "{e1}");
    assert_eq!(
        e1["last_error"], "modbus exception: gateway target device failed to respond (code 11)",
        "{e1}"
    );
}
