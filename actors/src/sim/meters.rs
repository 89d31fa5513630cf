//! The register contents of simulated third-party meters, in each device's
//! own encoding (IEEE-754 float32, high word first). Pure code.
//!
//! Each constructor gives an idle meter: 230 V, 50 Hz, 0 A, 0 W and no
//! energy counted. The setters write a state the way the real meter would
//! report it (unsigned currents, kW on the Orno, totals derived from the
//! phases), so the drivers are tested against what they will meet.

use super::bank::RegisterBank;
use crate::drivers::map::RegisterMap;
use crate::drivers::DeviceType;

/// The register map of the shipped definition `key` (none if it did not
/// load, a build defect the definitions' tests catch: every read is then
/// refused).
fn map_of(key: &str) -> &'static RegisterMap {
    static NONE: RegisterMap = RegisterMap { registers: &[] };
    DeviceType::find(key).map_or(&NONE, DeviceType::register_map)
}

/// Writes `value` as a float32 at `addr` and `addr + 1`, high word first.
pub fn set_f32(bank: &mut RegisterBank, addr: u16, value: f32) {
    let bits = value.to_bits();
    bank.set_words(addr, &[(bits >> 16) as u16, bits as u16]);
}

/// Writes one float per phase at `addrs`.
fn set_phases(bank: &mut RegisterBank, addrs: [u16; 3], values: [f32; 3]) {
    for (addr, value) in addrs.into_iter().zip(values) {
        set_f32(bank, addr, value);
    }
}

/// An idle Eastron SDM630 (also SDM630MCT, SDM72D-M V2).
pub fn sdm630() -> RegisterBank {
    let mut bank = RegisterBank::new(map_of("meter_sdm630"));
    set_f32(&mut bank, 0x0046, 50.0);
    set_sdm630(&mut bank, [230.0; 3], [0.0; 3], [0.0; 3], 0.0, 0.0);
    bank
}

/// Sets an SDM630's measurements. `current_a` is written unsigned, as the
/// meter reports it (the sign is in `power_w`); the total power is the sum
/// of the phases.
pub fn set_sdm630(
    bank: &mut RegisterBank,
    voltage_v: [f32; 3],
    current_a: [f32; 3],
    power_w: [f32; 3],
    import_kwh: f32,
    export_kwh: f32,
) {
    set_phases(bank, [0x0000, 0x0002, 0x0004], voltage_v);
    set_phases(bank, [0x0006, 0x0008, 0x000a], current_a.map(f32::abs));
    set_phases(bank, [0x000c, 0x000e, 0x0010], power_w);
    let sum_a: f32 = current_a.iter().map(|a| a.abs()).sum();
    set_f32(bank, 0x002a, voltage_v.iter().sum::<f32>() / 3.0);
    set_f32(bank, 0x002e, sum_a / 3.0);
    set_f32(bank, 0x0030, sum_a);
    set_f32(bank, 0x0034, power_w.iter().sum());
    set_f32(bank, 0x0048, import_kwh);
    set_f32(bank, 0x004a, export_kwh);
}

/// An idle Eastron SDM72D-M V1 (it reports no voltages).
pub fn sdm72dm() -> RegisterBank {
    let mut bank = RegisterBank::new(map_of("meter_sdm72dm"));
    set_sdm72dm(&mut bank, 0.0, 0.0, 0.0);
    bank
}

/// Sets an SDM72D-M V1's measurements: total power (signed, negative =
/// export) and the two energies.
pub fn set_sdm72dm(bank: &mut RegisterBank, power_w: f32, import_kwh: f32, export_kwh: f32) {
    set_f32(bank, 0x0034, power_w);
    set_f32(bank, 0x0048, import_kwh);
    set_f32(bank, 0x004a, export_kwh);
}

/// An idle Orno OR-WE-516.
pub fn orno_we516() -> RegisterBank {
    let mut bank = RegisterBank::new(map_of("meter_orno_we516"));
    set_f32(&mut bank, 0x0014, 50.0);
    set_orno_we516(&mut bank, [230.0; 3], [0.0; 3], [0.0; 3], 0.0, 0.0);
    bank
}

/// Sets an Orno OR-WE-516's measurements. Powers are given in W and written
/// in kW, as the meter reports them; `current_a` is written unsigned; the
/// total power is the sum of the phases.
pub fn set_orno_we516(
    bank: &mut RegisterBank,
    voltage_v: [f32; 3],
    current_a: [f32; 3],
    power_w: [f32; 3],
    import_kwh: f32,
    export_kwh: f32,
) {
    set_phases(bank, [0x000e, 0x0010, 0x0012], voltage_v);
    set_phases(bank, [0x0016, 0x0018, 0x001a], current_a.map(f32::abs));
    set_phases(bank, [0x001e, 0x0020, 0x0022], power_w.map(|w| w / 1000.0));
    set_f32(bank, 0x001c, power_w.iter().sum::<f32>() / 1000.0);
    set_f32(bank, 0x0108, import_kwh);
    set_f32(bank, 0x0110, export_kwh);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_stored_high_word_first() {
        let mut bank = sdm630();
        assert_eq!(bank.read(0x0000, 2), Ok(vec![0x4366, 0x0000]), "230.0");
        set_f32(&mut bank, 0x0048, -1.5);
        assert_eq!(bank.read(0x0048, 2), Ok(vec![0xbfc0, 0x0000]));
    }

    #[test]
    fn setters_write_the_device_encoding() {
        let mut bank = sdm630();
        set_sdm630(
            &mut bank,
            [230.0; 3],
            [10.0, -2.0, 0.0],
            [2300.0, -460.0, 0.0],
            1.0,
            2.0,
        );
        // Currents are unsigned on the wire; the total is the phases' sum.
        assert_eq!(bank.read(0x0008, 2), Ok(vec![0x4000, 0x0000]), "2.0");
        assert_eq!(
            bank.read(0x0034, 2),
            Ok(vec![(1840f32.to_bits() >> 16) as u16, 0])
        );

        let mut orno = orno_we516();
        set_orno_we516(
            &mut orno,
            [230.0; 3],
            [0.0; 3],
            [1500.0, 0.0, 0.0],
            0.0,
            0.0,
        );
        assert_eq!(orno.read(0x001e, 2), Ok(vec![0x3fc0, 0x0000]), "1.5 kW");

        let mut v1 = sdm72dm();
        set_sdm72dm(&mut v1, -1.5, 0.0, 0.0);
        assert_eq!(v1.read(0x0034, 2), Ok(vec![0xbfc0, 0x0000]));
    }
}
