//! Modbus transport: the only place (besides the simulator) that speaks
//! tokio-modbus. A [`Bus`] actor owns one connection (a TCP endpoint or a
//! serial line, framed RTU or ASCII) and serialises every request on it.

mod ascii;
mod bus;
mod endpoint;
mod error;

pub use bus::{Bus, BusRequest, Op};
pub use endpoint::{Endpoint, EndpointError, Framing, SerialLine};
pub use error::{DeviceError, Exception};
