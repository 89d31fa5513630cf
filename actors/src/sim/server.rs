//! Serves register banks over real Modbus TCP and RTU.

use std::future::{ready, Ready};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{accept_tcp_connection, Server as TcpServer};
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_serial::SerialStream;

use super::bank::RegisterBank;

/// A bank shared between its Modbus server and whoever drives the simulation.
#[derive(Debug, Clone)]
pub struct SharedBank {
    bank: Arc<Mutex<RegisterBank>>,
    online: Arc<AtomicBool>,
}

impl SharedBank {
    pub fn new(bank: RegisterBank) -> Self {
        SharedBank {
            bank: Arc::new(Mutex::new(bank)),
            online: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Locks the bank. A panic elsewhere cannot leave a bank half-written
    /// (every write is checked first), so a poisoned lock is still usable.
    pub fn lock(&self) -> MutexGuard<'_, RegisterBank> {
        self.bank
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An offline device keeps its connections but answers nothing, as a
    /// hung or unplugged device behind a gateway does.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Relaxed);
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }
}

/// Answers each unit id from its bank.
#[derive(Debug, Clone)]
struct BankService {
    units: Arc<[(u8, SharedBank)]>,
    /// On TCP a wrong unit id gets exception 0x0B; on a serial bus the
    /// request belongs to another device, so the answer is silence.
    silent_for_other_units: bool,
    /// Requests addressed to one of the units, answered or refused.
    requests: Arc<AtomicUsize>,
}

impl Service for BankService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let Some((_, bank)) = self.units.iter().find(|(unit, _)| *unit == req.slave) else {
            return ready(if self.silent_for_other_units {
                Ok(None)
            } else {
                Err(ExceptionCode::GatewayTargetDevice)
            });
        };
        if !bank.is_online() {
            return ready(Ok(None));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut bank = bank.lock();
        let illegal = |_| ExceptionCode::IllegalDataAddress;
        ready(match req.request {
            Request::ReadHoldingRegisters(addr, count) => bank
                .read(addr, count)
                .map(|w| Some(Response::ReadHoldingRegisters(w)))
                .map_err(illegal),
            Request::ReadInputRegisters(addr, count) => bank
                .read(addr, count)
                .map(|w| Some(Response::ReadInputRegisters(w)))
                .map_err(illegal),
            Request::WriteSingleRegister(addr, value) => bank
                .write(addr, &[value])
                .map(|()| Some(Response::WriteSingleRegister(addr, value)))
                .map_err(illegal),
            Request::WriteMultipleRegisters(addr, words) => {
                let count = u16::try_from(words.len()).unwrap_or(u16::MAX);
                bank.write(addr, &words)
                    .map(|()| Some(Response::WriteMultipleRegisters(addr, count)))
                    .map_err(illegal)
            }
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// A running simulated TCP device.
#[derive(Debug, Clone)]
pub struct TcpSim {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Requests answered so far (exceptions included).
    pub requests: Arc<AtomicUsize>,
}

/// Serves `bank` as unit `unit` on a TCP listener until the runtime stops
/// (bind to port 0 for a free port).
pub async fn serve_tcp(addr: SocketAddr, unit: u8, bank: SharedBank) -> io::Result<TcpSim> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let service = BankService {
        units: Arc::new([(unit, bank)]),
        silent_for_other_units: false,
        requests: requests.clone(),
    };
    let counter = connections.clone();
    tokio::spawn(async move {
        let server = TcpServer::new(listener);
        let on_connected = move |stream, peer| {
            let service = service.clone();
            counter.fetch_add(1, Ordering::Relaxed);
            async move { accept_tcp_connection(stream, peer, |_| Ok(Some(service.clone()))) }
        };
        let on_error = |err| log::warn!("simulator connection failed: {err}");
        if let Err(err) = server.serve(&on_connected, on_error).await {
            log::error!("simulator on {local} stopped: {err}");
        }
    });
    Ok(TcpSim {
        addr: local,
        connections,
        requests,
    })
}

/// Serves a new bank as unit `unit` on a free loopback port.
pub async fn serve_on_loopback(unit: u8, bank: RegisterBank) -> io::Result<TcpSim> {
    let any_port = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
    serve_tcp(any_port, unit, SharedBank::new(bank)).await
}

/// Serves several units on one end of a serial line (e.g. a pty), as
/// devices on one RS-485 bus: each answers only its own unit id.
pub async fn serve_rtu(serial: SerialStream, units: Vec<(u8, SharedBank)>) -> io::Result<()> {
    let service = BankService {
        units: units.into(),
        silent_for_other_units: true,
        requests: Arc::default(),
    };
    tokio_modbus::server::rtu::Server::new(serial)
        .serve_forever(service)
        .await
}
