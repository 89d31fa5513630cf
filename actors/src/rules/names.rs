//! The names a formula may read, checked when a formula is set: a name
//! that cannot exist (a typo, a device that is not configured) would
//! otherwise make a limit 0 or a rule never match without a word.

use super::formula::{Expr, Func};

pub const DATE: &[&str] = &[
    "year",
    "month",
    "day",
    "yearday",
    "weekday",
    "hour",
    "minute",
    "second",
    "dayminute",
    "daysecond",
    "dst",
    "timestamp",
];

pub const CM: &[&str] = &[
    "_price_level",
    "_max_total_current",
    "_max_total_evse_current",
    "_num_charging",
    "_surplus",
    "_org_surplus",
];

/// The global meters with all the per-phase fields (`GM.surplus` has
/// `current` and `power_w` only).
pub const GM_METERS: &[&str] = &[
    "grid_demand",
    "consumed",
    "produced",
    "consumed_evse",
    "available_evse",
    "storage_home",
    "storage_all",
    "error",
];

pub const PHASE_FIELDS: &[&str] = &[
    "current",
    "current_l1",
    "current_l2",
    "current_l3",
    "power_w",
];

pub const PARAMS: &[&str] = &[
    "max_total_current",
    "max_total_evse_current",
    "reserve_current",
    "voltage",
    "price_level",
];

pub const INPUTS: &[&str] = &["input1", "input2"];

/// A device's fields (`E1.state`, `M1.current_l1`, …).
pub const DEVICE_FIELDS: &[&str] = &[
    "state",
    "offered",
    "input1",
    "input2",
    "current",
    "current_l1",
    "current_l2",
    "current_l3",
    "power_w",
    "import_wh",
    "export_wh",
];

/// The names a formula reads, lower case and split at dots; `param(x)` as
/// `param.x`.
#[derive(Debug, Default)]
struct Read {
    names: Vec<Vec<String>>,
    /// Names asked about with `exists(…)`: the formula copes with their
    /// absence, so they may be read elsewhere in it too.
    guarded: Vec<Vec<String>>,
}

fn collect(expr: &Expr, read: &mut Read) {
    match expr {
        Expr::Num(_) => {}
        Expr::Name(path) => read.names.push(path.clone()),
        Expr::Unary(_, a) => collect(a, read),
        Expr::Binary(_, a, b) => {
            collect(a, read);
            collect(b, read);
        }
        Expr::Ternary(a, b, c) => {
            collect(a, read);
            collect(b, read);
            collect(c, read);
        }
        Expr::Call(Func::Exists, args) => {
            let mut inner = Read::default();
            args.iter().for_each(|a| collect(a, &mut inner));
            read.guarded.extend(inner.names);
            read.guarded.extend(inner.guarded);
        }
        Expr::Call(Func::Param, args) => {
            if let Some(Expr::Name(path)) = args.first() {
                let mut full = vec!["param".to_string()];
                full.extend(path.iter().cloned());
                read.names.push(full);
            }
        }
        Expr::Call(_, args) => args.iter().for_each(|a| collect(a, read)),
    }
}

/// Checks that every name `expr` reads can exist with these devices
/// (dev_ids, any case) and charging-manager variables (`CM.<name>`, any
/// case). A device or variable that is missing is excused where the
/// formula asks `exists(…)` about it; a field or global name that cannot
/// exist never is. The error names the first such name, and why.
pub fn check(expr: &Expr, dev_ids: &[&str], cm_vars: &[&str]) -> Result<(), String> {
    let mut read = Read::default();
    collect(expr, &mut read);
    for path in read.names.iter().chain(&read.guarded) {
        match check_one(path, dev_ids, cm_vars) {
            Ok(()) => {}
            Err(Problem::NoDevice | Problem::NoVariable) if read.guarded.contains(path) => {}
            Err(problem) => {
                return Err(format!(
                    "unknown name {}: {}",
                    path.join("."),
                    problem.why(path)
                ))
            }
        }
    }
    Ok(())
}

/// The site limit may not read what is computed from it.
pub fn check_limit(expr: &Expr) -> Result<(), String> {
    let mut read = Read::default();
    collect(expr, &mut read);
    let circular = |p: &&Vec<String>| match p.as_slice() {
        [a, b] => {
            (a == "param" && b == "max_total_current") || (a == "cm" && b == "_max_total_current")
        }
        [a, b, _] => a == "gm" && b == "available_evse",
        _ => false,
    };
    match read.names.iter().chain(&read.guarded).find(circular) {
        Some(p) => Err(format!(
            "{} is computed from the site limit itself",
            p.join(".")
        )),
        None => Ok(()),
    }
}

enum Problem {
    NoDevice,
    NoVariable,
    Unknown(String),
}

impl Problem {
    fn why(&self, path: &[String]) -> String {
        match self {
            Problem::NoDevice => {
                let dev = path
                    .first()
                    .map(|d| d.to_ascii_uppercase())
                    .unwrap_or_default();
                format!("no device {dev} is configured (a formula may test exists({dev}.…))")
            }
            Problem::NoVariable => {
                let name = path.get(1).map(String::as_str).unwrap_or_default();
                format!(
                    "no variable {name} is set (set_cm_vars&name={name}&val=…); CM also has {}",
                    CM.join(", ")
                )
            }
            Problem::Unknown(why) => why.clone(),
        }
    }
}

fn check_one(path: &[String], dev_ids: &[&str], cm_vars: &[&str]) -> Result<(), Problem> {
    let one_of = |field: &str, known: &[&str], what: &str| {
        if known.contains(&field) {
            Ok(())
        } else {
            Err(Problem::Unknown(format!("{what} has {}", known.join(", "))))
        }
    };
    let Some((head, rest)) = path.split_first() else {
        return Err(Problem::Unknown("an empty name".into()));
    };
    match (head.as_str(), rest) {
        ("date", [field]) => one_of(field, DATE, "date"),
        ("cm", [field]) if field.starts_with('_') => one_of(field, CM, "CM"),
        ("cm", [field]) if cm_vars.iter().any(|v| v.eq_ignore_ascii_case(field)) => Ok(()),
        ("cm", [_]) => Err(Problem::NoVariable),
        ("param", [field]) => one_of(field, PARAMS, "param()"),
        ("pb", [field]) => one_of(field, INPUTS, "PB"),
        ("gm", [meter, field]) if meter == "surplus" => {
            one_of(field, &["current", "power_w"], "GM.surplus")
        }
        ("gm", [meter, field]) => {
            if !GM_METERS.contains(&meter.as_str()) {
                return Err(Problem::Unknown(format!("GM has surplus, {}", GM_METERS.join(", "))));
            }
            one_of(field, PHASE_FIELDS, "a global meter")
        }
        ("date" | "cm" | "param" | "pb", _) => Err(Problem::Unknown(format!(
            "{} names have one part after the dot",
            head.to_ascii_uppercase()
        ))),
        ("gm", _) => Err(Problem::Unknown(
            "global meters are GM.<meter>.<field>, e.g. GM.surplus.power_w".into(),
        )),
        (dev_id, [field]) if dev_ids.iter().any(|d| d.eq_ignore_ascii_case(dev_id)) => {
            one_of(field, DEVICE_FIELDS, "a device")
        }
        (_, [field]) => {
            // A field no device has is a typo even where the device is missing.
            one_of(field, DEVICE_FIELDS, "a device")?;
            Err(Problem::NoDevice)
        }
        _ => Err(Problem::Unknown(
            "names are date.…, CM.…, GM.….…, PB.…, param(…) or a device's dev_id and field, e.g. M1.current".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::formula::parse;

    fn checked(text: &str) -> Result<(), String> {
        check(&parse(text).unwrap(), &["E1", "M3"], &["GridLimit"])
    }

    #[test]
    fn names_that_can_exist_pass() {
        for text in [
            "16000 - M3.current",
            "min(16000, 29000 - m3.CURRENT_L2)",
            "date.dayminute >= 480 ? 8000 : 0",
            "E1.state == 3 && E1.input1 || PB.input2",
            "GM.surplus.power_w + GM.available_evse.current_l3 + GM.error.current",
            "CM._price_level <= -5 ? param(max_total_current) : param(voltage)",
            "exists(M9.current) ? M9.current : 6000",
            "CM.gridlimit * 1000 + CM.GRIDLIMIT",
            "exists(CM.boost) ? CM.boost : 0",
        ] {
            assert_eq!(checked(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn names_that_cannot_exist_are_named_with_the_reason() {
        for (text, says) in [
            (
                "M9.current",
                "unknown name m9.current: no device M9 is configured",
            ),
            ("max_current", "unknown name max_current: names are"),
            (
                "M3.curent",
                "unknown name m3.curent: a device has state, offered",
            ),
            ("date.weekdy", "date has year"),
            ("GM.surplus.current_l1", "GM.surplus has current, power_w"),
            ("param(fuse)", "param() has max_total_current"),
            (
                "1 + (E1.state ? CM.boost : 0)",
                "unknown name cm.boost: no variable boost is set (set_cm_vars&name=boost&val=…); CM also has _price_level",
            ),
            ("CM._boost", "unknown name cm._boost: CM has _price_level"),
            (
                "exists(M1.curent) ? M1.curent : 6000",
                "unknown name m1.curent: a device has",
            ),
            ("exists(date.hours) ? 1 : 0", "date has year"),
            ("GM.surplu.current", "GM has surplus, grid_demand"),
            ("GM.surplus", "global meters are GM.<meter>.<field>"),
            ("GM.grid.current", "GM has surplus, grid_demand"),
        ] {
            let err = checked(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_site_limit_may_not_read_itself() {
        for text in [
            "param(max_total_current)",
            "CM._max_total_current - 1000",
            "GM.available_evse.current",
        ] {
            assert!(check_limit(&parse(text).unwrap()).is_err(), "{text}");
        }
        assert_eq!(check_limit(&parse("32000 - M3.current").unwrap()), Ok(()));
    }
}
