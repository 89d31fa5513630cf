//! Bad definitions: each is refused with its file and field named.

use super::parse;
use crate::drivers::definition::DefinitionError;

/// A small valid meter; `edit` changes its text.
const METER: &str = r#"
name = "test_meter"
kind = "meter"
title = "Test meter"
maker = "Maker"
device = "Meter"
source = "Maker, register table 1.0"
function = 4

[readings]
power = { addr = 0x0034, type = "f32" }
current = [
    { addr = 0x0006, type = "f32" },
    { addr = 0x0008, type = "f32" },
    { addr = 0x000a, type = "f32" },
]
import_energy = { addr = 0x0048, type = "f32" }
"#;

fn refused(text: &str) -> DefinitionError {
    parse("defs/test_meter.toml", text).expect_err("refused")
}

#[test]
fn a_valid_meter_loads_with_its_reads_joined() {
    let d = parse("defs/test_meter.toml", METER).expect("valid");
    assert_eq!(d.key, "meter_test_meter");
    let reads: Vec<(u16, u16)> = d.reads.iter().map(|r| (r.addr, r.count)).collect();
    assert_eq!(reads, vec![(0x0006, 6), (0x0034, 2), (0x0048, 2)]);
}

#[test]
fn an_unknown_type_names_the_file_and_field() {
    let e = refused(&METER.replace(
        r#"addr = 0x0034, type = "f32""#,
        r#"addr = 0x0034, type = "f24""#,
    ));
    assert_eq!(e.file, "defs/test_meter.toml");
    assert_eq!(e.field, "readings.power.type");
    assert!(e.message.contains("f24"), "{e}");
    assert!(e
        .to_string()
        .starts_with("definition defs/test_meter.toml: readings.power.type: "));
}

#[test]
fn an_overlapping_f32_names_both_registers() {
    // 0x0007 lies inside the current of L1 (0x0006..0x0007).
    let e = refused(&METER.replace("addr = 0x0008", "addr = 0x0007"));
    assert_eq!(e.field, "readings.current[1]");
    assert!(
        e.message.contains("overlap readings.current[0] (6..7)"),
        "{e}"
    );
}

#[test]
fn an_f32_of_odd_length_is_refused() {
    let e = refused(&METER.replace(
        r#"addr = 0x0034, type = "f32""#,
        r#"addr = 0x0034, type = "f32", words = 3"#,
    ));
    assert_eq!(e.field, "readings.power.words");
    assert_eq!(e.message, "f32 takes 2 registers, not 3");
}

#[test]
fn a_scale_of_zero_is_refused() {
    let e = refused(&METER.replace(
        r#"addr = 0x0048, type = "f32""#,
        r#"addr = 0x0048, type = "f32", scale = 0.0"#,
    ));
    assert_eq!(e.field, "readings.import_energy.scale");
    assert!(e.message.contains("other than 0"), "{e}");
}

#[test]
fn a_missing_required_reading_is_refused() {
    let text = METER.replace(r#"power = { addr = 0x0034, type = "f32" }"#, "");
    let e = refused(&text);
    assert_eq!(e.field, "readings.power");
    assert_eq!(e.message, "missing: a meter needs its power");
    let wallbox = METER.replace(r#"kind = "meter""#, r#"kind = "wallbox""#);
    let e = refused(&wallbox);
    assert_eq!(e.field, "readings.state");
}

#[test]
fn unknown_fields_bad_functions_and_broken_toml_are_refused() {
    let e = refused(&METER.replace("function = 4", "function = 4\ncolour = \"red\""));
    assert!(e.message.contains("colour"), "{e}");
    let e = refused(&METER.replace("function = 4", "function = 6"));
    assert_eq!(e.field, "function");
    let e = refused("name = ");
    assert_eq!(e.field, "");
    let e = refused(&METER.replace("test_meter", "Test Meter"));
    assert_eq!(e.field, "name");
}

#[test]
fn a_wallbox_limit_must_be_one_holding_register() {
    let text = r#"
name = "w"
kind = "wallbox"
title = "W"
maker = "M"
device = "D"
source = "M, table 1"
[readings]
state = { addr = 1, type = "u16" }
[wallbox]
min_current = 6.0
max_current = 16.0
current_limit = { function = 4, addr = 2, type = "u16" }
[wallbox.states]
"0" = 1
"#;
    let e = refused(text);
    assert_eq!(e.field, "wallbox.current_limit");
    let e = refused(
        &text
            .replace("function = 4, ", "")
            .replace("\"0\" = 1", "\"0\" = 9"),
    );
    assert_eq!(e.field, "wallbox.states.0");
    assert!(parse("w.toml", &text.replace("function = 4, ", "")).is_ok());
    let e = refused(&text.replace(
        "function = 4, addr = 2, type = \"u16\"",
        "addr = 2, type = \"u16\", byte = \"low\"",
    ));
    assert_eq!(e.field, "wallbox.current_limit.byte");
    assert_eq!(
        e.message,
        "a value written to the device takes its whole register"
    );
}

const F32_WALLBOX: &str = r#"
name = "w"
kind = "wallbox"
title = "W"
maker = "M"
device = "D"
source = "M, table 1"
[readings]
state = { addr = 1, type = "u16" }
[wallbox]
min_current = 6.0
max_current = 32.0
current_limit = { addr = 1210, type = "f32" }
rewrite_every_s = 20
[wallbox.states]
"0" = 1
"#;

#[test]
fn an_f32_limit_is_written_whole_and_read_back_from_both_words() {
    use crate::drivers::registry::WallboxControl;
    let d = parse("w.toml", F32_WALLBOX).expect("valid");
    // 10.5 A is 0x4128_0000: both registers, high word first.
    assert_eq!(d.words(10_500, true), vec![(1210, 0x4128), (1211, 0)]);
    assert_eq!(
        d.words(3000, true),
        vec![(1210, 0), (1211, 0)],
        "below 6 A: 0"
    );
    assert_eq!(d.written_together(), Some((1210, 2)));
    assert_eq!(d.rewrite_every(), Some(std::time::Duration::from_secs(20)));
    let written = |addr| match addr {
        1210 => Some(0x4128),
        1211 => Some(0),
        _ => None,
    };
    assert_eq!(d.written_ma(&written), Some(10_500));
    let half = |addr| (addr == 1210).then_some(0x4128);
    assert_eq!(d.written_ma(&half), None, "one word is not a limit");
    let low_first = parse(
        "w.toml",
        &F32_WALLBOX.replace(
            r#"type = "f32" }"#,
            r#"type = "f32", word_order = "low_first" }"#,
        ),
    )
    .expect("valid");
    assert_eq!(
        low_first.words(10_500, true),
        vec![(1210, 0), (1211, 0x4128)]
    );
}

#[test]
fn a_limit_of_a_wide_integer_and_a_rewrite_outside_its_range_are_refused() {
    let e = refused(&F32_WALLBOX.replace(r#"type = "f32" }"#, r#"type = "u32" }"#));
    assert_eq!(e.field, "wallbox.current_limit");
    assert!(e.message.contains("u16, i16 or f32"), "{e}");
    let e = refused(&F32_WALLBOX.replace("rewrite_every_s = 20", "rewrite_every_s = 0"));
    assert_eq!(e.field, "wallbox.rewrite_every_s");
}

#[test]
fn fed_power_apart_needs_the_drawn_power() {
    let e = refused(&METER.replace(
        r#"power = { addr = 0x0034, type = "f32" }"#,
        r#"export_power = { addr = 0x0034, type = "f32" }"#,
    ));
    assert_eq!(e.field, "readings.export_power");
}

#[test]
fn a_byte_is_one_of_a_u16_that_is_only_read() {
    let e = refused(&METER.replace(
        r#"addr = 0x0048, type = "f32""#,
        r#"addr = 0x0048, type = "f32", byte = "low""#,
    ));
    assert_eq!(e.field, "readings.import_energy.byte");
    assert_eq!(e.message, "a low byte is one of a u16, not of a f32");
    let e = refused(&METER.replace(
        r#"addr = 0x0048, type = "f32""#,
        r#"addr = 0x0048, type = "u16", byte = "middle""#,
    ));
    assert_eq!(e.field, "readings.import_energy.byte");
    let d = parse(
        "defs/test_meter.toml",
        &METER.replace(
            r#"addr = 0x0048, type = "f32""#,
            r#"addr = 0x0048, type = "u16", byte = "high""#,
        ),
    )
    .expect("a u16's byte");
    let map = d.registers.iter().find(|r| r.addr == 0x0048).expect("map");
    assert_eq!(map.unit, "high byte of u16 x 1 kWh");
}
