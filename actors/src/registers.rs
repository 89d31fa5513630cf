//! Register maps as data: which registers a device type has, their raw type,
//! access and unit. Pure code, no I/O.
//!
//! Source: the cFos Power Brain Modbus register page (shared registers
//! 8000–8040, S0 meters 8041–8071, EVSE 8057–8120).

use crate::codec::RegType;

/// Who may read or write a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub fn writable(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// One register (or run of registers holding one value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register {
    pub name: &'static str,
    pub addr: u16,
    pub ty: RegType,
    pub access: Access,
    /// Unit and scale of the raw value, e.g. "0.1 A".
    pub unit: &'static str,
}

impl Register {
    /// The key of this register in a `read=all` answer, e.g. `8062d`.
    pub fn key(&self) -> String {
        format!("{}{}", self.addr, self.ty.suffix())
    }

    fn end(&self) -> u32 {
        u32::from(self.addr) + u32::from(self.ty.width())
    }
}

/// The registers of one device type, sorted by address, non-overlapping.
#[derive(Debug)]
pub struct RegisterMap {
    pub registers: &'static [Register],
}

/// A run of adjacent registers that can be read in one Modbus request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    pub start: u16,
    pub count: u16,
    pub registers: Vec<Register>,
}

/// The most registers one Modbus read may ask for.
pub const MAX_READ_COUNT: u16 = 125;

impl RegisterMap {
    /// The register that starts at `addr`.
    pub fn get(&self, addr: u16) -> Option<&Register> {
        self.registers.iter().find(|r| r.addr == addr)
    }

    /// The register that covers `addr` (starts at it or spans it).
    pub fn covering(&self, addr: u16) -> Option<&Register> {
        self.registers
            .iter()
            .find(|r| r.addr <= addr && u32::from(addr) < r.end())
    }

    /// Groups the whole map into as few reads as possible: adjacent registers
    /// share a request, gaps start a new one, no request exceeds 125 registers.
    pub fn read_blocks(&self) -> Vec<ReadBlock> {
        let mut blocks: Vec<ReadBlock> = Vec::new();
        for reg in self.registers {
            match blocks.last_mut() {
                Some(b)
                    if u32::from(b.start) + u32::from(b.count) == u32::from(reg.addr)
                        && b.count + reg.ty.width() <= MAX_READ_COUNT =>
                {
                    b.count += reg.ty.width();
                    b.registers.push(*reg);
                }
                _ => blocks.push(ReadBlock {
                    start: reg.addr,
                    count: reg.ty.width(),
                    registers: vec![*reg],
                }),
            }
        }
        blocks
    }
}

const fn reg(
    name: &'static str,
    addr: u16,
    ty: RegType,
    access: Access,
    unit: &'static str,
) -> Register {
    Register {
        name,
        addr,
        ty,
        access,
        unit,
    }
}

use Access::{Read as R, ReadWrite as RW, Write as W};
use RegType::{Str, I32, I64, U16, U32};

/// Registers 8000–8040, common to the S0 meters and the EVSE.
macro_rules! shared_registers {
    () => {
        [
            reg("vendor_id", 8000, I32, R, "0xcf05 in the high word"),
            reg("product_id", 8002, U16, R, ""),
            reg("device_id", 8003, U16, R, ""),
            // 8004 is two words (major.minor); the page also names 8005
            // `product_build`, which overlaps it, so `read=all` skips 8005.
            reg("product_version", 8004, U32, R, "major.minor"),
            reg("mapping_version", 8006, U16, R, "major.minor"),
            reg("padding_1", 8007, U16, R, ""),
            reg("serial_no", 8008, Str(8), R, "text"),
            reg("name", 8016, Str(16), R, "text"),
            reg("slave_id", 8040, U16, RW, ""),
        ]
    };
}

const SHARED: [Register; 9] = shared_registers!();

const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [Register; A],
    b: [Register; B],
) -> [Register; N] {
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

const S0_METER_OWN: [Register; 18] = [
    reg("input", 8041, U16, R, "reserved"),
    reg("pulsesperkwh", 8042, I32, RW, "pulses/kWh"),
    reg("phases", 8044, U16, RW, "bit0 L1, bit1 L2, bit2 L3"),
    reg("voltage_l1", 8045, U16, RW, "V"),
    reg("voltage_l2", 8046, U16, RW, "V"),
    reg("voltage_l3", 8047, U16, RW, "V"),
    reg("pulses", 8050, I64, RW, "pulses"),
    reg("timeperpulse", 8054, I32, R, "ms"),
    reg("level", 8056, U16, R, "0 current flows, 1 none"),
    reg("meter_flags", 8057, U16, R, "bit0 per-phase values"),
    reg("energy", 8058, I64, RW, "Wh"),
    reg("power", 8062, I32, R, "W"),
    reg("current_l1", 8064, I32, R, "0.1 A"),
    reg("current_l2", 8066, I32, R, "0.1 A"),
    reg("current_l3", 8068, I32, R, "0.1 A"),
    reg("reset_pulses", 8070, U16, W, "write 1"),
    reg("reset_energy", 8071, U16, W, "write 1"),
    reg("count_restart", 8120, I32, RW, "restarts"),
];

static S0_METER_REGISTERS: [Register; 27] = concat(SHARED, S0_METER_OWN);

const EVSE_OWN: [Register; 30] = [
    // The EVSE page does not list 8044–8047 and 8050, but the HTTP API's own
    // examples write them on `device=evse`, and those examples are the contract.
    reg("phases", 8044, U16, RW, "bit0 L1, bit1 L2, bit2 L3"),
    reg("voltage_l1", 8045, U16, RW, "V"),
    reg("voltage_l2", 8046, U16, RW, "V"),
    reg("voltage_l3", 8047, U16, RW, "V"),
    reg("pulses", 8050, I64, RW, "pulses"),
    // The attached ("pinned") meter, valid when has_meter (8112) is 1.
    reg("meter_flags", 8057, U16, R, "bit0 per-phase values"),
    reg("energy", 8058, I64, R, "Wh"),
    reg("power", 8062, I32, R, "W"),
    reg("current_l1", 8064, I32, R, "0.1 A"),
    reg("current_l2", 8066, I32, R, "0.1 A"),
    reg("current_l3", 8068, I32, R, "0.1 A"),
    // Flash-backed: write rarely.
    reg("def_fixed_current", 8080, U16, RW, "0.1 A"),
    reg("def_charg_cur_limit", 8081, U16, RW, "0.1 A"),
    reg("def_charging_enable", 8082, U16, RW, "0/1"),
    reg("fail_safe_duration", 8083, I32, RW, "s"),
    reg("fail_safe_current", 8085, U16, RW, "0.1 A"),
    // Volatile: safe to write every cycle.
    reg("disconnect_cp", 8086, U16, RW, "s"),
    reg("relay_select", 8087, U16, RW, "0 three-phase, 1 one-phase"),
    reg("relay2", 8088, U16, RW, "0/1"),
    reg("cable_current", 8090, U16, R, "0.1 A"),
    reg("fixed_current", 8091, U16, RW, "0.1 A"),
    reg("charge_pilot_state", 8092, U16, R, "0 A .. 5 F"),
    reg("charging_cur_limit", 8093, U16, RW, "0.1 A"),
    reg("charging_enable", 8094, U16, RW, "0/1"),
    reg("charging_current", 8095, U16, R, "0.1 A"),
    reg("last_rfid", 8096, Str(15), R, "hex text"),
    reg("detected_rfids", 8111, U16, R, "count"),
    reg("has_meter", 8112, U16, R, "0/1"),
    reg("s0_inputs", 8113, U16, R, "bit field"),
    reg("count_restart", 8120, I32, RW, "restarts"),
];

static EVSE_REGISTERS: [Register; 39] = concat(SHARED, EVSE_OWN);

/// The S0 meter of a Power Brain (units 2 and 3, ports 4702/4703).
pub static POWER_BRAIN_METER: RegisterMap = RegisterMap {
    registers: &S0_METER_REGISTERS,
};

/// The EVSE of a Power Brain (unit 1, port 4701).
pub static POWER_BRAIN_EVSE: RegisterMap = RegisterMap {
    registers: &EVSE_REGISTERS,
};

// Third-party meters. Their 32-bit values are listed as `d` (high word
// first), so that `read=all` keys them with their width (`0d`) and reads
// them as `read=0d` does: a float32 as the signed integer of its bits (the
// unit says "float32"). Source: the meters' public register tables
// (EVerest device files, the Eastron manuals, ya-modbus for the Orno).
// Addresses are 0-based offsets, written in hex as the manuals do.

/// Eastron SDM630 / SDM630MCT / SDM72D-M V2: INPUT registers (FC04). The
/// reserved pairs read as 0; they are listed so that a read spanning them is
/// answered.
pub static EASTRON_SDM630: RegisterMap = RegisterMap {
    registers: &[
        reg("voltage_l1", 0x0000, I32, R, "float32 V"),
        reg("voltage_l2", 0x0002, I32, R, "float32 V"),
        reg("voltage_l3", 0x0004, I32, R, "float32 V"),
        reg("current_l1", 0x0006, I32, R, "float32 A, unsigned"),
        reg("current_l2", 0x0008, I32, R, "float32 A, unsigned"),
        reg("current_l3", 0x000a, I32, R, "float32 A, unsigned"),
        reg("power_l1", 0x000c, I32, R, "float32 W, signed"),
        reg("power_l2", 0x000e, I32, R, "float32 W, signed"),
        reg("power_l3", 0x0010, I32, R, "float32 W, signed"),
        reg("apparent_power_l1", 0x0012, I32, R, "float32 VA"),
        reg("apparent_power_l2", 0x0014, I32, R, "float32 VA"),
        reg("apparent_power_l3", 0x0016, I32, R, "float32 VA"),
        reg("reactive_power_l1", 0x0018, I32, R, "float32 var"),
        reg("reactive_power_l2", 0x001a, I32, R, "float32 var"),
        reg("reactive_power_l3", 0x001c, I32, R, "float32 var"),
        reg("power_factor_l1", 0x001e, I32, R, "float32"),
        reg("power_factor_l2", 0x0020, I32, R, "float32"),
        reg("power_factor_l3", 0x0022, I32, R, "float32"),
        reg("phase_angle_l1", 0x0024, I32, R, "float32 degrees"),
        reg("phase_angle_l2", 0x0026, I32, R, "float32 degrees"),
        reg("phase_angle_l3", 0x0028, I32, R, "float32 degrees"),
        reg("average_voltage", 0x002a, I32, R, "float32 V"),
        reg("reserved", 0x002c, I32, R, "reads 0"),
        reg("average_current", 0x002e, I32, R, "float32 A"),
        reg("sum_of_currents", 0x0030, I32, R, "float32 A"),
        reg("reserved", 0x0032, I32, R, "reads 0"),
        reg(
            "total_power",
            0x0034,
            I32,
            R,
            "float32 W, signed (- = export)",
        ),
        reg("reserved", 0x0036, I32, R, "reads 0"),
        reg("total_apparent_power", 0x0038, I32, R, "float32 VA"),
        reg("reserved", 0x003a, I32, R, "reads 0"),
        reg("total_reactive_power", 0x003c, I32, R, "float32 var"),
        reg("total_power_factor", 0x003e, I32, R, "float32"),
        reg("reserved", 0x0040, I32, R, "reads 0"),
        reg("total_phase_angle", 0x0042, I32, R, "float32 degrees"),
        reg("reserved", 0x0044, I32, R, "reads 0"),
        reg("frequency", 0x0046, I32, R, "float32 Hz"),
        reg("import_energy", 0x0048, I32, R, "float32 kWh"),
        reg("export_energy", 0x004a, I32, R, "float32 kWh"),
        reg("import_reactive_energy", 0x004c, I32, R, "float32 kvarh"),
        reg("export_reactive_energy", 0x004e, I32, R, "float32 kvarh"),
    ],
};

/// Eastron SDM72D-M V1: INPUT registers (FC04). Only total power and the
/// two energies; the pairs between them are listed as reserved (reading 0)
/// so that one read covers 0x0034..0x004C.
pub static EASTRON_SDM72DM_V1: RegisterMap = RegisterMap {
    registers: &[
        reg(
            "total_power",
            0x0034,
            I32,
            R,
            "float32 W, signed (- = export)",
        ),
        reg("reserved", 0x0036, I32, R, "reads 0"),
        reg("reserved", 0x0038, I32, R, "reads 0"),
        reg("reserved", 0x003a, I32, R, "reads 0"),
        reg("reserved", 0x003c, I32, R, "reads 0"),
        reg("reserved", 0x003e, I32, R, "reads 0"),
        reg("reserved", 0x0040, I32, R, "reads 0"),
        reg("reserved", 0x0042, I32, R, "reads 0"),
        reg("reserved", 0x0044, I32, R, "reads 0"),
        reg("reserved", 0x0046, I32, R, "reads 0"),
        reg("import_energy", 0x0048, I32, R, "float32 kWh"),
        reg("export_energy", 0x004a, I32, R, "float32 kWh"),
    ],
};

/// Orno OR-WE-516: HOLDING registers (FC03). Powers are in kW.
pub static ORNO_WE516: RegisterMap = RegisterMap {
    registers: &[
        reg("serial_no", 0x0000, U16, R, ""),
        reg("slave_id", 0x0002, U16, R, ""),
        reg("baud_rate", 0x0003, U16, R, ""),
        reg("software_version", 0x0004, I32, R, ""),
        reg("hardware_version", 0x0006, I32, R, ""),
        reg("voltage_l1", 0x000e, I32, R, "float32 V"),
        reg("voltage_l2", 0x0010, I32, R, "float32 V"),
        reg("voltage_l3", 0x0012, I32, R, "float32 V"),
        reg("frequency", 0x0014, I32, R, "float32 Hz"),
        reg("current_l1", 0x0016, I32, R, "float32 A, unsigned"),
        reg("current_l2", 0x0018, I32, R, "float32 A, unsigned"),
        reg("current_l3", 0x001a, I32, R, "float32 A, unsigned"),
        reg("total_power", 0x001c, I32, R, "float32 kW, signed"),
        reg("power_l1", 0x001e, I32, R, "float32 kW, signed"),
        reg("power_l2", 0x0020, I32, R, "float32 kW, signed"),
        reg("power_l3", 0x0022, I32, R, "float32 kW, signed"),
        reg("total_reactive_power", 0x0024, I32, R, "float32 kvar"),
        reg("reactive_power_l1", 0x0026, I32, R, "float32 kvar"),
        reg("reactive_power_l2", 0x0028, I32, R, "float32 kvar"),
        reg("reactive_power_l3", 0x002a, I32, R, "float32 kvar"),
        reg("total_apparent_power", 0x002c, I32, R, "float32 kVA"),
        reg("apparent_power_l1", 0x002e, I32, R, "float32 kVA"),
        reg("apparent_power_l2", 0x0030, I32, R, "float32 kVA"),
        reg("apparent_power_l3", 0x0032, I32, R, "float32 kVA"),
        reg("total_power_factor", 0x0034, I32, R, "float32"),
        reg("power_factor_l1", 0x0036, I32, R, "float32"),
        reg("power_factor_l2", 0x0038, I32, R, "float32"),
        reg("power_factor_l3", 0x003a, I32, R, "float32"),
        reg("total_energy", 0x0100, I32, R, "float32 kWh"),
        reg("energy_l1", 0x0102, I32, R, "float32 kWh"),
        reg("energy_l2", 0x0104, I32, R, "float32 kWh"),
        reg("energy_l3", 0x0106, I32, R, "float32 kWh"),
        reg("import_energy", 0x0108, I32, R, "float32 kWh"),
        reg("import_energy_l1", 0x010a, I32, R, "float32 kWh"),
        reg("import_energy_l2", 0x010c, I32, R, "float32 kWh"),
        reg("import_energy_l3", 0x010e, I32, R, "float32 kWh"),
        reg("export_energy", 0x0110, I32, R, "float32 kWh"),
        reg("export_energy_l1", 0x0112, I32, R, "float32 kWh"),
        reg("export_energy_l2", 0x0114, I32, R, "float32 kWh"),
        reg("export_energy_l3", 0x0116, I32, R, "float32 kWh"),
        reg("total_reactive_energy", 0x0118, I32, R, "float32 kvarh"),
        reg("reactive_energy_l1", 0x011a, I32, R, "float32 kvarh"),
        reg("reactive_energy_l2", 0x011c, I32, R, "float32 kvarh"),
        reg("reactive_energy_l3", 0x011e, I32, R, "float32 kvarh"),
        reg("import_reactive_energy", 0x0120, I32, R, "float32 kvarh"),
        reg("import_reactive_energy_l1", 0x0122, I32, R, "float32 kvarh"),
        reg("import_reactive_energy_l2", 0x0124, I32, R, "float32 kvarh"),
        reg("import_reactive_energy_l3", 0x0126, I32, R, "float32 kvarh"),
        reg("export_reactive_energy", 0x0128, I32, R, "float32 kvarh"),
        reg("export_reactive_energy_l1", 0x012a, I32, R, "float32 kvarh"),
        reg("export_reactive_energy_l2", 0x012c, I32, R, "float32 kvarh"),
        reg("export_reactive_energy_l3", 0x012e, I32, R, "float32 kvarh"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_well_formed(map: &RegisterMap) {
        for pair in map.registers.windows(2) {
            assert!(
                pair[0].end() <= u32::from(pair[1].addr),
                "{} overlaps {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn maps_are_sorted_and_do_not_overlap() {
        assert_well_formed(&POWER_BRAIN_METER);
        assert_well_formed(&POWER_BRAIN_EVSE);
        assert_well_formed(&EASTRON_SDM630);
        assert_well_formed(&EASTRON_SDM72DM_V1);
        assert_well_formed(&ORNO_WE516);
    }

    #[test]
    fn meter_keys_are_those_of_the_read_all_example() {
        let keys: Vec<String> = POWER_BRAIN_METER
            .registers
            .iter()
            .map(Register::key)
            .collect();
        assert_eq!(
            keys.join(","),
            "8000d,8002,8003,8004,8006,8007,8008s,8016s,8040,8041,8042d,8044,8045,8046,8047,\
             8050q,8054d,8056,8057,8058q,8062d,8064d,8066d,8068d,8070,8071,8120d"
        );
    }

    #[test]
    fn read_blocks_join_adjacent_registers_only() {
        let blocks = POWER_BRAIN_METER.read_blocks();
        let spans: Vec<(u16, u16)> = blocks.iter().map(|b| (b.start, b.count)).collect();
        assert_eq!(spans, vec![(8000, 32), (8040, 8), (8050, 22), (8120, 2)]);
        let total: usize = blocks.iter().map(|b| b.registers.len()).sum();
        assert_eq!(total, POWER_BRAIN_METER.registers.len());
    }

    #[test]
    fn covering_finds_the_register_spanning_an_address() {
        assert_eq!(
            POWER_BRAIN_METER.covering(8005).map(|r| r.name),
            Some("product_version")
        );
        assert_eq!(
            POWER_BRAIN_METER.covering(8031).map(|r| r.name),
            Some("name")
        );
        assert_eq!(POWER_BRAIN_METER.covering(8032), None);
        assert_eq!(POWER_BRAIN_EVSE.get(8093).map(|r| r.unit), Some("0.1 A"));
    }
}
