//! The vocabulary of names a formula may read, declared once: the checker
//! (`check`, when a formula is set) and the cycle's lookup (which reads the
//! values, `supervisor/site/names.rs`) both go through [`parse`], so a name
//! one of them knows the other knows too. A name that cannot exist (a typo,
//! a device that is not configured) would otherwise make a limit 0 or a
//! rule never match without a word.

use super::formula::{Expr, Func};

/// A name a formula reads, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// `date.<field>`: the local date and time.
    Date(DateField),
    /// `CM._<field>`: a value the charging manager computes.
    Cm(CmField),
    /// `CM.<name>`: a charging-manager variable (`set_cm_vars`), lower case.
    CmVar(&'a str),
    /// `param(<name>)`: a site parameter.
    Param(ParamField),
    /// `PB.input1`, `PB.input2`: the inputs of the Power Brain.
    Pb(Input),
    /// `GM.surplus.<field>`: what goes out to the grid plus what the cars draw.
    Surplus(SurplusField),
    /// `GM.<meter>.<field>`: a global meter, per building phase.
    Global(GlobalMeter, PhaseField),
    /// `<dev_id>.<field>`: a device's value (dev_id lower case).
    Device(&'a str, DeviceField),
}

/// The names of one part of the vocabulary, as formulas spell them.
pub type Table<T> = &'static [(&'static str, T)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    Year,
    Month,
    Day,
    Yearday,
    Weekday,
    Hour,
    Minute,
    Second,
    Dayminute,
    Daysecond,
    Dst,
    Timestamp,
}

pub const DATE: Table<DateField> = &[
    ("year", DateField::Year),
    ("month", DateField::Month),
    ("day", DateField::Day),
    ("yearday", DateField::Yearday),
    ("weekday", DateField::Weekday),
    ("hour", DateField::Hour),
    ("minute", DateField::Minute),
    ("second", DateField::Second),
    ("dayminute", DateField::Dayminute),
    ("daysecond", DateField::Daysecond),
    ("dst", DateField::Dst),
    ("timestamp", DateField::Timestamp),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmField {
    PriceLevel,
    MaxTotalCurrent,
    MaxTotalEvseCurrent,
    NumCharging,
    /// `_surplus` and `_org_surplus`: there is no surplus formula, so the
    /// built-in value is both.
    Surplus,
}

pub const CM: Table<CmField> = &[
    ("_price_level", CmField::PriceLevel),
    ("_max_total_current", CmField::MaxTotalCurrent),
    ("_max_total_evse_current", CmField::MaxTotalEvseCurrent),
    ("_num_charging", CmField::NumCharging),
    ("_surplus", CmField::Surplus),
    ("_org_surplus", CmField::Surplus),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalMeter {
    GridDemand,
    Consumed,
    Produced,
    ConsumedEvse,
    /// The site limit less what is drawn that is not cars.
    AvailableEvse,
    StorageHome,
    StorageAll,
    /// Fault current: what the silent wallboxes with a car count as drawing.
    Error,
}

/// The global meters with all the per-phase fields (`GM.surplus` has
/// `current` and `power_w` only).
pub const GM_METERS: Table<GlobalMeter> = &[
    ("grid_demand", GlobalMeter::GridDemand),
    ("consumed", GlobalMeter::Consumed),
    ("produced", GlobalMeter::Produced),
    ("consumed_evse", GlobalMeter::ConsumedEvse),
    ("available_evse", GlobalMeter::AvailableEvse),
    ("storage_home", GlobalMeter::StorageHome),
    ("storage_all", GlobalMeter::StorageAll),
    ("error", GlobalMeter::Error),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseField {
    /// The largest phase's current.
    Current,
    /// One phase's current (0, 1, 2).
    Phase(usize),
    PowerW,
}

pub const PHASE_FIELDS: Table<PhaseField> = &[
    ("current", PhaseField::Current),
    ("current_l1", PhaseField::Phase(0)),
    ("current_l2", PhaseField::Phase(1)),
    ("current_l3", PhaseField::Phase(2)),
    ("power_w", PhaseField::PowerW),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurplusField {
    Current,
    PowerW,
}

pub const SURPLUS: Table<SurplusField> = &[
    ("current", SurplusField::Current),
    ("power_w", SurplusField::PowerW),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamField {
    MaxTotalCurrent,
    MaxTotalEvseCurrent,
    ReserveCurrent,
    Voltage,
    PriceLevel,
}

pub const PARAMS: Table<ParamField> = &[
    ("max_total_current", ParamField::MaxTotalCurrent),
    ("max_total_evse_current", ParamField::MaxTotalEvseCurrent),
    ("reserve_current", ParamField::ReserveCurrent),
    ("voltage", ParamField::Voltage),
    ("price_level", ParamField::PriceLevel),
];

/// A digital input: bit 0 or bit 1 of an input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    One,
    Two,
}

impl Input {
    /// 1 while the input is on in `inputs` (bit0 input 1, bit1 input 2).
    pub fn of(self, inputs: u8) -> i64 {
        let bit = match self {
            Input::One => 0,
            Input::Two => 1,
        };
        i64::from((inputs >> bit) & 1)
    }
}

pub const INPUTS: Table<Input> = &[("input1", Input::One), ("input2", Input::Two)];

/// A device's fields (`E1.state`, `M1.current_l1`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceField {
    /// A wallbox's state (1–6).
    State,
    /// The current a wallbox offers, mA.
    Offered,
    Input(Input),
    /// A meter's (or a wallbox's meter's) values.
    Meter(PhaseField),
    ImportWh,
    ExportWh,
}

pub const DEVICE_FIELDS: Table<DeviceField> = &[
    ("state", DeviceField::State),
    ("offered", DeviceField::Offered),
    ("input1", DeviceField::Input(Input::One)),
    ("input2", DeviceField::Input(Input::Two)),
    ("current", DeviceField::Meter(PhaseField::Current)),
    ("current_l1", DeviceField::Meter(PhaseField::Phase(0))),
    ("current_l2", DeviceField::Meter(PhaseField::Phase(1))),
    ("current_l3", DeviceField::Meter(PhaseField::Phase(2))),
    ("power_w", DeviceField::Meter(PhaseField::PowerW)),
    ("import_wh", DeviceField::ImportWh),
    ("export_wh", DeviceField::ExportWh),
];

/// The spellings of a table, for messages and tests.
pub fn spellings<T>(table: Table<T>) -> impl Iterator<Item = &'static str> {
    table.iter().map(|(name, _)| *name)
}

/// `field` from `table`, or what `what` has instead.
fn one_of<T: Copy>(field: &str, table: Table<T>, what: &str) -> Result<T, Problem> {
    table
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let known: Vec<&str> = spellings(table).collect();
            Problem::Unknown(format!("{what} has {}", known.join(", ")))
        })
}

/// The name `path` (lower case, split at dots; `param(x)` as `param.x`)
/// spells, whichever devices and variables there are; or why it spells none.
pub fn parse(path: &[String]) -> Result<Name<'_>, Problem> {
    let Some((head, rest)) = path.split_first() else {
        return Err(Problem::Unknown("an empty name".into()));
    };
    match (head.as_str(), rest) {
        ("date", [field]) => one_of(field, DATE, "date").map(Name::Date),
        ("cm", [field]) if field.starts_with('_') => one_of(field, CM, "CM").map(Name::Cm),
        ("cm", [name]) => Ok(Name::CmVar(name)),
        ("param", [field]) => one_of(field, PARAMS, "param()").map(Name::Param),
        ("pb", [field]) => one_of(field, INPUTS, "PB").map(Name::Pb),
        ("gm", [meter, field]) if meter == "surplus" => {
            one_of(field, SURPLUS, "GM.surplus").map(Name::Surplus)
        }
        ("gm", [meter, field]) => {
            let meters: Vec<&str> = spellings(GM_METERS).collect();
            let meter = one_of(meter, GM_METERS, "GM")
                .map_err(|_| Problem::Unknown(format!("GM has surplus, {}", meters.join(", "))))?;
            let field = one_of(field, PHASE_FIELDS, "a global meter")?;
            Ok(Name::Global(meter, field))
        }
        ("date" | "cm" | "param" | "pb", _) => Err(Problem::Unknown(format!(
            "{} names have one part after the dot",
            head.to_ascii_uppercase()
        ))),
        ("gm", _) => Err(Problem::Unknown(
            "global meters are GM.<meter>.<field>, e.g. GM.surplus.power_w".into(),
        )),
        (dev_id, [field]) => {
            one_of(field, DEVICE_FIELDS, "a device").map(|field| Name::Device(dev_id, field))
        }
        _ => Err(Problem::Unknown(
            "names are date.…, CM.…, GM.….…, PB.…, param(…) or a device's dev_id and field, e.g. M1.current".into(),
        )),
    }
}

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
    let circular = |p: &&Vec<String>| {
        matches!(
            parse(p),
            Ok(Name::Param(ParamField::MaxTotalCurrent)
                | Name::Cm(CmField::MaxTotalCurrent)
                | Name::Global(GlobalMeter::AvailableEvse, _))
        )
    };
    match read.names.iter().chain(&read.guarded).find(circular) {
        Some(p) => Err(format!(
            "{} is computed from the site limit itself",
            p.join(".")
        )),
        None => Ok(()),
    }
}

/// Why a name cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
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
                let builtin: Vec<&str> = spellings(CM).collect();
                format!(
                    "no variable {name} is set (set_cm_vars&name={name}&val=…); CM also has {}",
                    builtin.join(", ")
                )
            }
            Problem::Unknown(why) => why.clone(),
        }
    }
}

/// A name can be read with these devices and variables: it parses, and
/// the device or variable it names exists.
fn check_one(path: &[String], dev_ids: &[&str], cm_vars: &[&str]) -> Result<(), Problem> {
    match parse(path)? {
        Name::CmVar(name) if !cm_vars.iter().any(|v| v.eq_ignore_ascii_case(name)) => {
            Err(Problem::NoVariable)
        }
        Name::Device(dev_id, _) if !dev_ids.iter().any(|d| d.eq_ignore_ascii_case(dev_id)) => {
            Err(Problem::NoDevice)
        }
        _ => Ok(()),
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
            ("date.hour.minute", "DATE names have one part after the dot"),
            ("PB.input1.state", "PB names have one part after the dot"),
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
