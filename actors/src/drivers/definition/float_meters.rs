//! The float meters shipped as definitions (`definitions/sdm630.toml`,
//! `sdm72dm.toml`, `orno_we516.toml`), against the words real meters
//! answered and against the simulated meters (`sim::meters`): an idle
//! meter reads as idle, an exporting phase has a negative current, the
//! total power is the meter's own, a NaN, infinite or huge value is
//! refused naming the value, and short answers are errors, not panics.

use crate::drivers::registry::Modbus;
use crate::drivers::testing::{
    answers_with, meter_from, meter_of, refuses_invalid_floats, refuses_short_answers,
};
use crate::drivers::{DecodeError, DeviceType, MeterReading, Reading, Table};
use crate::sim::meters::{self, set_f32, set_sdm72dm};
use crate::sim::RegisterBank;

/// Sets a simulated float meter (`sim::meters`).
type SetMeter = fn(&mut RegisterBank, [f32; 3], [f32; 3], [f32; 3], f32, f32);

/// One float meter under test, with its simulated bank.
struct Case {
    key: &'static str,
    /// An idle meter (230 V, 0 A, no energy).
    idle: fn() -> RegisterBank,
    /// Sets voltages, unsigned currents, phase powers (W) and energies
    /// (kWh) as the meter reports them; `None` for a meter with totals only.
    set: Option<SetMeter>,
    /// The total power register and its unit (1 W or 1000 W).
    total_power: (u16, f32),
    /// A wild value (NaN, infinite, out of range) at a register, and what
    /// the refusal names.
    wild: &'static [(u16, f32, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        key: "meter_sdm630",
        idle: meters::sdm630,
        set: Some(meters::set_sdm630),
        total_power: (0x0034, 1.0),
        wild: &[
            (0x0002, f32::NAN, "readings.voltage[1]"),
            (0x0006, f32::INFINITY, "readings.current[0]"),
            (0x0010, f32::NAN, "readings.phase_power[2]"),
            (0x0034, f32::NEG_INFINITY, "readings.power"),
            (0x0048, f32::MAX, "readings.import_energy"),
            (0x004a, f32::NAN, "readings.export_energy"),
        ],
    },
    Case {
        key: "meter_orno_we516",
        idle: meters::orno_we516,
        set: Some(meters::set_orno_we516),
        total_power: (0x001c, 1000.0),
        wild: &[
            (0x0010, f32::NAN, "readings.voltage[1]"),
            (0x0016, f32::INFINITY, "readings.current[0]"),
            (0x0022, f32::NAN, "readings.phase_power[2]"),
            (0x001c, f32::NEG_INFINITY, "readings.power"),
            (0x001c, 1e16, "readings.power"),
            (0x0108, f32::MAX, "readings.import_energy"),
            (0x0110, f32::NAN, "readings.export_energy"),
        ],
    },
    Case {
        key: "meter_sdm72dm",
        idle: meters::sdm72dm,
        set: None,
        total_power: (0x0034, 1.0),
        wild: &[
            (0x0034, f32::NAN, "readings.power"),
            (0x0034, f32::INFINITY, "readings.power"),
            (0x0048, f32::MAX, "readings.import_energy"),
            (0x004a, f32::NAN, "readings.export_energy"),
        ],
    },
];

fn modbus(key: &str) -> &'static Modbus {
    DeviceType::find(key)
        .and_then(DeviceType::modbus)
        .unwrap_or_else(|| panic!("{key} is a Modbus meter"))
}

fn decode(key: &str) -> impl Fn(&[Vec<u16>]) -> Result<Reading, DecodeError> + '_ {
    move |blocks| modbus(key).decode(blocks)
}

fn reading(case: &Case, bank: &RegisterBank) -> MeterReading {
    let m = modbus(case.key);
    meter_of(bank, m.reads, |blocks| m.decode(blocks))
}

#[test]
fn they_keep_their_types_and_names() {
    for (key, name) in [
        ("meter_sdm630", "Eastron SDM630 / SDM630MCT / SDM72DM-V2"),
        ("meter_sdm72dm", "Eastron SDM72DM V1"),
        ("meter_orno_we516", "Orno OR-WE-516"),
    ] {
        let t = DeviceType::find(key).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(t.display_name(), name);
        assert!(!t.is_evse(), "{key}");
    }
}

#[test]
fn decodes_the_idle_meter() {
    for case in CASES {
        let per_phase = case.set.is_some();
        assert_eq!(
            reading(case, &(case.idle)()),
            MeterReading {
                current_ma: [0; 3],
                voltage_v: [230; 3],
                power_w: 0,
                import_wh: 0,
                export_wh: 0,
                per_phase,
                storage: None,
            },
            "{}",
            case.key
        );
    }
}

#[test]
fn decodes_a_meter_with_one_exporting_phase() {
    for case in CASES {
        let Some(set) = case.set else { continue };
        let mut bank = (case.idle)();
        set(
            &mut bank,
            [231.5, 229.4, 230.6],
            [10.2, 10.0, 0.0],
            [2361.3, -2300.0, 0.0],
            12_345.678,
            987.654,
        );
        let m = reading(case, &bank);
        assert_eq!(
            m.voltage_v,
            [232, 229, 231],
            "{}: rounded to nearest",
            case.key
        );
        assert_eq!(
            m.current_ma,
            [10_200, -10_000, 0],
            "{}: signed by phase power",
            case.key
        );
        assert_eq!(m.power_w, 61, "{}: 2361.3 - 2300.0", case.key);
        assert_eq!(
            (m.import_wh, m.export_wh),
            (12_345_678, 987_654),
            "{}",
            case.key
        );
        assert!(m.per_phase);
    }
}

#[test]
fn total_power_is_the_meters_own_and_may_be_export() {
    for case in CASES {
        let mut bank = (case.idle)();
        let (addr, unit) = case.total_power;
        set_f32(&mut bank, addr, -4_600.4 / unit);
        assert_eq!(reading(case, &bank).power_w, -4_600, "{}", case.key);
    }
}

#[test]
fn nan_infinite_and_huge_values_are_invalid() {
    for case in CASES {
        let m = modbus(case.key);
        refuses_invalid_floats(case.idle, m.reads, |blocks| m.decode(blocks), case.wild);
    }
}

#[test]
fn short_or_missing_blocks_are_errors_not_panics() {
    for case in CASES {
        let m = modbus(case.key);
        refuses_short_answers(m.reads, |blocks| m.decode(blocks));
    }
}

#[test]
fn the_eastron_reads_stay_within_their_request_limit() {
    for key in ["meter_sdm630", "meter_sdm72dm"] {
        for r in modbus(key).reads {
            assert_eq!(r.table, Table::Input, "{key}");
            assert!(r.count <= 60, "{key}: at most 30 float values per request");
        }
    }
    // The SDM72D-M V1: one request for 0x0034..0x004B.
    let reads: Vec<(u16, u16)> = modbus("meter_sdm72dm")
        .reads
        .iter()
        .map(|r| (r.addr, r.count))
        .collect();
    assert_eq!(reads, vec![(0x0034, 24)]);
    assert!(modbus("meter_orno_we516")
        .reads
        .iter()
        .all(|r| r.table == Table::Holding));
}

// Register addresses: Eastron, "SDM630 Modbus Protocol": input registers
// 30001/30003/30005 (0x0000..) phase voltages, 30007.. (0x0006..) phase
// currents, 30013.. (0x000C..) phase powers, 30053 (0x0034) total system
// power, 30073/30075 (0x0048/0x004A) import/export kWh.

#[test]
fn decodes_the_words_of_a_real_sdm630() {
    // A real SDM630 read by mbmd over an RS-485 gateway (volkszaehler/mbmd
    // issue 63, 2020-01-02): `01 04 00 00 00 02` answered `43 67 af 55`,
    // which mbmd showed as "VoltageL1: 231.68"; `01 04 00 08 00 02`
    // (current L2) answered `40 88 fa 31`.
    let reads = modbus("meter_sdm630").reads;
    let blocks = answers_with(
        reads,
        &[(0x0000, &[0x4367, 0xaf55]), (0x0008, &[0x4088, 0xfa31])],
    );
    let m = meter_from(&blocks, decode("meter_sdm630"));
    assert_eq!(m.voltage_v, [232, 0, 0], "231.68 V rounds to 232 V");
    assert_eq!(m.current_ma, [0, 4281, 0], "4.2805 A on L2");
}

#[test]
fn decodes_the_words_of_a_real_eastron_phase() {
    // An Eastron meter's first phase as Tasmota logged it (arendst/Tasmota
    // issue 17671, 2023-01-10): FC04 0x0000 `43 67 5d f6` = 231.367 V,
    // 0x0006 `3e 8a 31 1e` = 0.2699 A, 0x000C `42 79 78 22` = 62.367 W.
    let reads = modbus("meter_sdm630").reads;
    let blocks = answers_with(
        reads,
        &[
            (0x0000, &[0x4367, 0x5df6]),
            (0x0006, &[0x3e8a, 0x311e]),
            (0x000c, &[0x4279, 0x7822]),
        ],
    );
    let m = meter_from(&blocks, decode("meter_sdm630"));
    assert_eq!((m.voltage_v[0], m.current_ma[0]), (231, 270));
    // The same current with the phase exporting (power negated, sign bit set).
    let blocks = answers_with(
        reads,
        &[(0x0006, &[0x3e8a, 0x311e]), (0x000c, &[0xc279, 0x7822])],
    );
    assert_eq!(
        meter_from(&blocks, decode("meter_sdm630")).current_ma[0],
        -270
    );
}

#[test]
fn decodes_the_import_energy_words_of_a_real_eastron_meter() {
    // Register 0x0048 (import kWh, the same address in Eastron's SDM230 and
    // SDM630 protocols) of a real SDM230 logged on the bus of a Solax
    // inverter (syssi/esphome-solax-x1-mini issue 20, 2022-05-04):
    // `01 04 00 48 00 02` answered `46 2a 75 21` = 10909.28 kWh.
    let reads = modbus("meter_sdm630").reads;
    let blocks = answers_with(reads, &[(0x0048, &[0x462a, 0x7521])]);
    let m = meter_from(&blocks, decode("meter_sdm630"));
    assert_eq!((m.import_wh, m.export_wh), (10_909_282, 0));
}

#[test]
fn decodes_what_a_real_sdm72_showed() {
    // Eastron, "SDM72D-M user manual" (input registers 30053, 30073, 30075
    // = 0x0034 total system power, 0x0048/0x004A import/export kWh). A real
    // SDM72 read by nmakel/sdm_modbus (pull request 6, 2021-07-25): "Total
    // system power: 6452.00W, Total Import KWh: 4485.62kWh, Total Export
    // KWh: 28.77kWh"; the words are those floats (6452.0 = 45c9a000,
    // 4485.62 = 458c2cf6, 28.77 = 41e628f6).
    let reads = modbus("meter_sdm72dm").reads;
    let blocks = answers_with(
        reads,
        &[
            (0x0034, &[0x45c9, 0xa000]),
            (0x0048, &[0x458c, 0x2cf6]),
            (0x004a, &[0x41e6, 0x28f6]),
        ],
    );
    let m = meter_from(&blocks, decode("meter_sdm72dm"));
    assert_eq!(m.power_w, 6452);
    assert_eq!((m.import_wh, m.export_wh), (4_485_620, 28_770));
    assert_eq!(m.current_ma, [9351; 3], "6452 W / (3 × 230 V)");
    assert!(!m.per_phase);
}

#[test]
fn the_sdm72_spreads_the_power_over_three_phases_at_230_v() {
    let case = &CASES[2];
    let mut bank = meters::sdm72dm();
    set_sdm72dm(&mut bank, 6_900.4, 12_345.678, 0.5);
    let m = reading(case, &bank);
    assert_eq!(m.power_w, 6_900);
    assert_eq!(m.current_ma, [10_001; 3], "6900.4 W / 690 V = 10.0006 A");
    assert_eq!(m.voltage_v, [230; 3]);
    assert_eq!((m.import_wh, m.export_wh), (12_345_678, 500));
    assert!(!m.per_phase);

    set_sdm72dm(&mut bank, -2_300.0, 12_345.678, 987.654);
    let m = reading(case, &bank);
    assert_eq!(m.power_w, -2_300);
    assert_eq!(m.current_ma, [-3_333; 3], "export: negative currents");
    assert_eq!(m.export_wh, 987_654);
}

// Register addresses: ORNO, "OR-WE-516 register list"
// (files.orno.pl/support/Others/ORNO/ORWE516_5902560322415/OR-WE-516_rejestry.pdf):
// holding registers, float32: 0x000E/10/12 voltages, 0x0014 frequency,
// 0x0016/18/1A currents, 0x001C total and 0x001E/20/22 phase active power
// (kW), 0x0108 forward and 0x0110 reverse active energy (kWh).

#[test]
fn decodes_the_words_of_a_real_we_516() {
    // A WE-516/517 with only L3 connected, read by mbmd (volkszaehler/mbmd
    // pull request 129, 2020-06-02): 0x000E and 0x0010 answered 0, 0x0012
    // `43 71 00 00` = 241 V, 0x0014 (frequency, between the voltages and the
    // currents) `42 48 1e b8` = 50.03 Hz, the currents and powers 0. A
    // decoder one register pair off would show 50 V.
    let reads = modbus("meter_orno_we516").reads;
    let blocks = answers_with(
        reads,
        &[(0x0012, &[0x4371, 0x0000]), (0x0014, &[0x4248, 0x1eb8])],
    );
    let m = meter_from(&blocks, decode("meter_orno_we516"));
    assert_eq!(m.voltage_v, [0, 0, 241]);
    assert_eq!((m.current_ma, m.power_w), ([0; 3], 0));
    // The same meter's energy registers (0x0130 and 0x0132, tariff 1)
    // answered `3c 23 d7 0a` = 0.01 kWh: that float at the import and
    // export addresses of the register list.
    let blocks = answers_with(
        reads,
        &[(0x0108, &[0x3c23, 0xd70a]), (0x0110, &[0x3c23, 0xd70a])],
    );
    let m = meter_from(&blocks, decode("meter_orno_we516"));
    assert_eq!((m.import_wh, m.export_wh), (10, 10));
}
