//! The Modbus floors, with tokio-modbus alone (no actors, no decoding).
//!
//! `floor_modbus read ITERATIONS`: one server, one connection, reads of 10
//! holding registers one after another; prints p50 and p99 in µs.
//!
//! `floor_modbus poll100 ROUNDS`: 100 servers on a runtime of their own
//! thread (as with real devices elsewhere), 100 client connections; a round
//! sends one read of 10 registers to each at once and waits for all; prints
//! the median and p99 of a round in µs.

use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_modbus::client::{tcp, Context, Reader};
use tokio_modbus::server::tcp::{accept_tcp_connection, Server};
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, Slave, SlaveRequest};

#[derive(Clone)]
struct Registers;

impl Service for Registers {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(match req.request {
            Request::ReadHoldingRegisters(addr, count) => Ok(Response::ReadHoldingRegisters(
                (0..count).map(|i| addr.wrapping_add(i)).collect(),
            )),
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

async fn serve() -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let on_connected = |stream, peer| async move {
            accept_tcp_connection(stream, peer, |_| Ok(Some(Registers)))
        };
        let _ = Server::new(listener)
            .serve(&on_connected, |err| eprintln!("{err}"))
            .await;
    });
    addr
}

/// Starts `n` servers on a thread of their own; answers their addresses.
fn servers_on_thread(n: usize) -> Vec<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let mut addrs = Vec::new();
            for _ in 0..n {
                addrs.push(serve().await);
            }
            tx.send(addrs).expect("the main thread waits");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("the servers start")
}

async fn read(ctx: &mut Context) {
    let words = ctx.read_holding_registers(8000, 10).await;
    assert!(matches!(words, Ok(Ok(ref w)) if w.len() == 10), "{words:?}");
}

fn percentile(sorted: &[Duration], p: usize) -> u128 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_micros()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "read".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let devices = if mode == "poll100" { 100 } else { 1 };
    let addrs = servers_on_thread(devices);
    let mut times = rt.block_on(async move {
        let mut clients = Vec::new();
        for addr in addrs {
            clients.push(tcp::connect_slave(addr, Slave(1)).await.expect("connects"));
        }
        let mut times = Vec::with_capacity(count);
        for round in 0..count + count / 10 {
            let start = Instant::now();
            if mode == "poll100" {
                let reads = clients.iter_mut().map(|c| async move { read(c).await });
                futures_join_all(reads).await;
            } else {
                read(&mut clients[0]).await;
            }
            // The first tenth warms up.
            if round >= count / 10 {
                times.push(start.elapsed());
            }
        }
        times
    });
    times.sort();
    println!(
        "p50_us {} p99_us {}",
        percentile(&times, 50),
        percentile(&times, 99)
    );
}

/// Awaits all `futures` concurrently on this task (no extra dependency).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
