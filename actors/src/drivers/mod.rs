//! Device drivers: for each device type, one file with its register map,
//! what to read every cycle, how to turn the words into readings in daemon
//! units (mA, V, W, Wh), and for a wallbox what to write. Pure code: the
//! device actor does the I/O. `registry.rs` has the rows the rest of the
//! daemon asks (`DeviceType`).
//!
//! Adding a driver: its file here (a `DRIVER` row, see `evse_powerbrain.rs`),
//! and its name in the list below, which declares the module and puts its
//! row in the registry. A device of plain registers needs no code: a
//! definition file (`definition/`, `definitions/*.toml`).

pub mod definition;
pub mod http_json;
pub mod map;
pub mod plan;
pub mod powerbrain;
pub mod registry;
pub mod sunspec;

pub use registry::{DeviceType, Driver, Kind};

/// The driver modules, in the order the API lists their types; each has a
/// `pub static DRIVER: Driver`.
macro_rules! drivers {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every device type's row, in the order the API lists them.
        pub static REGISTRY: &[&Driver] = &[$(&$module::DRIVER),*];
    };
}

drivers![
    evse_powerbrain,
    meter_powerbrain,
    evse_group,
    meter_ajax,
    evse_ajax,
    evse_ocpp,
    meter_sunspec,
    inverter_sunspec,
];

/// The voltage of a phase where a device reports none (a meter without
/// voltage registers, a wallbox that pushes currents only), V.
pub const NOMINAL_V: i64 = 230;

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
    /// The battery behind it, where the device reports one (a SunSpec
    /// storage model 124); shown, not used by load management.
    pub storage: Option<Storage>,
}

/// A battery as its inverter reports it (SunSpec model 124). Each value is
/// `None` where the device does not implement it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Storage {
    /// State of charge, % of its capacity (`ChaState`), rounded.
    pub soc: Option<i64>,
    /// What it does (`ChaSt`): off, empty, discharging, charging, full,
    /// holding, testing.
    pub state: Option<&'static str>,
    /// The charge power it allows at most, W (`WChaMax`).
    pub max_charge_w: Option<i64>,
    /// Its voltage, V (`InBatV`).
    pub voltage: Option<i64>,
    /// The charge it can give, Ah (`StorAval`).
    pub available_ah: Option<i64>,
}

impl Storage {
    /// `state` numbered as SunSpec does (`ChaSt`: 1 off … 7 testing).
    pub fn state_code(&self) -> Option<i64> {
        let state = self.state?;
        let at = sunspec::STORAGE_STATES.iter().position(|s| *s == state)?;
        i64::try_from(at + 1).ok()
    }
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
    /// The 1p/3p relay, on a wallbox that reports one.
    pub relay: Option<Relay>,
    /// The energy counter when the wallbox's own transaction began (OCPP's
    /// `meterStart`), Wh, while that transaction's car is plugged in;
    /// `None` from wallboxes that do not say.
    pub transaction_start_wh: Option<i64>,
}

/// A wallbox's 1p/3p relay as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relay {
    /// On the one-phase contactor.
    pub one_phase: bool,
    /// The wallbox allows switching while a car is plugged in.
    pub switch_allowed: bool,
    /// Seconds the charge pilot stays off (a switch or a wake-up running).
    pub cp_off_s: u16,
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

/// Checks that `blocks` answers `reads` one to one, with full lengths.
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

/// The answers to a poll's reads, looked up by register address (high
/// word first), so that a decoder names its registers, not offsets.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    reads: &'a [Read],
    blocks: &'a [Vec<u16>],
}

impl<'a> Answers<'a> {
    /// Checks that `blocks` answer `reads` one to one, with full lengths.
    pub fn new(reads: &'a [Read], blocks: &'a [Vec<u16>]) -> Result<Self, DecodeError> {
        check_blocks(reads, blocks)?;
        Ok(Answers { reads, blocks })
    }

    /// The `count` words from register `addr`.
    pub fn words(&self, addr: u16, count: u16) -> Result<&'a [u16], DecodeError> {
        let end = u32::from(addr) + u32::from(count);
        self.reads
            .iter()
            .zip(self.blocks)
            .find(|(r, _)| addr >= r.addr && end <= u32::from(r.addr) + u32::from(r.count))
            .and_then(|(r, block)| {
                let at = usize::from(addr - r.addr);
                block.get(at..at + usize::from(count))
            })
            .ok_or_else(|| DecodeError::Invalid(format!("register {addr} was not read")))
    }

    /// The unsigned 16-bit value at `addr`.
    pub fn u16(&self, addr: u16) -> Result<u16, DecodeError> {
        Ok(self.words(addr, 1)?[0])
    }

    /// The signed 32-bit value at `addr`.
    pub fn i32(&self, addr: u16) -> Result<i64, DecodeError> {
        let w = self.words(addr, 2)?;
        Ok(i64::from(
            ((u32::from(w[0]) << 16) | u32::from(w[1])) as i32,
        ))
    }

    /// The signed 64-bit value at `addr`.
    pub fn i64(&self, addr: u16) -> Result<i64, DecodeError> {
        let w = self.words(addr, 4)?;
        Ok(w.iter().fold(0u64, |acc, w| (acc << 16) | u64::from(*w)) as i64)
    }

    /// The IEEE-754 float32 at `addr`.
    pub fn f32(&self, addr: u16) -> Result<f32, DecodeError> {
        let w = self.words(addr, 2)?;
        Ok(f32::from_bits((u32::from(w[0]) << 16) | u32::from(w[1])))
    }
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
        decode: impl Fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
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
        decode: impl Fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
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
        decode: impl Fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
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
        decode: impl Fn(&[Vec<u16>]) -> Result<Reading, DecodeError>,
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
