//! The chain walk and the models' decoding, on words laid out by hand; the
//! integration tests read a chain that PyPI pysunspec2 lays out.

use super::chain::{walk, Walk};
use super::models::Want;
use super::SunSpec;
use crate::drivers::registry::{Discover, Step};
use crate::drivers::{Read, Reading};

/// "SunS", a common model, the models given (id, words after the header),
/// and the end marker unless `end` is false: the answers a walk gets.
fn chain(models: &[(u16, Vec<u16>)], end: bool) -> Vec<u16> {
    let mut words = vec![0x5375, 0x6e53, 1, 66];
    let mut common = vec![0; 66];
    common[..4].copy_from_slice(&[u16::from_be_bytes(*b"Ac"), u16::from_be_bytes(*b"me"), 0, 0]);
    common[16] = u16::from_be_bytes(*b"X1");
    common[48] = u16::from_be_bytes(*b"42");
    words.extend(common);
    for (id, body) in models {
        words.push(*id);
        words.push(u16::try_from(body.len()).expect("short"));
        words.extend(body);
    }
    if end {
        words.extend([0xffff, 0]);
    }
    words
}

/// Runs the walk against `words` (held from 40000 on) as the device actor
/// does; a read past them is the device's refusal.
fn run(want: Want, words: &[u16]) -> Result<Step, String> {
    run_at(want, 40000, words)
}

/// The same with `words` held from `base` on.
fn run_at(want: Want, base: u16, words: &[u16]) -> Result<Step, String> {
    let d = SunSpec { want };
    let mut answers: Vec<(Read, Vec<u16>)> = Vec::new();
    for _ in 0..100 {
        match d.next(&answers).map_err(|e| e.to_string())? {
            Step::Read {
                read,
                what,
                refusable,
            } => {
                let got = read
                    .addr
                    .checked_sub(base)
                    .map(usize::from)
                    .and_then(|from| words.get(from..from + usize::from(read.count)));
                match got {
                    Some(got) => answers.push((read, got.to_vec())),
                    None if refusable => answers.push((read, Vec::new())),
                    None => return Err(format!("refused: {what} at {}", read.addr)),
                }
            }
            found => return Ok(found),
        }
    }
    Err("no end".into())
}

/// A model 203 body: 10.12 A and 10.10 A on L1 and L2, L3 not implemented,
/// -4623 W, 230.1 V, 12 345 670 Wh drawn.
fn meter_203() -> Vec<u16> {
    let mut m = vec![0x8000; 105];
    let at = |i: usize| i - 2;
    m[at(3)] = 1012;
    m[at(4)] = 1010;
    m[at(6)] = (-2i16) as u16;
    m[at(8)] = 2301;
    m[at(9)] = 2312;
    m[at(15)] = (-1i16) as u16;
    m[at(18)] = (-4623i16) as u16;
    m[at(19)] = (-2312i16) as u16;
    m[at(20)] = (-2311i16) as u16;
    m[at(22)] = 0;
    for i in 38..54 {
        m[at(i)] = 0;
    }
    m[at(46)] = 188;
    m[at(47)] = 24902;
    m[at(54)] = 0;
    m
}

fn reading(want: Want, words: &[u16]) -> Reading {
    let Ok(Step::Found(layout)) = run(want, words) else {
        panic!("not found")
    };
    layout.decode(&polled(&*layout, words)).expect("decodes")
}

/// The answers to a poll of `layout`, from `words` held from 40000 on.
fn polled(layout: &dyn crate::drivers::registry::Layout, words: &[u16]) -> Vec<Vec<u16>> {
    layout
        .reads()
        .iter()
        .map(|r| {
            let from = usize::from(r.addr - 40000);
            words[from..from + usize::from(r.count)].to_vec()
        })
        .collect()
}

#[test]
fn a_meter_model_is_read_with_its_scale_factors_and_unimplemented_points() {
    let words = chain(
        &[(120, vec![0; 26]), (64900, vec![7; 5]), (203, meter_203())],
        true,
    );
    let Reading::Meter(m) = reading(Want::Meter, &words) else {
        panic!("a meter")
    };
    assert_eq!(m.power_w, -4623);
    assert_eq!(m.current_ma, [-10_120, -10_100, 0]);
    assert_eq!(m.voltage_v, [230, 231, 230]);
    assert_eq!(m.import_wh, 12_345_670);
    assert_eq!(m.export_wh, 0, "not accumulated");
    assert!(m.per_phase);
    let Ok(Step::Found(layout)) = run(Want::Meter, &words) else {
        panic!("found")
    };
    assert_eq!(layout.model(), "Acme,X1,SunSpec 203,,42");
}

#[test]
fn a_wrong_marker_a_missing_end_and_a_broken_chain_say_so() {
    let mut words = chain(&[(203, meter_203())], true);
    words[1] = u16::from_be_bytes(*b"nX");
    let e = run(Want::Meter, &words).unwrap_err();
    assert_eq!(
        e,
        "SunSpec: no \"SunS\" marker at 40000 (found [5375, 6e58] \"SunX\"), 0 (refused), 50000 (refused)"
    );

    let words = chain(&[(203, meter_203())], false);
    let e = run(Want::Meter, &words).unwrap_err();
    assert_eq!(
        e,
        "refused: the model header after model 203 (a chain without an end marker ends here) at 40177"
    );

    let mut words = chain(&[(203, meter_203())], false);
    words.extend([0, 0]);
    let e = run(Want::Meter, &words).unwrap_err();
    assert!(e.contains("model id 0 at 40177"), "{e}");

    let words = chain(&[(120, vec![0; 26])], true);
    let e = run(Want::Meter, &words).unwrap_err();
    assert_eq!(
        e,
        "SunSpec: no meter model (201-204, 211-214) in the chain (models 1, 120)"
    );
    let e = run(Want::Inverter, &chain(&[(203, meter_203())], true)).unwrap_err();
    assert!(e.contains("no inverter model (101-103, 111-113)"), "{e}");
}

#[test]
fn a_model_too_short_or_a_wild_scale_factor_is_an_error() {
    let e = run(Want::Meter, &chain(&[(203, vec![0; 20])], true)).unwrap_err();
    assert!(e.contains("too short"), "{e}");
    let mut body = meter_203();
    body[22 - 2] = 30; // W_SF
    let words = chain(&[(203, body)], true);
    let Ok(Step::Found(layout)) = run(Want::Meter, &words) else {
        panic!("found")
    };
    let r = &layout.reads()[0];
    let from = usize::from(r.addr - 40000);
    let block = words[from..from + usize::from(r.count)].to_vec();
    let e = layout.decode(&[block]).unwrap_err().to_string();
    assert!(e.contains("W_SF is 30"), "{e}");
}

#[test]
fn a_float_inverter_gives_its_output_as_positive_power() {
    let f = |v: f32| [(v.to_bits() >> 16) as u16, v.to_bits() as u16];
    // NaN everywhere: not implemented; points at their offsets from the
    // header.
    let mut body = vec![0x7fc0; 60];
    let mut set = |at: usize, v: f32| body[at - 2..at - 2 + 2].copy_from_slice(&f(v));
    set(4, 10.0);
    set(6, 10.5);
    set(8, 9.5);
    set(16, 230.0);
    set(22, 6900.0);
    set(32, 1_234_567.0);
    let words = chain(&[(113, body)], true);
    let Reading::Meter(m) = reading(Want::Inverter, &words) else {
        panic!("a meter")
    };
    assert_eq!(m.power_w, 6900);
    assert_eq!(m.current_ma, [10_000, 10_500, 9500]);
    assert_eq!(
        m.voltage_v,
        [230, 230, 230],
        "L2, L3 not implemented: nominal"
    );
    assert_eq!(m.import_wh, 1_234_567);
}

#[test]
fn the_walk_starts_at_the_marker() {
    assert_eq!(
        walk(&[]).expect("a step"),
        Walk::Read {
            read: Read::holding(40000, 2),
            what: "the \"SunS\" marker at 40000".into(),
            refusable: true,
        }
    );
}

/// A model 124 body (after its header): 87.5 % charged (ChaState 875,
/// SF -1), charging, 5000 W at most (WChaMax 50, SF 2), 51.2 V, 98 Ah
/// available; the rest not implemented.
fn storage_124() -> Vec<u16> {
    let mut m = vec![0xffff; 24];
    let at = |i: usize| i - 2;
    m[at(2)] = 50;
    m[at(8)] = 875;
    m[at(9)] = 98;
    m[at(10)] = 512;
    m[at(11)] = 4;
    for i in 18..26 {
        m[at(i)] = 0x8000;
    }
    m[at(18)] = 2;
    m[at(22)] = (-1i16) as u16;
    m[at(23)] = 0;
    m[at(24)] = (-1i16) as u16;
    m
}

#[test]
fn a_storage_model_beside_is_read_where_present() {
    let words = chain(&[(203, meter_203()), (124, storage_124())], true);
    let Reading::Meter(m) = reading(Want::Meter, &words) else {
        panic!("a meter")
    };
    assert_eq!(m.power_w, -4623, "the meter is read as before");
    assert_eq!(
        m.storage,
        Some(crate::drivers::Storage {
            soc: Some(88),
            state: Some("charging"),
            max_charge_w: Some(5000),
            voltage: Some(51),
            available_ah: Some(98),
        })
    );
    let Reading::Meter(m) = reading(Want::Meter, &chain(&[(203, meter_203())], true)) else {
        panic!("a meter")
    };
    assert_eq!(m.storage, None, "no model 124: no battery");
}

#[test]
fn a_storage_model_too_short_or_out_of_range_is_an_error() {
    let e = run(
        Want::Meter,
        &chain(&[(203, meter_203()), (124, vec![0; 10])], true),
    )
    .unwrap_err();
    assert!(
        e.contains("storage model 124 at 40177 is 10 registers long, not 24"),
        "{e}"
    );
    let decode = |body: Vec<u16>| {
        let words = chain(&[(203, meter_203()), (124, body)], true);
        let Ok(Step::Found(layout)) = run(Want::Meter, &words) else {
            panic!("found")
        };
        layout
            .decode(&polled(&*layout, &words))
            .unwrap_err()
            .to_string()
    };
    let mut body = storage_124();
    body[8 - 2] = 1300;
    let e = decode(body);
    assert!(e.contains("ChaState is 130 %, not 0 to 100"), "{e}");
    let mut body = storage_124();
    body[11 - 2] = 9;
    let e = decode(body);
    assert!(e.contains("ChaSt is 9, not 1 to 7"), "{e}");
}

#[test]
fn a_chain_at_0_or_50000_is_found_there() {
    let words = chain(&[(203, meter_203())], true);
    for base in [0, 50000] {
        let Ok(Step::Found(layout)) = run_at(Want::Meter, base, &words) else {
            panic!("not found at {base}")
        };
        assert_eq!(layout.model(), "Acme,X1,SunSpec 203,,42");
        assert!(
            layout.reads().iter().all(|r| r.addr >= base),
            "{:?}",
            layout.reads()
        );
    }
}
