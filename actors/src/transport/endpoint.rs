use std::fmt;

/// Where a device is reached: a Modbus TCP `host:port`, or a serial line
/// written `PATH,BAUD,DATABITS,PARITY,STOPBITS,FRAMING` (e.g.
/// `/dev/ttyUSB0,9600,8,n,1`; everything after the path is optional and
/// defaults to `9600,8,n,1,rtu`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Tcp(String),
    Serial(SerialLine),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    pub path: String,
    pub baud: u32,
    pub data_bits: u8,
    /// `n`, `e` or `o`.
    pub parity: char,
    pub stop_bits: u8,
    pub framing: Framing,
}

/// How frames are written on a serial line: Modbus RTU (binary, CRC) or
/// Modbus ASCII (hex text, LRC, CR LF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Framing {
    #[default]
    Rtu,
    Ascii,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad device address '{address}': {reason}")]
pub struct EndpointError {
    pub address: String,
    pub reason: String,
}

impl Endpoint {
    pub fn parse(address: &str) -> Result<Self, EndpointError> {
        let err = |reason: &str| EndpointError {
            address: address.to_string(),
            reason: reason.to_string(),
        };
        let address = address.trim();
        if address.starts_with('/') || address.to_ascii_uppercase().starts_with("COM") {
            return parse_serial(address)
                .map(Endpoint::Serial)
                .map_err(|r| err(&r));
        }
        let (host, port) = address.rsplit_once(':').ok_or_else(|| {
            err("expected host:port or a serial line like /dev/ttyUSB0,9600,8,n,1")
        })?;
        if host.is_empty() {
            return Err(err("the host is empty"));
        }
        port.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| err("the port must be a number from 1 to 65535"))?;
        Ok(Endpoint::Tcp(address.to_string()))
    }
}

fn parse_serial(address: &str) -> Result<SerialLine, String> {
    let mut parts = address.split(',').map(str::trim);
    let path = parts.next().unwrap_or_default().to_string();
    let mut field = |default: &str| -> String {
        parts
            .next()
            .filter(|p| !p.is_empty())
            .unwrap_or(default)
            .to_ascii_lowercase()
    };
    let baud = field("9600");
    let data_bits = field("8");
    let parity = field("n");
    let stop_bits = field("1");
    let framing = field("rtu");
    if parts.next().is_some() {
        return Err("too many fields; expected PATH,BAUD,DATABITS,PARITY,STOPBITS,FRAMING".into());
    }
    let baud = baud
        .parse::<u32>()
        .ok()
        .filter(|b| *b > 0)
        .ok_or(format!("bad baud rate '{baud}'"))?;
    let data_bits = match data_bits.as_str() {
        "5" => 5,
        "6" => 6,
        "7" => 7,
        "8" => 8,
        other => return Err(format!("bad data bits '{other}' (5 to 8)")),
    };
    let parity = match parity.as_str() {
        "n" | "none" => 'n',
        "e" | "even" => 'e',
        "o" | "odd" => 'o',
        other => return Err(format!("bad parity '{other}' (n, e or o)")),
    };
    let stop_bits = match stop_bits.as_str() {
        "1" => 1,
        "2" => 2,
        other => return Err(format!("bad stop bits '{other}' (1 or 2)")),
    };
    let framing = match framing.as_str() {
        "rtu" => Framing::Rtu,
        "ascii" => Framing::Ascii,
        other => return Err(format!("bad framing '{other}' (rtu or ascii)")),
    };
    Ok(SerialLine {
        path,
        baud,
        data_bits,
        parity,
        stop_bits,
        framing,
    })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
            Endpoint::Serial(s) => {
                write!(
                    f,
                    "{},{},{},{},{}",
                    s.path, s.baud, s.data_bits, s.parity, s.stop_bits
                )?;
                match s.framing {
                    Framing::Rtu => Ok(()),
                    Framing::Ascii => write!(f, ",ascii"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_serial_addresses() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:4701"),
            Ok(Endpoint::Tcp("127.0.0.1:4701".into()))
        );
        assert_eq!(
            Endpoint::parse("wallbox.local:502"),
            Ok(Endpoint::Tcp("wallbox.local:502".into()))
        );
        let Ok(Endpoint::Serial(line)) = Endpoint::parse("/dev/ttyUSB0,19200,8,E,1") else {
            panic!("not serial");
        };
        assert_eq!(
            (line.path.as_str(), line.baud, line.parity),
            ("/dev/ttyUSB0", 19200, 'e')
        );
        assert_eq!(
            Endpoint::parse("/dev/ttyS1").map(|e| e.to_string()),
            Ok("/dev/ttyS1,9600,8,n,1".into())
        );
        assert_eq!(line.framing, Framing::Rtu);
        let Ok(Endpoint::Serial(ascii)) = Endpoint::parse("/dev/ttyUSB1,38400,8,e,1,ASCII") else {
            panic!("not serial");
        };
        assert_eq!(ascii.framing, Framing::Ascii);
        assert_eq!(
            Endpoint::Serial(ascii).to_string(),
            "/dev/ttyUSB1,38400,8,e,1,ascii"
        );
        assert_eq!(
            Endpoint::parse("/dev/ttyS1,9600,8,n,1,rtu").map(|e| e.to_string()),
            Ok("/dev/ttyS1,9600,8,n,1".into())
        );
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "localhost",
            ":502",
            "host:0",
            "host:99999",
            "host:abc",
            "/dev/ttyUSB0,fast",
            "/dev/ttyUSB0,9600,9",
            "/dev/ttyUSB0,9600,8,x",
            "/dev/ttyUSB0,9600,8,n,3",
            "/dev/ttyUSB0,9600,8,n,1,binary",
            "/dev/ttyUSB0,9600,8,n,1,ascii,extra",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
