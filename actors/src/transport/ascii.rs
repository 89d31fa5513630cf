//! Modbus ASCII on a serial line: each frame is `:`, the unit id and the
//! PDU as hexadecimal text, an LRC, and CR LF. tokio-modbus speaks RTU and
//! TCP only, so the few requests the bus makes (read holding or input
//! registers, write one or several) are framed here. Everything around them
//! (one request at a time, timeouts, reconnecting) is the bus's, as for RTU.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialStream;

use super::Op;

/// Why an exchange failed before a Modbus answer (an exception is an
/// answer): the line broke, or the answer was not a frame for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsciiError {
    Transport(String),
    Protocol(String),
}

/// The longest frame Modbus ASCII allows: `:`, 2 × 255 hex digits of unit,
/// PDU and LRC, CR LF.
const MAX_FRAME: usize = 513;

/// One serial line spoken in Modbus ASCII.
pub struct AsciiLink {
    stream: SerialStream,
}

impl AsciiLink {
    pub fn new(stream: SerialStream) -> Self {
        AsciiLink { stream }
    }

    /// Sends `op` to `unit` and reads its answer: the words read (none
    /// for a write), or the device's exception code.
    pub async fn call(&mut self, unit: u8, op: &Op) -> Result<Result<Vec<u16>, u8>, AsciiError> {
        let request = request_pdu(op)?;
        self.stream
            .write_all(&encode(unit, &request))
            .await
            .map_err(|e| AsciiError::Transport(e.to_string()))?;
        let frame = self.read_frame().await?;
        let (from, pdu) = decode(&frame)?;
        if from != unit {
            return Err(AsciiError::Protocol(format!(
                "answer from unit {from}, asked unit {unit}"
            )));
        }
        answer(op, &request, &pdu)
    }

    /// Bytes up to the first CR LF after a start character; what came
    /// before the start (noise, a partial frame) is dropped.
    async fn read_frame(&mut self) -> Result<Vec<u8>, AsciiError> {
        let mut frame = Vec::with_capacity(64);
        let mut chunk = [0u8; 128];
        loop {
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| AsciiError::Transport(e.to_string()))?;
            if n == 0 {
                return Err(AsciiError::Transport("the serial line closed".into()));
            }
            for &byte in &chunk[..n] {
                if is_start(byte) {
                    frame.clear();
                }
                if frame.is_empty() && !is_start(byte) {
                    continue;
                }
                frame.push(byte);
                if frame.ends_with(b"\r\n") {
                    return Ok(frame);
                }
                if frame.len() > MAX_FRAME {
                    return Err(AsciiError::Protocol(format!(
                        "a frame longer than {MAX_FRAME} characters"
                    )));
                }
            }
        }
    }
}

/// `:` starts a frame. ABL's wallboxes start their answers with `>`
/// instead, which is taken as well.
fn is_start(byte: u8) -> bool {
    byte == b':' || byte == b'>'
}

/// The request's PDU: function code and data.
fn request_pdu(op: &Op) -> Result<Vec<u8>, AsciiError> {
    let mut pdu = Vec::with_capacity(8);
    match op {
        Op::ReadHolding { addr, count } | Op::ReadInput { addr, count } => {
            pdu.push(if matches!(op, Op::ReadHolding { .. }) {
                0x03
            } else {
                0x04
            });
            pdu.extend(addr.to_be_bytes());
            pdu.extend(count.to_be_bytes());
        }
        Op::Write { addr, values } if values.len() == 1 => {
            pdu.push(0x06);
            pdu.extend(addr.to_be_bytes());
            pdu.extend(values[0].to_be_bytes());
        }
        Op::Write { addr, values } => {
            let count = u16::try_from(values.len())
                .ok()
                .filter(|c| (1..=123).contains(c))
                .ok_or_else(|| {
                    AsciiError::Protocol(format!("cannot write {} registers at once", values.len()))
                })?;
            pdu.push(0x10);
            pdu.extend(addr.to_be_bytes());
            pdu.extend(count.to_be_bytes());
            pdu.push((count * 2) as u8);
            for v in values {
                pdu.extend(v.to_be_bytes());
            }
        }
    }
    Ok(pdu)
}

/// The two's complement of the byte sum of unit and PDU.
fn lrc(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, b| sum.wrapping_add(*b))
        .wrapping_neg()
}

/// `:`, unit, PDU and LRC as upper-case hex, CR LF.
fn encode(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(pdu.len() + 2);
    bytes.push(unit);
    bytes.extend_from_slice(pdu);
    bytes.push(lrc(&bytes));
    let mut frame = Vec::with_capacity(bytes.len() * 2 + 3);
    frame.push(b':');
    for b in bytes {
        frame.extend(format!("{b:02X}").bytes());
    }
    frame.extend_from_slice(b"\r\n");
    frame
}

/// A received frame's unit and PDU, its hex and LRC checked.
fn decode(frame: &[u8]) -> Result<(u8, Vec<u8>), AsciiError> {
    let bad = |why: &str| AsciiError::Protocol(format!("bad ASCII frame: {why}"));
    let hex = frame
        .get(1..frame.len().saturating_sub(2))
        .ok_or_else(|| bad("too short"))?;
    if hex.len() % 2 != 0 {
        return Err(bad("an odd number of hex digits"));
    }
    let bytes = hex
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| bad("not hexadecimal"))?;
    // Unit, function code, LRC at least.
    let Some((&check, body)) = bytes.split_last().filter(|(_, body)| body.len() >= 2) else {
        return Err(bad("too short"));
    };
    if lrc(body) != check {
        return Err(bad(&format!("LRC {check:02X}, expected {:02X}", lrc(body))));
    }
    Ok((body[0], body[1..].to_vec()))
}

/// The answer PDU checked against the request: words read, an empty list
/// for a write, or the exception code.
fn answer(op: &Op, request: &[u8], pdu: &[u8]) -> Result<Result<Vec<u16>, u8>, AsciiError> {
    let function = request[0];
    let bad = |why: String| AsciiError::Protocol(why);
    match pdu {
        [f, code] if *f == function | 0x80 => return Ok(Err(*code)),
        [f, ..] if *f != function => {
            return Err(bad(format!(
                "answer to function {f:#04x}, asked {function:#04x}"
            )))
        }
        _ => {}
    }
    match op {
        Op::ReadHolding { count, .. } | Op::ReadInput { count, .. } => {
            let expected = usize::from(*count) * 2;
            match pdu {
                [_, n, data @ ..] if usize::from(*n) == expected && data.len() == expected => {
                    Ok(Ok(data
                        .chunks(2)
                        .map(|w| u16::from_be_bytes([w[0], w[1]]))
                        .collect()))
                }
                _ => Err(bad(format!(
                    "{} data bytes for {count} registers",
                    pdu.len().saturating_sub(2)
                ))),
            }
        }
        // A write's answer repeats the address and the value (FC06) or
        // the count (FC16): the request's first five bytes.
        Op::Write { .. } if pdu.len() == 5 && pdu == &request[..5] => Ok(Ok(Vec::new())),
        Op::Write { .. } => Err(bad("the write's answer does not repeat it".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_a_read_as_the_modbus_specification_does() {
        // The specification's example: unit 1, read holding 0x002E, 5
        // registers, LRC C9.
        let pdu = request_pdu(&Op::ReadHolding {
            addr: 0x2e,
            count: 5,
        })
        .expect("pdu");
        assert_eq!(encode(1, &pdu), b":0103002E0005C9\r\n".to_vec());
        let write = request_pdu(&Op::Write {
            addr: 0x14,
            values: vec![0x03e8],
        })
        .expect("pdu");
        assert_eq!(encode(1, &write), b":0106001403E8FA\r\n".to_vec());
    }

    #[test]
    fn reads_an_answer_and_refuses_a_wrong_one() {
        let op = Op::ReadHolding { addr: 4, count: 1 };
        let request = request_pdu(&op).expect("pdu");
        let (unit, pdu) = decode(b">01030204F402\r\n").expect("frame");
        assert_eq!(unit, 1);
        assert_eq!(answer(&op, &request, &pdu), Ok(Ok(vec![0x04f4])));
        // A wrong LRC, a wrong length, an exception.
        assert!(decode(b":01030204F403\r\n").is_err());
        assert!(decode(b":0103020Z\r\n").is_err());
        let (_, short) = decode(b":01030104F7\r\n").expect("frame");
        assert!(answer(&op, &request, &short).is_err());
        let (_, exception) = decode(b":0183027A\r\n").expect("frame");
        assert_eq!(answer(&op, &request, &exception), Ok(Err(2)));
    }
}
