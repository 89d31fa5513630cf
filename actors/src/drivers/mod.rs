//! Device drivers: what to read from each device type every cycle, how to
//! turn the words into readings in daemon units (mA, V, W, Wh), and what to
//! write to a wallbox. Pure code: the device actor does the I/O.
//!
//! Adding a driver: a file here, a variant in `devices::DeviceType`, and
//! its arms in the `match`es of `DeviceType` (kind.rs).

pub mod evse_powerbrain;
pub mod meter_orno_we516;
pub mod meter_powerbrain;
pub mod meter_sdm630;
pub mod meter_sdm72dm;
pub mod powerbrain;

/// Per-phase values, L1, L2, L3.
pub type PerPhase = [i64; 3];

/// Which Modbus table a read addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// FC03.
    Holding,
    /// FC04.
    Input,
}

/// One Modbus read a driver needs per poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub table: Table,
    pub addr: u16,
    pub count: u16,
}

impl Read {
    pub const fn holding(addr: u16, count: u16) -> Self {
        Read {
            table: Table::Holding,
            addr,
            count,
        }
    }

    pub const fn input(addr: u16, count: u16) -> Self {
        Read {
            table: Table::Input,
            addr,
            count,
        }
    }
}

/// What a meter measures, in daemon units, as the device reports it (the
/// `invert` setting and the meter's role are applied by the supervisor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterReading {
    /// mA per phase; negative where the phase exports.
    pub current_ma: PerPhase,
    /// V per phase.
    pub voltage_v: PerPhase,
    /// W, signed: negative = export.
    pub power_w: i64,
    /// Wh imported (consumed).
    pub import_wh: i64,
    /// Wh exported (fed in).
    pub export_wh: i64,
    /// Whether `current_ma` holds real per-phase values. A meter without
    /// them (S0 pulse meters, SDM72D-M V1) spreads its power over its phases.
    pub per_phase: bool,
}

/// The IEC 61851 state of a wallbox, numbered as `get_dev_info` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvseState {
    /// A: no vehicle.
    Waiting = 1,
    /// B: vehicle present, not charging.
    Present = 2,
    /// C: charging.
    Charging = 3,
    /// D: charging with ventilation.
    Ventilation = 4,
    /// E/F or a fault.
    Error = 5,
    /// No communication.
    Offline = 6,
}

impl EvseState {
    /// A vehicle is connected (B, C or D).
    pub fn vehicle_present(self) -> bool {
        matches!(
            self,
            EvseState::Present | EvseState::Charging | EvseState::Ventilation
        )
    }

    pub fn charging(self) -> bool {
        matches!(self, EvseState::Charging | EvseState::Ventilation)
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What a wallbox reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvseReading {
    pub state: EvseState,
    /// Charging is enabled on the box.
    pub charging_enabled: bool,
    /// The current limit the box offers now, mA.
    pub offered_ma: i64,
    /// The charging cable's capacity, mA; 0 = no cable / unknown.
    pub cable_ma: i64,
    /// The box's own meter, if it has one.
    pub meter: Option<MeterReading>,
    /// The box's fail-safe: seconds without Modbus before it falls back,
    /// and the current it then allows (mA; 0 = stop).
    pub fail_safe: FailSafe,
    /// The last RFID card or PIN the box saw (empty if none).
    pub rfid: String,
    /// Digital inputs: bit0 input 1, bit1 input 2 (a Power Brain's S0
    /// inputs), for input rules and formulas.
    pub inputs: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailSafe {
    pub duration_s: i64,
    pub current_ma: i64,
}

/// A reading of any device type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Meter(MeterReading),
    Evse(EvseReading),
}

/// A device's answer that cannot be a valid reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("expected {expected} register blocks, got {got}")]
    Blocks { expected: usize, got: usize },
    #[error("block at {addr}: expected {expected} registers, got {got}")]
    ShortBlock {
        addr: u16,
        expected: usize,
        got: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Checks that `blocks` answers `reads` one to one, with full lengths.
/// A `model` as cFos reports it: `manufacturer,device,device version,
/// firmware,serial`. A comma inside a field would split it: it becomes a
/// space.
pub fn model_text(
    maker: &str,
    device: &str,
    hardware: &str,
    firmware: &str,
    serial: &str,
) -> String {
    [maker, device, hardware, firmware, serial]
        .map(|field| field.replace(',', " ").trim().to_string())
        .join(",")
}

pub fn check_blocks(reads: &[Read], blocks: &[Vec<u16>]) -> Result<(), DecodeError> {
    if reads.len() != blocks.len() {
        return Err(DecodeError::Blocks {
            expected: reads.len(),
            got: blocks.len(),
        });
    }
    for (read, block) in reads.iter().zip(blocks) {
        if block.len() != usize::from(read.count) {
            return Err(DecodeError::ShortBlock {
                addr: read.addr,
                expected: usize::from(read.count),
                got: block.len(),
            });
        }
    }
    Ok(())
}

/// Converts 0.1 A units to mA.
pub fn deciamps_to_ma(value: i64) -> i64 {
    value.saturating_mul(100)
}

/// Converts mA to 0.1 A units, rounding down.
pub fn ma_to_deciamps(ma: i64) -> i64 {
    ma.div_euclid(100)
}

/// The signed 32-bit value at `at` (high word first).
pub fn i32_at(words: &[u16], at: usize) -> i64 {
    i64::from(((u32::from(words[at]) << 16) | u32::from(words[at + 1])) as i32)
}

/// The signed 64-bit value at `at` (high word first).
pub fn i64_at(words: &[u16], at: usize) -> i64 {
    words[at..at + 4]
        .iter()
        .fold(0u64, |acc, w| (acc << 16) | u64::from(*w)) as i64
}

/// The IEEE-754 float32 at `at` (high word first).
pub fn f32_at(words: &[u16], at: usize) -> f32 {
    f32::from_bits((u32::from(words[at]) << 16) | u32::from(words[at + 1]))
}

/// `value * scale`, rounded to the nearest integer (halves away from zero).
/// A NaN, an infinity or a result outside `i64` is `DecodeError::Invalid`
/// naming `what`.
pub fn float_to_int(value: f32, scale: f64, what: &str) -> Result<i64, DecodeError> {
    // -2^63 and 2^63 are exact in f64 (i64::MAX is not).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let scaled = (f64::from(value) * scale).round();
    if scaled.is_finite() && (-LIMIT..LIMIT).contains(&scaled) {
        Ok(scaled as i64)
    } else {
        Err(DecodeError::Invalid(format!(
            "{what}: {value} is not a valid value"
        )))
    }
}

/// `magnitude` with the sign of `sign_of`: negative when `sign_of` is below
/// zero (e.g. an unsigned phase current signed by the phase's power).
pub fn signed_like(magnitude: f32, sign_of: f32) -> f32 {
    if sign_of < 0.0 {
        -magnitude.abs()
    } else {
        magnitude.abs()
    }
}

/// The float at register `addr` of `block`, the answer to `read`.
pub fn float_in(block: &[u16], read: Read, addr: u16) -> f32 {
    f32_at(block, usize::from(addr - read.addr))
}

/// Where a float meter keeps one value per phase.
pub struct FloatPhaseRegisters {
    pub voltage: [u16; 3],
    pub current: [u16; 3],
    pub power: [u16; 3],
    /// W per unit of the power registers (1 for W, 1000 for kW).
    pub power_scale: f64,
}

/// A float meter's phases from `block` (the answer to `read`): currents in
/// mA, signed by the phase power (export negative), and voltages in V.
pub fn float_phases(
    block: &[u16],
    read: Read,
    regs: &FloatPhaseRegisters,
) -> Result<([i64; 3], [i64; 3]), DecodeError> {
    const VOLTAGE: [&str; 3] = ["voltage L1", "voltage L2", "voltage L3"];
    const CURRENT: [&str; 3] = ["current L1", "current L2", "current L3"];
    const POWER: [&str; 3] = ["power L1", "power L2", "power L3"];
    let (mut current_ma, mut voltage_v) = ([0; 3], [0; 3]);
    for i in 0..3 {
        let power = float_in(block, read, regs.power[i]);
        // Validates the power, whose sign the current takes.
        float_to_int(power, regs.power_scale, POWER[i])?;
        let current = signed_like(float_in(block, read, regs.current[i]), power);
        current_ma[i] = float_to_int(current, 1000.0, CURRENT[i])?;
        voltage_v[i] = float_to_int(float_in(block, read, regs.voltage[i]), 1.0, VOLTAGE[i])?;
    }
    Ok((current_ma, voltage_v))
}

/// A float meter's import and export energy (kWh registers) in Wh.
pub fn float_energy_wh(
    block: &[u16],
    read: Read,
    import: u16,
    export: u16,
) -> Result<(i64, i64), DecodeError> {
    Ok((
        float_to_int(float_in(block, read, import), 1000.0, "import energy")?,
        float_to_int(float_in(block, read, export), 1000.0, "export energy")?,
    ))
}

/// Helpers for the drivers' tests: read a simulated bank as a poll would.
#[cfg(test)]
pub(crate) mod testing {
    use super::{DecodeError, MeterReading, Read, Reading};
    use crate::sim::RegisterBank;

    /// The answers to `reads` from `bank`.
    pub(crate) fn blocks_of(bank: &RegisterBank, reads: &[Read]) -> Vec<Vec<u16>> {
        reads
            .iter()
            .map(|r| bank.read(r.addr, r.count).unwrap())
            .collect()
    }

    /// Every `(register, value, what)`: a float meter whose register holds
    /// `value` (NaN, infinite, out of range) is refused, naming `what`.
    pub(crate) fn refuses_invalid_floats(
        idle: fn() -> RegisterBank,
        reads: &[Read],
        decode: fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
        cases: &[(u16, f32, &str)],
    ) {
        for &(addr, value, what) in cases {
            let mut bank = idle();
            crate::sim::meters::set_f32(&mut bank, addr, value);
            match decode(&blocks_of(&bank, reads)) {
                Err(DecodeError::Invalid(msg)) => assert!(msg.contains(what), "{msg}"),
                other => panic!("{addr:#x} = {value}: {other:?}"),
            }
        }
    }

    /// Answers missing, extra or shorter than asked are errors, not panics;
    /// the full answers decode.
    pub(crate) fn refuses_short_answers(
        reads: &[Read],
        decode: fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
    ) {
        let full: Vec<Vec<u16>> = reads
            .iter()
            .map(|r| vec![0; usize::from(r.count)])
            .collect();
        assert!(decode(&full).is_ok());
        assert!(matches!(decode(&[]), Err(DecodeError::Blocks { .. })));
        assert!(matches!(
            decode(&full[..full.len() - 1]),
            Err(DecodeError::Blocks { .. })
        ));
        let mut extra = full.clone();
        extra.push(vec![0; 2]);
        assert!(matches!(decode(&extra), Err(DecodeError::Blocks { .. })));
        for i in 0..full.len() {
            let mut short = full.clone();
            short[i].pop();
            assert!(
                matches!(decode(&short), Err(DecodeError::ShortBlock { .. })),
                "block {i} one register short"
            );
        }
    }

    /// The answers to `reads` with `words` placed at their registers (the
    /// words of a recorded exchange or of a maker's example) and 0 elsewhere.
    pub(crate) fn answers_with(reads: &[Read], words: &[(u16, &[u16])]) -> Vec<Vec<u16>> {
        let mut blocks: Vec<Vec<u16>> = reads
            .iter()
            .map(|r| vec![0; usize::from(r.count)])
            .collect();
        for &(addr, values) in words {
            let (read, block) = reads
                .iter()
                .zip(blocks.iter_mut())
                .find(|(r, _)| addr >= r.addr && addr - r.addr < r.count)
                .unwrap_or_else(|| panic!("register {addr:#06x} is not read"));
            let at = usize::from(addr - read.addr);
            block[at..at + values.len()].copy_from_slice(values);
        }
        blocks
    }

    /// The meter reading a driver decodes from `blocks`.
    pub(crate) fn meter_from(
        blocks: &[Vec<u16>],
        decode: fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
    ) -> MeterReading {
        match decode(blocks) {
            Ok(Reading::Meter(m)) => m,
            other => panic!("not a meter reading: {other:?}"),
        }
    }

    /// A meter driver's reading of `bank`.
    pub(crate) fn meter_of(
        bank: &RegisterBank,
        reads: &[Read],
        decode: fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
    ) -> MeterReading {
        match decode(&blocks_of(bank, reads)) {
            Ok(Reading::Meter(m)) => m,
            other => panic!("not a meter reading: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EvseState;

    #[test]
    fn states_tell_whether_a_car_is_there_and_charges() {
        // (state, its code in get_dev_info, car present, charging)
        let table = [
            (EvseState::Waiting, 1, false, false),
            (EvseState::Present, 2, true, false),
            (EvseState::Charging, 3, true, true),
            (EvseState::Ventilation, 4, true, true),
            (EvseState::Error, 5, false, false),
            (EvseState::Offline, 6, false, false),
        ];
        for (state, code, present, charging) in table {
            assert_eq!(state.code(), code, "{state:?}");
            assert_eq!(state.vehicle_present(), present, "{state:?}");
            assert_eq!(state.charging(), charging, "{state:?}");
        }
    }
}
