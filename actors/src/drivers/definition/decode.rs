//! A definition at work: the reading from a poll's answers, and the words
//! that tell a wallbox its current and its fail-safe.

use super::format::{Byte, KindName, ValueType, WordOrder};
use super::{Definition, Value, Wallbox};
use crate::drivers::registry::{DecodeData, WallboxControl, Write};
use crate::drivers::{
    Answers, DecodeError, EvseReading, EvseState, FailSafe, MeterReading, Read, Reading, NOMINAL_V,
};

/// `raw` × `scale`, the value in its unit; a NaN, an infinity or a value
/// beyond any device's range is an error naming `field`.
pub(crate) fn in_range(field: &str, raw: f64, scale: f64) -> Result<f64, DecodeError> {
    let value = raw * scale;
    // 1e12 of any unit (W, A, V, kWh) is no real device's reading.
    if value.is_finite() && value.abs() < 1e12 {
        Ok(value)
    } else {
        Err(DecodeError::Invalid(format!(
            "{field}: {raw} is not a valid value"
        )))
    }
}

/// A phase's current (mA) with its sign: that of the phase's power where
/// it is read, else that of the total power for a device that reports its
/// currents unsigned, else as read.
pub(crate) fn signed_ma(ma: i64, phase_w: Option<f64>, unsigned: bool, power_w: i64) -> i64 {
    match phase_w {
        Some(w) if w < 0.0 => -ma.abs(),
        Some(_) => ma.abs(),
        None if unsigned && power_w < 0 => -ma.abs(),
        None if unsigned => ma.abs(),
        None => ma,
    }
}

impl Value {
    /// The raw number the device holds.
    fn raw(&self, at: &Answers<'_>) -> Result<f64, DecodeError> {
        let words = at.words(self.addr, self.ty.width())?;
        let mut bits: u64 = 0;
        let mut push = |w: &u16| bits = (bits << 16) | u64::from(*w);
        match self.order {
            WordOrder::HighFirst => words.iter().for_each(&mut push),
            WordOrder::LowFirst => words.iter().rev().for_each(&mut push),
        }
        // Only a u16 has a byte (`check.rs`).
        match self.byte {
            Some(Byte::High) => bits = (bits >> 8) & 0xff,
            Some(Byte::Low) => bits &= 0xff,
            None => {}
        }
        // Each arm reinterprets the bits at the type's width.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let value = match self.ty {
            ValueType::U16 => bits as f64,
            ValueType::I16 => f64::from(bits as u16 as i16),
            ValueType::U32 => bits as f64,
            ValueType::I32 => f64::from(bits as u32 as i32),
            ValueType::U64 => bits as f64,
            ValueType::I64 => bits as i64 as f64,
            ValueType::F32 => f64::from(f32::from_bits(bits as u32)),
            ValueType::F64 => f64::from_bits(bits),
        };
        Ok(value)
    }

    /// The value in the reading's unit (raw × scale); a NaN, an infinity
    /// or a value beyond any device's range is an error naming the field.
    fn read(&self, at: &Answers<'_>) -> Result<f64, DecodeError> {
        let raw = self.raw(at)?;
        in_range(&self.field, raw, self.scale)
    }

    /// The value × `factor`, rounded to an integer (mA from A, Wh from kWh).
    fn int(&self, at: &Answers<'_>, factor: f64) -> Result<i64, DecodeError> {
        // Bounded by `read` to well inside i64.
        #[allow(clippy::cast_possible_truncation)]
        Ok((self.read(at)? * factor).round() as i64)
    }

    /// The raw words for `amount` in the value's unit, in the device's
    /// word order: an integer rounded down and kept within the register's
    /// type, or an f32.
    fn words(&self, amount: f64) -> Vec<u16> {
        let raw = amount / self.scale;
        if self.ty == ValueType::F32 {
            // A current in A (or s): well inside f32.
            #[allow(clippy::cast_possible_truncation)]
            let bits = (raw as f32).to_bits();
            let (high, low) = ((bits >> 16) as u16, bits as u16);
            return match self.order {
                WordOrder::HighFirst => vec![high, low],
                WordOrder::LowFirst => vec![low, high],
            };
        }
        // The nudge keeps 16.0 A / 0.1 at 160, not 159.99….
        let raw = (raw + 1e-6).floor();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let word = match self.ty {
            ValueType::I16 => raw.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16 as u16,
            _ => raw.clamp(0.0, f64::from(u16::MAX)) as u16,
        };
        vec![word]
    }

    /// The words for `amount`, each with its register.
    fn at(&self, amount: f64) -> Vec<(u16, u16)> {
        (self.addr..).zip(self.words(amount)).collect()
    }

    /// The amount in the value's unit that the words at its registers
    /// stand for (`word` gives one register's); `None` if one is unknown.
    fn amount(&self, word: &dyn Fn(u16) -> Option<u16>) -> Option<f64> {
        let raw = match self.ty {
            ValueType::F32 => {
                let (a, b) = (word(self.addr)?, word(self.addr.wrapping_add(1))?);
                let (high, low) = match self.order {
                    WordOrder::HighFirst => (a, b),
                    WordOrder::LowFirst => (b, a),
                };
                f64::from(f32::from_bits(u32::from(high) << 16 | u32::from(low)))
            }
            ValueType::I16 => f64::from(word(self.addr)? as i16),
            _ => f64::from(word(self.addr)?),
        };
        Some(raw * self.scale)
    }
}

impl Definition {
    fn meter(&self, at: &Answers<'_>) -> Result<Option<MeterReading>, DecodeError> {
        let r = &self.readings;
        // W, as read (a sum of phases is rounded once, at the end).
        let mut power = match &r.power {
            Some(power) => power.read(at)?,
            // A wallbox that gives the power of each phase only.
            None if !r.phase_power.is_empty() => {
                let mut sum = 0.0;
                for p in &r.phase_power {
                    sum += p.read(at)?;
                }
                sum
            }
            None => return Ok(None),
        };
        if let Some(export) = &r.export_power {
            power -= export.read(at)?;
        }
        // Each term is bounded by `read` to well inside i64.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let (power_w, spread_ma) = (
            power.round() as i64,
            (power * 1000.0 / (3 * NOMINAL_V) as f64).round() as i64,
        );
        let energy = |v: &Option<Value>| v.as_ref().map_or(Ok(0), |v| v.int(at, 1000.0));
        let mut voltage_v = [NOMINAL_V; 3];
        for (i, v) in r.voltage.iter().enumerate() {
            voltage_v[i] = v.int(at, 1.0)?;
        }
        let (current_ma, per_phase) = if r.current.is_empty() {
            // mA per phase = W * 1000 / (3 * 230 V), signed like the power.
            ([spread_ma; 3], false)
        } else {
            let mut current_ma = [0; 3];
            for (i, v) in r.current.iter().enumerate() {
                let ma = v.int(at, 1000.0)?;
                let phase_w = r.phase_power.get(i).map(|p| p.read(at)).transpose()?;
                current_ma[i] = signed_ma(ma, phase_w, r.current_unsigned, power_w);
            }
            (current_ma, true)
        };
        Ok(Some(MeterReading {
            current_ma,
            voltage_v,
            power_w,
            import_wh: energy(&r.import_energy)?,
            export_wh: energy(&r.export_energy)?,
            per_phase,
            storage: None,
        }))
    }

    fn wallbox_reading(&self, w: &Wallbox, at: &Answers<'_>) -> Result<EvseReading, DecodeError> {
        let r = &self.readings;
        let state = match &r.state {
            Some(v) => {
                let raw = v.int(at, 1.0)?;
                let code = w.states.iter().find(|(value, _)| *value == raw);
                match code.map(|(_, state)| *state) {
                    Some(1) => EvseState::Waiting,
                    Some(2) => EvseState::Present,
                    Some(3) => EvseState::Charging,
                    Some(4) => EvseState::Ventilation,
                    _ => EvseState::Error,
                }
            }
            None => EvseState::Error,
        };
        let offered_ma = w.current_limit.int(at, 1000.0)?;
        let charging_enabled = match w.enable {
            Some((addr, on, _)) => at.u16(addr)? == on,
            None => offered_ma > 0,
        };
        let fail_safe = match (&w.fail_safe_duration, &w.fail_safe_current) {
            (Some(duration), Some(current)) => FailSafe {
                duration_s: duration.int(at, 1.0)?,
                current_ma: current.int(at, 1000.0)?,
            },
            _ => FailSafe::default(),
        };
        Ok(EvseReading {
            state,
            charging_enabled,
            offered_ma,
            cable_ma: r
                .cable_current
                .as_ref()
                .map_or(Ok(0), |v| v.int(at, 1000.0))?,
            meter: self.meter(at)?,
            fail_safe,
            rfid: String::new(),
            inputs: 0,
            relay: None,
            transaction_start_wh: None,
        })
    }

    fn wallbox_section(&self) -> Option<&Wallbox> {
        self.wallbox.as_ref()
    }
}

impl DecodeData for Definition {
    fn decode(&self, reads: &[Read], blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        let at = Answers::new(reads, blocks)?;
        match (self.kind, &self.wallbox) {
            (KindName::Wallbox, Some(w)) => Ok(Reading::Evse(self.wallbox_reading(w, &at)?)),
            _ => match self.meter(&at)? {
                Some(m) => Ok(Reading::Meter(m)),
                None => Err(DecodeError::Invalid(format!("{}: no power", self.key))),
            },
        }
    }

    fn max_read(&self) -> u16 {
        self.max_read
    }
}

#[allow(clippy::cast_precision_loss)]
fn amps(ma: i64) -> f64 {
    ma as f64 / 1000.0
}

impl WallboxControl for Definition {
    /// Below the wallbox's least current it is disabled: by its enable
    /// register if it has one (the limit left at the least current), else
    /// by a limit of 0.
    fn words(&self, current_ma: i64, enable: bool) -> Vec<(u16, u16)> {
        let Some(w) = self.wallbox_section() else {
            return Vec::new();
        };
        let on = enable && current_ma >= w.min_ma;
        let limit = &w.current_limit;
        let clamped = amps(current_ma.clamp(w.min_ma, w.max_ma));
        match w.enable {
            Some((addr, on_word, off_word)) => {
                let mut words = limit.at(clamped);
                words.push((addr, if on { on_word } else { off_word }));
                words
            }
            None => limit.at(if on { clamped } else { 0.0 }),
        }
    }

    fn read_back(&self, reading: &EvseReading) -> Vec<(u16, u16)> {
        let Some(w) = self.wallbox_section() else {
            return Vec::new();
        };
        let mut words = w.current_limit.at(amps(reading.offered_ma));
        if let Some((addr, on, off)) = w.enable {
            words.push((addr, if reading.charging_enabled { on } else { off }));
        }
        words
    }

    fn written_ma(&self, written: &dyn Fn(u16) -> Option<u16>) -> Option<i64> {
        let w = self.wallbox_section()?;
        // A limit in A, checked at load: well inside i64.
        #[allow(clippy::cast_possible_truncation)]
        let ma = (w.current_limit.amount(written)? * 1000.0).round() as i64;
        match w.enable {
            Some((addr, on, _)) => Some(if written(addr)? == on { ma } else { 0 }),
            None => Some(ma),
        }
    }

    fn written_together(&self) -> Option<(u16, u16)> {
        let limit = &self.wallbox_section()?.current_limit;
        (limit.ty.width() > 1).then_some((limit.addr, limit.ty.width()))
    }

    fn rewrite_every(&self) -> Option<std::time::Duration> {
        self.wallbox_section()?.rewrite_every
    }

    fn has_fail_safe(&self) -> bool {
        self.wallbox_section()
            .is_some_and(|w| w.fail_safe_duration.is_some() && w.fail_safe_current.is_some())
    }

    fn fail_safe_words(&self, fail_safe: FailSafe) -> Vec<Write> {
        let Some(w) = self.wallbox_section() else {
            return Vec::new();
        };
        let (Some(duration), Some(current)) = (&w.fail_safe_duration, &w.fail_safe_current) else {
            return Vec::new();
        };
        #[allow(clippy::cast_precision_loss)]
        let seconds = fail_safe.duration_s.max(0) as f64;
        // 0 mA stops; any other current within what the wallbox takes.
        let ma = match fail_safe.current_ma {
            0 => 0,
            ma => ma.clamp(w.min_ma, w.max_ma),
        };
        vec![
            (duration.addr, duration.words(seconds)),
            (current.addr, current.words(amps(ma))),
        ]
    }
}
