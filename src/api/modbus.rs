//! `cmd=modbus`: Modbus holding registers of a configured device over HTTP.

use actix::Addr;
use actors::codec::{decode, encode_int, RegType, RegValue, RegisterRef, Suffix};
use actors::devices::{Device, ReadRegisters, WriteRegisters};
use actors::drivers::map::{RegisterMap, MAX_READ_COUNT};
use actors::drivers::DeviceType;
use serde_json::{Map, Value};

use super::auth::Credentials;
use super::params::parse_whole;
use super::{admin, ask, ApiError, AppState, Caller, Params};

/// Most registers one FC16 write may carry.
const MAX_WRITE_COUNT: usize = 123;

/// What a `cmd=modbus` request asks for, checked against the device's map.
#[derive(Debug, PartialEq, Eq)]
pub enum ModbusRequest {
    /// `count` values of type `ty` from `addr`; `as_array` when `count=` was given.
    Read {
        addr: u16,
        ty: RegType,
        count: u16,
        as_array: bool,
    },
    /// Every register of the map.
    ReadAll,
    Write {
        addr: u16,
        words: Vec<u16>,
    },
}

impl ModbusRequest {
    /// Whether it reads a register whose value is a credential (a Power
    /// Brain's last card, 8096): only the admin may.
    pub fn reads_secret(&self, dev_type: DeviceType) -> bool {
        let secrets = dev_type.modbus().map_or(&[][..], |m| m.secret);
        secrets
            .iter()
            .any(|secret| self.reads_span(secret.addr, secret.count))
    }

    /// Whether it reads any of `count` registers from `addr`.
    fn reads_span(&self, addr: u16, count: u16) -> bool {
        let span = u32::from(addr)..u32::from(addr) + u32::from(count);
        match self {
            ModbusRequest::ReadAll => true,
            ModbusRequest::Read {
                addr, ty, count, ..
            } => {
                let start = u32::from(*addr);
                let end = start + u32::from(ty.width()) * u32::from(*count);
                start < span.end && span.start < end
            }
            ModbusRequest::Write { .. } => false,
        }
    }

    /// For a write, what it writes, in words for the log.
    pub fn written(&self, dev_id: &str) -> Option<String> {
        match self {
            ModbusRequest::Write { addr, words } => {
                Some(format!("{dev_id}: register {addr} written with {words:?}"))
            }
            ModbusRequest::Read { .. } | ModbusRequest::ReadAll => None,
        }
    }

    pub fn parse(params: &Params, map: &RegisterMap) -> Result<Self, ApiError> {
        match (params.get("read"), params.get("write")) {
            (Some(_), Some(_)) => Err(ApiError::BadParam {
                name: "read",
                reason: "give read or write, not both".into(),
            }),
            (None, None) => Err(ApiError::MissingParam("read or write")),
            (Some(read), None) => parse_read(read, params, map),
            (None, Some(write)) => parse_write(write, params, map),
        }
    }
}

fn bad(name: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::BadParam {
        name,
        reason: reason.into(),
    }
}

fn parse_count(params: &Params) -> Result<Option<u16>, ApiError> {
    let count = params.int("count", 1, i64::from(MAX_READ_COUNT))?;
    Ok(count.and_then(|n| u16::try_from(n).ok()))
}

fn parse_read(read: &str, params: &Params, map: &RegisterMap) -> Result<ModbusRequest, ApiError> {
    let count = parse_count(params)?;
    if read.trim().eq_ignore_ascii_case("all") {
        if count.is_some() {
            return Err(bad("count", "does not go with read=all"));
        }
        return Ok(ModbusRequest::ReadAll);
    }
    let reg = RegisterRef::parse(read).map_err(|e| bad("read", e.to_string()))?;
    let (ty, values, as_array) = match reg.suffix.fixed_type() {
        Some(ty) => (ty, count.unwrap_or(1), count.is_some()),
        // A string's length is the declared one, or `count` registers.
        None => match (map.get(reg.addr).map(|r| r.ty), count) {
            (Some(ty @ RegType::Str(_)), None) => (ty, 1, false),
            (_, Some(len)) => (RegType::Str(len), 1, false),
            (_, None) => {
                return Err(bad(
                    "read",
                    format!(
                        "{} is not a string register of this device; give its length as count",
                        reg.addr
                    ),
                ))
            }
        },
    };
    let total = u32::from(ty.width()) * u32::from(values);
    if total > u32::from(MAX_READ_COUNT) {
        return Err(bad(
            "count",
            format!(
                "{values} values of {} registers exceed {MAX_READ_COUNT} registers",
                ty.width()
            ),
        ));
    }
    check_span(reg.addr, total, "read")?;
    Ok(ModbusRequest::Read {
        addr: reg.addr,
        ty,
        count: values,
        as_array,
    })
}

fn check_span(addr: u16, registers: u32, name: &'static str) -> Result<(), ApiError> {
    if u32::from(addr) + registers > 0x1_0000 {
        return Err(bad(
            name,
            format!("{registers} registers from {addr} run past 65535"),
        ));
    }
    Ok(())
}

fn parse_write(write: &str, params: &Params, map: &RegisterMap) -> Result<ModbusRequest, ApiError> {
    let reg = RegisterRef::parse(write).map_err(|e| bad("write", e.to_string()))?;
    if params.get("count").is_some() {
        return Err(bad("count", "does not go with write"));
    }
    let words = match (params.get("value"), params.get("values")) {
        (Some(_), Some(_)) => return Err(bad("values", "give value or values, not both")),
        (None, None) => return Err(ApiError::MissingParam("value or values")),
        (Some(value), None) => encode_value(reg, value, map)?,
        (None, Some(values)) => encode_values(reg, values)?,
    };
    check_span(
        reg.addr,
        u32::try_from(words.len()).unwrap_or(u32::MAX),
        "write",
    )?;
    for offset in 0..words.len() {
        let Some(addr) = u16::try_from(offset)
            .ok()
            .and_then(|o| reg.addr.checked_add(o))
        else {
            break;
        };
        if let Some(r) = map.covering(addr).filter(|r| !r.access.writable()) {
            return Err(ApiError::ReadOnly {
                addr: r.addr,
                name: r.name,
            });
        }
    }
    Ok(ModbusRequest::Write {
        addr: reg.addr,
        words,
    })
}

/// One value, typed by the suffix, which must match the declared register.
fn encode_value(reg: RegisterRef, value: &str, map: &RegisterMap) -> Result<Vec<u16>, ApiError> {
    let ty = match reg.suffix {
        Suffix::S => return Err(bad("write", "string registers cannot be written")),
        other => other.fixed_type().unwrap_or(RegType::U16),
    };
    if let Some(declared) = map.covering(reg.addr) {
        if declared.addr != reg.addr
            || !declared.ty.matches(reg.suffix)
            || declared.ty.width() != ty.width()
        {
            return Err(ApiError::BadRegisterSize);
        }
    }
    let number =
        parse_whole(value).ok_or_else(|| bad("value", format!("'{value}' is not an integer")))?;
    // A register the map declares unsigned takes no negative values; one it
    // does not know may be signed.
    if number < 0 && map.get(reg.addr).is_some_and(|r| r.ty == RegType::U16) {
        return Err(bad(
            "value",
            format!("{number} does not fit an unsigned 16-bit register (0 to 65535)"),
        ));
    }
    encode_int(ty, number).map_err(|e| bad("value", e.to_string()))
}

/// `values=[7,230,230,230 ]`: consecutive 16-bit registers.
fn encode_values(reg: RegisterRef, values: &str) -> Result<Vec<u16>, ApiError> {
    if reg.suffix != Suffix::None {
        return Err(bad(
            "values",
            "writes 16-bit registers; drop the suffix from write",
        ));
    }
    let numbers: Vec<i128> = serde_json::from_str(values).map_err(|_| {
        bad(
            "values",
            format!("'{values}' is not an array of integers like [7,230]"),
        )
    })?;
    if numbers.is_empty() || numbers.len() > MAX_WRITE_COUNT {
        return Err(bad(
            "values",
            format!("needs 1 to {MAX_WRITE_COUNT} values"),
        ));
    }
    let mut words = Vec::with_capacity(numbers.len());
    for n in numbers {
        words.extend(encode_int(RegType::U16, n).map_err(|e| bad("values", e.to_string()))?);
    }
    Ok(words)
}

/// `cmd=modbus`: finds the device, checks the request (reading the last
/// card needs the admin password even where reads are open), runs it and
/// logs a write.
pub async fn command(
    state: &AppState,
    req: &Caller<'_>,
    params: &Params,
    credentials: Credentials,
) -> Result<Value, ApiError> {
    let plant = state.plant();
    let name = params.required("device")?;
    let device = plant
        .find(name)
        .ok_or_else(|| ApiError::UnknownDevice(name.to_string()))?;
    let addr = device.modbus().ok_or_else(|| ApiError::BadParam {
        name: "device",
        reason: format!(
            "{} is {} and has no registers",
            device.settings.dev_id,
            device.settings.dev_type.with_article()
        ),
    })?;
    let dev_type = device.settings.dev_type;
    let request = ModbusRequest::parse(params, dev_type.register_map())?;
    if request.reads_secret(dev_type) {
        // The last card read (8096) is a credential.
        admin::require_admin(state, req, credentials, "modbus read 8096").await?;
    }
    let wrote = request.written(&device.settings.dev_id);
    let answer = run(&device.settings.dev_id, dev_type, addr, request).await?;
    if let Some(wrote) = wrote {
        admin::log_change(req, "modbus", &[wrote]);
    }
    Ok(answer)
}

/// Runs a checked request on the device and shapes the answer as cFos does.
pub async fn run(
    dev_id: &str,
    dev_type: DeviceType,
    addr: &Addr<Device>,
    request: ModbusRequest,
) -> Result<Value, ApiError> {
    match request {
        ModbusRequest::Read {
            addr: start,
            ty,
            count,
            as_array,
        } => {
            let words = read(addr, dev_id, start, ty.width() * count).await?;
            let values = words
                .chunks(usize::from(ty.width()))
                .map(|chunk| decode(ty, chunk).map(to_json))
                .collect::<Result<Vec<Value>, _>>()
                .map_err(|e| device_answer_error(dev_id, &e.to_string()))?;
            Ok(if as_array {
                Value::Array(values)
            } else {
                values.into_iter().next().unwrap_or(Value::Null)
            })
        }
        ModbusRequest::ReadAll => {
            let mut all = Map::new();
            for block in dev_type.register_map().read_blocks() {
                let words = read(addr, dev_id, block.start, block.count).await?;
                for reg in &block.registers {
                    let at = usize::from(reg.addr - block.start);
                    let slice = words
                        .get(at..at + usize::from(reg.ty.width()))
                        .unwrap_or_default();
                    let value = decode(reg.ty, slice)
                        .map_err(|e| device_answer_error(dev_id, &e.to_string()))?;
                    all.insert(reg.key(), to_json(value));
                }
            }
            Ok(Value::Object(all))
        }
        ModbusRequest::Write { addr: start, words } => {
            ask(
                addr,
                WriteRegisters {
                    addr: start,
                    values: words,
                },
            )
            .await
            .map_err(|error| ApiError::Device {
                dev_id: dev_id.to_string(),
                error,
            })?;
            Ok(Value::from("ok"))
        }
    }
}

async fn read(
    addr: &Addr<Device>,
    dev_id: &str,
    start: u16,
    count: u16,
) -> Result<Vec<u16>, ApiError> {
    let words = ask(addr, ReadRegisters { addr: start, count })
        .await
        .map_err(|error| ApiError::Device {
            dev_id: dev_id.to_string(),
            error,
        })?;
    if words.len() != usize::from(count) {
        return Err(device_answer_error(
            dev_id,
            &format!("asked for {count} registers, got {}", words.len()),
        ));
    }
    Ok(words)
}

fn device_answer_error(dev_id: &str, reason: &str) -> ApiError {
    ApiError::Device {
        dev_id: dev_id.to_string(),
        error: actors::transport::DeviceError::Protocol(reason.to_string()),
    }
}

fn to_json(value: RegValue) -> Value {
    match value {
        RegValue::Int(v) => Value::from(v),
        RegValue::Text(s) => Value::from(s),
    }
}
