//! Checks a definition file: each problem is an error naming the file and
//! the field, so the daemon can refuse to start and say what to fix.

use super::format::{self, KindName, ValueType};
use super::{Definition, DefinitionError, NamedRegister, Readings, Value, Wallbox};
use crate::drivers::map::MAX_READ_COUNT;
use crate::drivers::{Read, Table};

/// Reads and checks the definition in `text`; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Definition, DefinitionError> {
    let fail = |field: &str, message: String| DefinitionError {
        file: file.to_string(),
        field: field.to_string(),
        message,
    };
    let de = toml::Deserializer::parse(text).map_err(|e| fail("", message_of(&e, text)))?;
    let raw: format::File = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        fail(&field, message_of(e.inner(), text))
    })?;
    Checker {
        file,
        raw: &raw,
        registers: Vec::new(),
    }
    .check()
    .map_err(|(field, message)| fail(&field, message))
}

/// The parser's message on one line, with the line it is about.
fn message_of(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |t| t.lines().count().max(1));
            format!("{message} (line {line})")
        }
        None => message,
    }
}

pub(crate) type Problem = (String, String);

/// The name a type key is made of (lower-case letters, digits and `_`),
/// and the title, maker, device and source, none empty.
pub(crate) fn check_identity(name: &str, texts: [&String; 4]) -> Result<(), Problem> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err((
            "name".into(),
            format!("{name:?} is not lower-case letters, digits and _"),
        ));
    }
    for (field, text) in ["title", "maker", "device", "source"]
        .into_iter()
        .zip(texts)
    {
        if text.trim().is_empty() {
            return Err((field.into(), "is empty".into()));
        }
    }
    Ok(())
}

struct Checker<'a> {
    file: &'a str,
    raw: &'a format::File,
    registers: Vec<NamedRegister>,
}

impl Checker<'_> {
    fn check(mut self) -> Result<Definition, Problem> {
        let raw = self.raw;
        check_identity(
            &raw.name,
            [&raw.title, &raw.maker, &raw.device, &raw.source],
        )?;
        if !(4..=MAX_READ_COUNT).contains(&raw.max_read) {
            return Err((
                "max_read".into(),
                format!("{} is not 4 to {MAX_READ_COUNT}", raw.max_read),
            ));
        }
        table_of(raw.function).map_err(|m| ("function".to_string(), m))?;
        let r = &raw.readings;
        let readings = Readings {
            power: self.optional("readings.power", r.power.as_ref(), "W")?,
            export_power: self.optional("readings.export_power", r.export_power.as_ref(), "W")?,
            current: self.phases("readings.current", r.current.as_deref(), "A")?,
            voltage: self.phases("readings.voltage", r.voltage.as_deref(), "V")?,
            phase_power: self.phases("readings.phase_power", r.phase_power.as_deref(), "W")?,
            current_unsigned: r.current_unsigned,
            import_energy: self.optional(
                "readings.import_energy",
                r.import_energy.as_ref(),
                "kWh",
            )?,
            export_energy: self.optional(
                "readings.export_energy",
                r.export_energy.as_ref(),
                "kWh",
            )?,
            state: self.optional("readings.state", r.state.as_ref(), "state")?,
            cable_current: self.optional(
                "readings.cable_current",
                r.cable_current.as_ref(),
                "A",
            )?,
        };
        if !readings.phase_power.is_empty() && readings.phase_power.len() != readings.current.len()
        {
            return Err((
                "readings.phase_power".into(),
                "needs one entry per entry of readings.current".into(),
            ));
        }
        if readings.export_power.is_some() && readings.power.is_none() {
            return Err((
                "readings.export_power".into(),
                "needs readings.power, from which it is taken".into(),
            ));
        }
        let (prefix, wallbox) = match raw.kind {
            KindName::Meter => {
                if readings.power.is_none() {
                    return Err((
                        "readings.power".into(),
                        "missing: a meter needs its power".into(),
                    ));
                }
                if raw.wallbox.is_some() {
                    return Err(("wallbox".into(), "a meter has no wallbox section".into()));
                }
                ("meter_", None)
            }
            KindName::Wallbox => {
                if readings.state.is_none() {
                    return Err((
                        "readings.state".into(),
                        "missing: a wallbox needs its state".into(),
                    ));
                }
                let Some(w) = &raw.wallbox else {
                    return Err((
                        "wallbox".into(),
                        "missing: a wallbox needs its current_limit and states".into(),
                    ));
                };
                ("evse_", Some(self.wallbox(w)?))
            }
        };
        for (i, extra) in raw.registers.iter().enumerate() {
            let field = format!("register[{}]", i + 1);
            let table = table_of(extra.function.unwrap_or(raw.function))
                .map_err(|m| (format!("{field}.function"), m))?;
            self.add(NamedRegister {
                name: extra.name.clone(),
                table,
                addr: extra.addr,
                width: extra.ty.width(),
                writable: false,
                unit: format!("{} {}", extra.ty.name(), extra.unit)
                    .trim()
                    .to_string(),
            })
            .map_err(|m| (field, m))?;
        }
        let mut registers = std::mem::take(&mut self.registers);
        registers.sort_by_key(|r| r.addr);
        let reads = reads_of(&registers, raw.max_read);
        Ok(Definition {
            key: format!("{prefix}{}", raw.name),
            file: self.file.to_string(),
            kind: raw.kind,
            title: raw.title.trim().to_string(),
            maker: raw.maker.trim().to_string(),
            device: raw.device.trim().to_string(),
            source: raw.source.trim().to_string(),
            readings,
            wallbox,
            registers,
            reads,
            max_read: raw.max_read,
        })
    }

    fn wallbox(&mut self, w: &format::Wallbox) -> Result<Wallbox, Problem> {
        let mut states = Vec::new();
        for (raw_value, &state) in &w.states {
            let field = format!("wallbox.states.{raw_value}");
            let value: i64 = raw_value
                .parse()
                .map_err(|_| (field.clone(), "the key is not a number".to_string()))?;
            if !(1..=5).contains(&state) {
                return Err((field, format!("{state} is not a state 1 to 5")));
            }
            states.push((value, state));
        }
        if states.is_empty() {
            return Err(("wallbox.states".into(), "is empty".into()));
        }
        let limit = self.value("wallbox.current_limit", &w.current_limit, "A", true)?;
        if limit.table != Table::Holding
            || !matches!(limit.ty, ValueType::U16 | ValueType::I16 | ValueType::F32)
        {
            return Err((
                "wallbox.current_limit".into(),
                "must be a holding register (function 3) of type u16, i16 or f32".into(),
            ));
        }
        let amps = |field: &str, a: f64| -> Result<i64, Problem> {
            if a.is_finite() && (0.0..=1000.0).contains(&a) {
                Ok((a * 1000.0).round() as i64)
            } else {
                Err((field.into(), format!("{a} A is not 0 to 1000 A")))
            }
        };
        let min_ma = amps("wallbox.min_current", w.min_current)?;
        let max_ma = amps("wallbox.max_current", w.max_current)?;
        if min_ma == 0 || min_ma > max_ma {
            return Err((
                "wallbox.max_current".into(),
                "must be at least min_current, which must be above 0".into(),
            ));
        }
        let enable = match &w.enable {
            Some(e) => {
                if e.on == e.off {
                    return Err(("wallbox.enable.on".into(), "equals off".into()));
                }
                self.add(NamedRegister {
                    name: "wallbox.enable".into(),
                    table: Table::Holding,
                    addr: e.addr,
                    width: 1,
                    writable: true,
                    unit: format!("{} on, {} off", e.on, e.off),
                })
                .map_err(|m| ("wallbox.enable".to_string(), m))?;
                Some((e.addr, e.on, e.off))
            }
            None => None,
        };
        let fail_safe_duration = match &w.fail_safe_duration {
            Some(v) => Some(self.value("wallbox.fail_safe_duration", v, "s", true)?),
            None => None,
        };
        let fail_safe_current = match &w.fail_safe_current {
            Some(v) => Some(self.value("wallbox.fail_safe_current", v, "A", true)?),
            None => None,
        };
        for (field, value) in [
            ("wallbox.fail_safe_duration", &fail_safe_duration),
            ("wallbox.fail_safe_current", &fail_safe_current),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.table != Table::Holding || v.ty.width() != 1)
            {
                return Err((
                    field.into(),
                    "must be one holding register (function 3, u16 or i16)".into(),
                ));
            }
        }
        if fail_safe_duration.is_some() != fail_safe_current.is_some() {
            return Err((
                "wallbox.fail_safe_current".into(),
                "fail_safe_duration and fail_safe_current come together".into(),
            ));
        }
        let rewrite_every = match w.rewrite_every_s {
            Some(s @ 1..=3600) => Some(std::time::Duration::from_secs(u64::from(s))),
            Some(s) => {
                return Err((
                    "wallbox.rewrite_every_s".into(),
                    format!("{s} is not 1 to 3600 s"),
                ))
            }
            None => None,
        };
        Ok(Wallbox {
            rewrite_every,
            states,
            current_limit: limit,
            min_ma,
            max_ma,
            enable,
            fail_safe_duration,
            fail_safe_current,
        })
    }

    fn optional(
        &mut self,
        field: &str,
        value: Option<&format::Value>,
        unit: &str,
    ) -> Result<Option<Value>, Problem> {
        value.map(|v| self.value(field, v, unit, false)).transpose()
    }

    fn phases(
        &mut self,
        field: &str,
        values: Option<&[format::Value]>,
        unit: &str,
    ) -> Result<Vec<Value>, Problem> {
        let values = values.unwrap_or_default();
        if !matches!(values.len(), 0 | 1 | 3) {
            return Err((
                field.into(),
                format!("{} entries: one (L1) or three (L1, L2, L3)", values.len()),
            ));
        }
        values
            .iter()
            .enumerate()
            .map(|(i, v)| self.value(&format!("{field}[{i}]"), v, unit, false))
            .collect()
    }

    /// Checks one value and adds its register to the map.
    fn value(
        &mut self,
        field: &str,
        v: &format::Value,
        unit: &str,
        writable: bool,
    ) -> Result<Value, Problem> {
        let table = table_of(v.function.unwrap_or(self.raw.function))
            .map_err(|m| (format!("{field}.function"), m))?;
        if let Some(words) = v.words {
            if words != v.ty.width() {
                return Err((
                    format!("{field}.words"),
                    format!(
                        "{} takes {} registers, not {words}",
                        v.ty.name(),
                        v.ty.width()
                    ),
                ));
            }
        }
        if let Some(byte) = v.byte {
            let name = format!("{byte:?}").to_ascii_lowercase();
            if v.ty != ValueType::U16 {
                return Err((
                    format!("{field}.byte"),
                    format!("a {name} byte is one of a u16, not of a {}", v.ty.name()),
                ));
            }
            if writable {
                return Err((
                    format!("{field}.byte"),
                    "a value written to the device takes its whole register".into(),
                ));
            }
        }
        if !v.scale.is_finite() || v.scale == 0.0 {
            return Err((
                format!("{field}.scale"),
                format!("{} is not a finite number other than 0", v.scale),
            ));
        }
        if u32::from(v.addr) + u32::from(v.ty.width()) > 0x1_0000 {
            return Err((
                format!("{field}.addr"),
                format!("{} {} runs past register 65535", v.addr, v.ty.name()),
            ));
        }
        let value = Value {
            field: field.to_string(),
            table,
            addr: v.addr,
            ty: v.ty,
            order: v.word_order.unwrap_or(self.raw.word_order),
            scale: if v.invert { -v.scale } else { v.scale },
            byte: v.byte,
        };
        self.add(NamedRegister {
            name: field.to_string(),
            table,
            addr: v.addr,
            width: v.ty.width(),
            writable,
            unit: match v.byte {
                Some(byte) => format!(
                    "{} byte of u16 x {} {unit}",
                    format!("{byte:?}").to_ascii_lowercase(),
                    v.scale
                ),
                None => format!("{} x {} {unit}", v.ty.name(), v.scale),
            },
        })
        .map_err(|m| (field.to_string(), m))?;
        Ok(value)
    }

    /// Adds a register; one that overlaps another is an error naming it.
    fn add(&mut self, reg: NamedRegister) -> Result<(), String> {
        let end = u32::from(reg.addr) + u32::from(reg.width);
        if let Some(other) = self.registers.iter().find(|o| {
            u32::from(o.addr) < end && u32::from(reg.addr) < u32::from(o.addr) + u32::from(o.width)
        }) {
            return Err(format!(
                "registers {}..{} overlap {} ({}..{})",
                reg.addr,
                end - 1,
                other.name,
                other.addr,
                u32::from(other.addr) + u32::from(other.width) - 1
            ));
        }
        self.registers.push(reg);
        Ok(())
    }
}

fn table_of(function: u8) -> Result<Table, String> {
    match function {
        3 => Ok(Table::Holding),
        4 => Ok(Table::Input),
        other => Err(format!("{other} is not 3 (holding) or 4 (input)")),
    }
}

/// The reads of one poll: adjacent registers of one table share a request,
/// of at most `max_read` registers.
fn reads_of(registers: &[NamedRegister], max_read: u16) -> Vec<Read> {
    let mut reads: Vec<Read> = Vec::new();
    for reg in registers {
        match reads.last_mut() {
            Some(r)
                if r.table == reg.table
                    && u32::from(r.addr) + u32::from(r.count) == u32::from(reg.addr)
                    && r.count + reg.width <= max_read =>
            {
                r.count += reg.width;
            }
            _ => reads.push(Read {
                table: reg.table,
                addr: reg.addr,
                count: reg.width,
            }),
        }
    }
    reads
}

#[cfg(test)]
mod tests;
