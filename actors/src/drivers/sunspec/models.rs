//! The SunSpec models a device is read by, and their points: where each
//! lies from the model's header (offsets as in the SunSpec model
//! definitions that PyPI `pysunspec2` ships), how it scales, and which raw
//! value means "not implemented".
//!
//! - meters 201 (single phase), 202 (split phase), 203 (wye), 204 (delta):
//!   integers with scale factors; 211–214 the same as float32;
//! - inverters 101 (single phase), 102 (split phase), 103 (three phase):
//!   integers with scale factors; 111–113 the same as float32;
//! - storage 124 (a battery's state of charge and status), read beside
//!   either where the chain has it.

use super::chain::{Common, Model};
use crate::drivers::definition::{in_range, signed_ma};
use crate::drivers::registry::Layout;
use crate::drivers::{model_text, DecodeError, MeterReading, Read, Reading, Storage, NOMINAL_V};

/// Which model a device type reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A meter model (201–204, 211–214): power signed, negative = export.
    Meter,
    /// An inverter model (101–103, 111–113): its AC output, positive while
    /// it produces.
    Inverter,
}

/// How a model's points are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// 16-bit integers, 32-bit accumulators, and scale factors.
    Scaled,
    /// IEEE-754 float32, NaN where not implemented.
    Float,
}

/// Where a model's points are, registers from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Points {
    encoding: Encoding,
    /// Whether its phase currents are unsigned (inverters).
    unsigned: bool,
    current: [u16; 3],
    current_sf: u16,
    voltage: [u16; 3],
    voltage_sf: u16,
    power: u16,
    power_sf: u16,
    /// Per-phase power, for the sign of each current (meters).
    phase_power: Option<[u16; 3]>,
    /// The energy counted in the power's positive direction, and the other.
    energy: u16,
    energy_other: Option<u16>,
    energy_sf: u16,
    /// Registers read from the header on: up to the last point used.
    read_len: u16,
}

const METER_SCALED: Points = Points {
    encoding: Encoding::Scaled,
    unsigned: false,
    current: [3, 4, 5],
    current_sf: 6,
    voltage: [8, 9, 10],
    voltage_sf: 15,
    power: 18,
    power_sf: 22,
    phase_power: Some([19, 20, 21]),
    // TotWhImp, TotWhExp.
    energy: 46,
    energy_other: Some(38),
    energy_sf: 54,
    read_len: 55,
};

const METER_FLOAT: Points = Points {
    encoding: Encoding::Float,
    unsigned: false,
    current: [4, 6, 8],
    current_sf: 0,
    voltage: [12, 14, 16],
    voltage_sf: 0,
    power: 28,
    power_sf: 0,
    phase_power: Some([30, 32, 34]),
    energy: 68,
    energy_other: Some(60),
    energy_sf: 0,
    read_len: 70,
};

const INVERTER_SCALED: Points = Points {
    encoding: Encoding::Scaled,
    unsigned: true,
    current: [3, 4, 5],
    current_sf: 6,
    voltage: [10, 11, 12],
    voltage_sf: 13,
    power: 14,
    power_sf: 15,
    phase_power: None,
    // WH: the energy produced.
    energy: 24,
    energy_other: None,
    energy_sf: 26,
    read_len: 27,
};

const INVERTER_FLOAT: Points = Points {
    encoding: Encoding::Float,
    unsigned: true,
    current: [4, 6, 8],
    current_sf: 0,
    voltage: [16, 18, 20],
    voltage_sf: 0,
    power: 22,
    power_sf: 0,
    phase_power: None,
    energy: 32,
    energy_other: None,
    energy_sf: 0,
    read_len: 34,
};

/// The storage model: a battery's settings and state.
const STORAGE: u16 = 124;
/// Model 124's registers from its header on (all of them): its points,
/// then their scale factors.
const STORAGE_LEN: u16 = 26;

/// `ChaSt`, the battery's state, by its value.
pub(crate) const STORAGE_STATES: [&str; 7] = [
    "off",
    "empty",
    "discharging",
    "charging",
    "full",
    "holding",
    "testing",
];

/// The points of model `id` if a device of `want` reads it.
fn points(want: Want, id: u16) -> Option<Points> {
    match (want, id) {
        (Want::Meter, 201..=204) => Some(METER_SCALED),
        (Want::Meter, 211..=214) => Some(METER_FLOAT),
        (Want::Inverter, 101..=103) => Some(INVERTER_SCALED),
        (Want::Inverter, 111..=113) => Some(INVERTER_FLOAT),
        _ => None,
    }
}

/// The model a device reads, found in its chain: every poll reads it.
#[derive(Debug)]
pub struct Found {
    id: u16,
    points: Points,
    /// The model's read, then the storage model's where the chain has one.
    reads: Vec<Read>,
    model: String,
}

impl Found {
    /// The first model of the chain that `want` reads; models it does not
    /// know are skipped.
    pub fn new(want: Want, models: &[Model], common: Common) -> Result<Found, DecodeError> {
        let found = models
            .iter()
            .find_map(|m| points(want, m.id).map(|p| (m, p)));
        let Some((model, points)) = found else {
            let ids: Vec<String> = models.iter().map(|m| m.id.to_string()).collect();
            let wanted = match want {
                Want::Meter => "meter model (201-204, 211-214)",
                Want::Inverter => "inverter model (101-103, 111-113)",
            };
            return Err(DecodeError::Invalid(format!(
                "SunSpec: no {wanted} in the chain (models {})",
                ids.join(", ")
            )));
        };
        if model.len + 2 < points.read_len {
            return Err(DecodeError::Invalid(format!(
                "SunSpec: model {} at {} is {} registers long, too short for its points",
                model.id, model.addr, model.len
            )));
        }
        let mut reads = vec![Read::holding(model.addr, points.read_len)];
        if let Some(storage) = models.iter().find(|m| m.id == STORAGE) {
            if storage.len + 2 < STORAGE_LEN {
                return Err(DecodeError::Invalid(format!(
                    "SunSpec: storage model {STORAGE} at {} is {} registers long, not {}",
                    storage.addr,
                    storage.len,
                    STORAGE_LEN - 2
                )));
            }
            reads.push(Read::holding(storage.addr, STORAGE_LEN));
        }
        Ok(Found {
            id: model.id,
            points,
            reads,
            model: model_text(
                &common.maker,
                &common.model,
                &format!("SunSpec {}", model.id),
                &common.version,
                &common.serial,
            ),
        })
    }
}

/// The points of one answer.
struct Block<'a> {
    id: u16,
    words: &'a [u16],
    encoding: Encoding,
}

impl Block<'_> {
    fn word(&self, at: u16) -> Result<u16, DecodeError> {
        self.words.get(usize::from(at)).copied().ok_or_else(|| {
            DecodeError::Invalid(format!("SunSpec: model {}: register {at} missing", self.id))
        })
    }

    /// A scale factor: 10 to the power of -10 to 10; `None` where not
    /// implemented.
    fn scale(&self, at: u16, name: &str) -> Result<Option<f64>, DecodeError> {
        let raw = self.word(at)?;
        if raw == 0x8000 {
            return Ok(None);
        }
        let sf = raw as i16;
        if !(-10..=10).contains(&sf) {
            return Err(DecodeError::Invalid(format!(
                "SunSpec: model {}: scale factor {name} is {sf}, not -10 to 10",
                self.id
            )));
        }
        Ok(Some(10f64.powi(i32::from(sf))))
    }

    /// A 16-bit point (signed or not) times its scale factor; `None` where
    /// the point or its scale factor is not implemented.
    fn scaled(
        &self,
        at: u16,
        signed: bool,
        scale: Option<f64>,
        name: &str,
    ) -> Result<Option<f64>, DecodeError> {
        if self.encoding == Encoding::Float {
            let bits = u32::from(self.word(at)?) << 16 | u32::from(self.word(at + 1)?);
            let value = f64::from(f32::from_bits(bits));
            return if value.is_nan() {
                Ok(None)
            } else {
                in_range(name, value, 1.0).map(Some)
            };
        }
        let raw = self.word(at)?;
        let value = match (signed, raw) {
            (true, 0x8000) | (false, 0xffff) => return Ok(None),
            (true, raw) => f64::from(raw as i16),
            (false, raw) => f64::from(raw),
        };
        scale.map(|s| in_range(name, value, s)).transpose()
    }

    /// An energy point: a 32-bit accumulator (0: not accumulated) times its
    /// scale factor, or a float.
    fn energy(&self, at: u16, scale: Option<f64>, name: &str) -> Result<Option<f64>, DecodeError> {
        if self.encoding == Encoding::Float {
            return self.scaled(at, false, None, name);
        }
        let raw = u32::from(self.word(at)?) << 16 | u32::from(self.word(at + 1)?);
        if raw == 0 {
            return Ok(None);
        }
        scale.map(|s| in_range(name, f64::from(raw), s)).transpose()
    }
}

/// A value in its unit × `factor`, rounded (mA from A).
#[allow(clippy::cast_possible_truncation)]
fn int(value: f64, factor: f64) -> i64 {
    // Bounded by `in_range`.
    (value * factor).round() as i64
}

impl Found {
    fn meter(&self, words: &[u16]) -> Result<MeterReading, DecodeError> {
        let p = &self.points;
        let b = Block {
            id: self.id,
            words,
            encoding: p.encoding,
        };
        let sf = |at: u16, name: &str| match p.encoding {
            Encoding::Float => Ok(Some(1.0)),
            Encoding::Scaled => b.scale(at, name),
        };
        let (a_sf, v_sf, w_sf) = (
            sf(p.current_sf, "A_SF")?,
            sf(p.voltage_sf, "V_SF")?,
            sf(p.power_sf, "W_SF")?,
        );
        // Meters' points are signed; inverters' currents and voltages not.
        let signed_points = !p.unsigned;
        let power = b.scaled(p.power, true, w_sf, "W")?.ok_or_else(|| {
            DecodeError::Invalid(format!("SunSpec: model {}: W is not implemented", self.id))
        })?;
        let power_w = int(power, 1.0);
        let mut current_ma = [0; 3];
        let mut per_phase = false;
        for i in 0..3 {
            let Some(amps) = b.scaled(p.current[i], signed_points, a_sf, "current")? else {
                continue;
            };
            per_phase = true;
            let phase_w = match p.phase_power {
                Some(at) => b.scaled(at[i], true, w_sf, "phase power")?,
                None => None,
            };
            current_ma[i] = signed_ma(int(amps, 1000.0), phase_w, true, power_w);
        }
        if !per_phase {
            // mA per phase = W * 1000 / (3 * 230 V), signed like the power.
            current_ma = [power_w.saturating_mul(1000) / (3 * NOMINAL_V); 3];
        }
        let mut voltage_v = [NOMINAL_V; 3];
        for (volts, at) in voltage_v.iter_mut().zip(p.voltage) {
            if let Some(v) = b.scaled(at, signed_points, v_sf, "voltage")? {
                *volts = int(v, 1.0);
            }
        }
        let e_sf = sf(p.energy_sf, "TotWh_SF")?;
        let energy = b
            .energy(p.energy, e_sf, "energy")?
            .map_or(0, |wh| int(wh, 1.0));
        let other = match p.energy_other {
            Some(at) => b.energy(at, e_sf, "energy")?.map_or(0, |wh| int(wh, 1.0)),
            None => 0,
        };
        Ok(MeterReading {
            current_ma,
            voltage_v,
            power_w,
            import_wh: energy,
            export_wh: other,
            per_phase,
            storage: None,
        })
    }
}

/// A battery from the words of model 124 (from its header on).
fn storage(words: &[u16]) -> Result<Storage, DecodeError> {
    let b = Block {
        id: STORAGE,
        words,
        encoding: Encoding::Scaled,
    };
    // An unsigned point times its scale factor, rounded; `None` where not
    // implemented.
    let point = |at: u16, sf_at: u16, name: &str| -> Result<Option<i64>, DecodeError> {
        let scale = b.scale(sf_at, &format!("{name}_SF"))?;
        Ok(b.scaled(at, false, scale, name)?.map(|v| int(v, 1.0)))
    };
    let soc = point(8, 22, "ChaState")?;
    if let Some(soc) = soc.filter(|soc| !(0..=100).contains(soc)) {
        return Err(DecodeError::Invalid(format!(
            "SunSpec: model {STORAGE}: ChaState is {soc} %, not 0 to 100"
        )));
    }
    let state = match b.word(11)? {
        0xffff => None,
        raw => Some(
            STORAGE_STATES
                .get(usize::from(raw).wrapping_sub(1))
                .copied()
                .ok_or_else(|| {
                    DecodeError::Invalid(format!(
                        "SunSpec: model {STORAGE}: ChaSt is {raw}, not 1 to 7"
                    ))
                })?,
        ),
    };
    Ok(Storage {
        soc,
        state,
        max_charge_w: point(2, 18, "WChaMax")?,
        voltage: point(10, 24, "InBatV")?,
        available_ah: point(9, 23, "StorAval")?,
    })
}

impl Layout for Found {
    fn reads(&self) -> &[Read] {
        &self.reads
    }

    fn decode(&self, blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        let answered = blocks.len() == self.reads.len()
            && self
                .reads
                .iter()
                .zip(blocks)
                .all(|(r, b)| b.len() == usize::from(r.count));
        if !answered {
            let counts: Vec<String> = self.reads.iter().map(|r| r.count.to_string()).collect();
            return Err(DecodeError::Invalid(format!(
                "SunSpec: model {}: expected blocks of {} registers",
                self.id,
                counts.join(" and ")
            )));
        }
        for (block, want) in blocks.iter().zip([self.id, STORAGE]) {
            let id = block.first().copied().unwrap_or_default();
            if id != want {
                return Err(DecodeError::Invalid(format!(
                    "SunSpec: model {want} is now model {id}: the chain changed"
                )));
            }
        }
        let mut meter = self.meter(&blocks[0])?;
        meter.storage = blocks.get(1).map(|words| storage(words)).transpose()?;
        Ok(Reading::Meter(meter))
    }

    fn model(&self) -> String {
        self.model.clone()
    }
}
