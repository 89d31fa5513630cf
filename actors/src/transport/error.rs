use std::fmt;

/// A Modbus exception code answered by a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception(pub u8);

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0x01 => "illegal function",
            0x02 => "illegal data address",
            0x03 => "illegal data value",
            0x04 => "server device failure",
            0x05 => "acknowledge",
            0x06 => "server device busy",
            0x08 => "memory parity error",
            0x0a => "gateway path unavailable",
            0x0b => "gateway target device failed to respond",
            _ => "unknown exception",
        };
        write!(f, "{name} (code {})", self.0)
    }
}

/// Why talking to a device failed. The nested tokio-modbus results
/// (timeout, transport, exception) are flattened into this once, in the bus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("not connected: {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("connection lost: {0}")]
    Transport(String),
    #[error("modbus exception: {0}")]
    Exception(Exception),
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("device is shutting down")]
    Stopped,
    /// A reading that cannot be true (outside its plausibility window).
    #[error("{0}")]
    Implausible(String),
    /// An HTTP-input device whose values were not pushed in time.
    #[error("no values pushed for {0} s")]
    Stale(u64),
}
