use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{debug, info, o, Logger};
use tokio_modbus::client::{rtu, tcp, Context as MbContext, Reader, Writer};
use tokio_modbus::slave::SlaveContext;
use tokio_modbus::Slave;
use tokio_serial::{DataBits, Parity, SerialStream, StopBits};

use super::ascii::{AsciiError, AsciiLink};
use super::{DeviceError, Endpoint, Exception, Framing, SerialLine};

/// One Modbus request on a bus, for one unit id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// FC03.
    ReadHolding { addr: u16, count: u16 },
    /// FC04.
    ReadInput { addr: u16, count: u16 },
    /// FC06 for one value, FC16 for several.
    Write { addr: u16, values: Vec<u16> },
}

/// In words, for the log: `read holding registers 8000 (32)`.
impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::ReadHolding { addr, count } => write!(f, "read holding registers {addr} ({count})"),
            Op::ReadInput { addr, count } => write!(f, "read input registers {addr} ({count})"),
            Op::Write { addr, values } => write!(f, "write {addr} = {values:?}"),
        }
    }
}

/// Ask the bus to run `op` on unit `unit`, answering within `timeout` of
/// `issued`: a request that waited in the queue past that fails without
/// touching the wire, so a dead device never makes a caller wait longer
/// than the timeout, however many requests are queued.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<u16>, DeviceError>")]
pub struct BusRequest {
    pub unit: u8,
    pub op: Op,
    pub issued: Instant,
    pub timeout: Duration,
}

impl BusRequest {
    pub fn new(unit: u8, op: Op, timeout: Duration) -> Self {
        BusRequest {
            unit,
            op,
            issued: Instant::now(),
            timeout,
        }
    }

    fn timed_out(&self) -> DeviceError {
        DeviceError::Timeout(self.timeout.as_millis().try_into().unwrap_or(u64::MAX))
    }
}

/// Owns the Modbus session of one TCP endpoint or one serial line. Every
/// device behind it (several unit ids on an RS-485 line or a TCP gateway)
/// goes through this actor, so frames never interleave.
pub struct Bus {
    endpoint: Endpoint,
    /// `None` until connected, and again after a timeout or transport
    /// error: a cancelled call leaves the stream in an unknown state.
    session: Option<Session>,
    /// After a failed connect, requests fail at once until this instant
    /// instead of each waiting for its own connect attempt.
    retry_at: Option<(Instant, DeviceError)>,
    /// Connected once: later reconnections are logged at debug only (a
    /// device that times out is reconnected every poll).
    connected_before: bool,
    log: Logger,
}

impl Bus {
    pub fn new(endpoint: Endpoint, log: &Logger) -> Self {
        let log = log.new(o!("bus" => endpoint.to_string()));
        Bus {
            endpoint,
            session: None,
            retry_at: None,
            connected_before: false,
            log,
        }
    }
}

impl Actor for Bus {
    type Context = actix::Context<Self>;
}

/// How long a failed connect is remembered before the next attempt.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

impl Handler<BusRequest> for Bus {
    type Result = AtomicResponse<Self, Result<Vec<u16>, DeviceError>>;

    fn handle(&mut self, req: BusRequest, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        let deadline = req.issued + req.timeout;
        let early_answer = match &self.retry_at {
            _ if now >= deadline => Some(req.timed_out()),
            Some((until, err)) if now < *until && self.session.is_none() => Some(err.clone()),
            _ => None,
        };
        if let Some(err) = early_answer {
            return AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        }
        let timed_out = req.timed_out();
        let session = self.session.take();
        let endpoint = self.endpoint.clone();
        let log = self.log.clone();
        let work = async move {
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, exchange(session, &endpoint, req, &log)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome {
                    session: None,
                    connected: false,
                    connect_failed: false,
                    result: Err(timed_out),
                },
            }
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|outcome, bus, _| {
            if outcome.connected {
                if bus.connected_before {
                    debug!(bus.log, "reconnected");
                } else {
                    info!(bus.log, "connected");
                    bus.connected_before = true;
                }
            }
            match &outcome.result {
                Ok(words) => debug!(bus.log, "answer"; "words" => ?words),
                // The device actor logs failures, once and not every poll.
                Err(err) => debug!(bus.log, "request failed"; "error" => %err),
            }
            bus.retry_at = outcome
                .connect_failed
                .then(|| {
                    outcome
                        .result
                        .clone()
                        .err()
                        .map(|e| (Instant::now() + RECONNECT_PAUSE, e))
                })
                .flatten();
            bus.session = outcome.session;
            outcome.result
        })))
    }
}

/// A connection: tokio-modbus's (TCP, RTU), or a serial line framed in
/// Modbus ASCII.
enum Session {
    Binary(MbContext),
    Ascii(AsciiLink),
}

/// How one request ended short of an answer from the device.
enum Failure {
    Transport(String),
    Protocol(String),
}

impl Session {
    /// Runs one request: the words read (none for a write), or the
    /// device's exception code.
    async fn call(&mut self, unit: u8, op: Op) -> Result<Result<Vec<u16>, u8>, Failure> {
        let session = match self {
            Session::Ascii(link) => {
                return link.call(unit, &op).await.map_err(|e| match e {
                    AsciiError::Transport(e) => Failure::Transport(e),
                    AsciiError::Protocol(e) => Failure::Protocol(e),
                })
            }
            Session::Binary(session) => session,
        };
        session.set_slave(Slave(unit));
        let answer = match op {
            Op::ReadHolding { addr, count } => session.read_holding_registers(addr, count).await,
            Op::ReadInput { addr, count } => session.read_input_registers(addr, count).await,
            Op::Write { addr, values } if values.len() == 1 => session
                .write_single_register(addr, values[0])
                .await
                .map(|r| r.map(|()| Vec::new())),
            Op::Write { addr, values } => session
                .write_multiple_registers(addr, &values)
                .await
                .map(|r| r.map(|()| Vec::new())),
        };
        match answer {
            Ok(result) => Ok(result.map_err(u8::from)),
            Err(tokio_modbus::Error::Transport(e)) => Err(Failure::Transport(e.to_string())),
            Err(tokio_modbus::Error::Protocol(e)) => Err(Failure::Protocol(e.to_string())),
        }
    }
}

struct Outcome {
    session: Option<Session>,
    /// A new connection was made for this request.
    connected: bool,
    connect_failed: bool,
    result: Result<Vec<u16>, DeviceError>,
}

/// Connects if needed, runs one request, and hands the session back when
/// it is still usable.
async fn exchange(
    session: Option<Session>,
    endpoint: &Endpoint,
    req: BusRequest,
    log: &Logger,
) -> Outcome {
    let connected = session.is_none();
    let mut session = match session {
        Some(s) => s,
        None => match connect(endpoint).await {
            Ok(s) => s,
            Err(reason) => {
                return Outcome {
                    session: None,
                    connected: false,
                    connect_failed: true,
                    result: Err(DeviceError::Connect {
                        endpoint: endpoint.to_string(),
                        reason,
                    }),
                }
            }
        },
    };
    debug!(log, "request"; "unit" => req.unit, "op" => %req.op);
    let (session, result) = match session.call(req.unit, req.op).await {
        Ok(Ok(words)) => (Some(session), Ok(words)),
        Ok(Err(code)) => (Some(session), Err(DeviceError::Exception(Exception(code)))),
        Err(Failure::Transport(e)) => (None, Err(DeviceError::Transport(e))),
        Err(Failure::Protocol(e)) => (None, Err(DeviceError::Protocol(e))),
    };
    Outcome {
        session,
        connected,
        connect_failed: false,
        result,
    }
}

async fn connect(endpoint: &Endpoint) -> Result<Session, String> {
    match endpoint {
        Endpoint::Tcp(address) => {
            let addr = tokio::net::lookup_host(address.as_str())
                .await
                .map_err(|e| e.to_string())?
                .next()
                .ok_or_else(|| "host has no address".to_string())?;
            let session = tcp::connect(addr).await.map_err(|e| e.to_string())?;
            Ok(Session::Binary(session))
        }
        Endpoint::Serial(line) => {
            let stream = SerialStream::open(&serial_builder(line)).map_err(|e| e.to_string())?;
            Ok(match line.framing {
                Framing::Rtu => Session::Binary(rtu::attach_slave(stream, Slave(1))),
                Framing::Ascii => Session::Ascii(AsciiLink::new(stream)),
            })
        }
    }
}

fn serial_builder(line: &SerialLine) -> tokio_serial::SerialPortBuilder {
    let data_bits = match line.data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    let parity = match line.parity {
        'e' => Parity::Even,
        'o' => Parity::Odd,
        _ => Parity::None,
    };
    let stop_bits = if line.stop_bits == 2 {
        StopBits::Two
    } else {
        StopBits::One
    };
    tokio_serial::new(line.path.as_str(), line.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
}
