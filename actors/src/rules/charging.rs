//! Charging rules (`charging_rules` of a wallbox or a user): when and how
//! fast a car may charge. Pure code; time and measurements are passed in.
//!
//! Within one rule set the first rule that matches decides the current;
//! with rules present and none matching, the current is 0; with no rules,
//! there is no limit. The wallbox's set and the user's set both apply and
//! the lower result wins. The result is a wish that load management then
//! fits into what is available.
//!
//! A rule's condition follows from the fields it has: `time`/`dur` a time
//! window (which may cross midnight), `solar` a solar-current threshold,
//! `price_level` a price level, `input` a device input, `expr` a formula
//! (the rule matches while it is above 0, and its value is the current);
//! none of them: always. `days` limits it to weekdays, and `udur` keeps a
//! rule matching that many seconds after its condition drops (riding
//! through a passing cloud).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::formula::{self, Expr, Names};

/// What a rule's current means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Mode {
    /// `current` mA.
    Absolute,
    /// `current` percent of the wallbox's maximum.
    Relative,
    /// The solar current (per phase).
    Solar,
    /// `current` percent of the solar current.
    RelativeSolar,
    /// The solar current less `current` mA.
    SolarMinus,
    /// The surplus: what would otherwise be fed into the grid, per phase.
    Surplus,
}

impl TryFrom<u8> for Mode {
    type Error = String;

    fn try_from(code: u8) -> Result<Self, String> {
        Ok(match code {
            0 => Mode::Absolute,
            1 => Mode::Relative,
            2 => Mode::Solar,
            3 => Mode::RelativeSolar,
            4 => Mode::SolarMinus,
            5 => Mode::Surplus,
            other => return Err(format!("mode {other} is not 0 to 5")),
        })
    }
}

impl From<Mode> for u8 {
    fn from(mode: Mode) -> u8 {
        match mode {
            Mode::Absolute => 0,
            Mode::Relative => 1,
            Mode::Solar => 2,
            Mode::RelativeSolar => 3,
            Mode::SolarMinus => 4,
            Mode::Surplus => 5,
        }
    }
}

fn all_days() -> u8 {
    0b111_1111
}

fn yes() -> bool {
    true
}

/// One rule, in the JSON of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Weekdays: bit0 Monday … bit6 Sunday.
    #[serde(default = "all_days")]
    pub days: u8,
    #[serde(default = "absolute")]
    pub mode: Mode,
    /// mA, or percent for the relative modes.
    #[serde(default)]
    pub current: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds the rule keeps matching after its condition drops.
    #[serde(default)]
    pub udur: u64,
    /// Start of a time window, minutes after midnight.
    #[serde(default)]
    pub time: Option<u32>,
    /// Length of the time window, minutes.
    #[serde(default)]
    pub dur: Option<u32>,
    /// A formula: the rule matches while it is above 0, and gives the current.
    #[serde(default)]
    pub expr: Option<String>,
    /// An input, e.g. `M1.input1`: the rule matches while it is on.
    #[serde(default)]
    pub input: Option<String>,
    /// The rule matches while the price level is at most this.
    #[serde(default)]
    pub price_level: Option<i64>,
    /// The rule matches while the solar current is at least this, mA.
    #[serde(default)]
    pub solar: Option<i64>,
}

fn absolute() -> Mode {
    Mode::Absolute
}

/// A rule set checked and with its formulas parsed, ready for every cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<(Rule, Option<Expr>)>,
}

impl RuleSet {
    /// Checks rules as given through the API; an error names the rule and field.
    pub fn new(rules: &[Rule]) -> Result<Self, String> {
        let mut checked = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            if rule.days > 0b111_1111 {
                return Err(format!(
                    "rule {i}: days {} is not a weekday mask 0 to 127",
                    rule.days
                ));
            }
            if rule.time.is_some_and(|t| t >= 24 * 60) {
                return Err(format!(
                    "rule {i}: time must be minutes after midnight, below 1440"
                ));
            }
            if rule.time.is_some() != rule.dur.is_some() {
                return Err(format!("rule {i}: time and dur go together"));
            }
            if rule.dur.is_some_and(|d| d > 24 * 60) {
                return Err(format!("rule {i}: dur is longer than a day"));
            }
            if !(0..=1_000_000).contains(&rule.current) {
                return Err(format!(
                    "rule {i}: current {} is not 0 to 1000000",
                    rule.current
                ));
            }
            let expr = match &rule.expr {
                Some(text) => {
                    Some(formula::parse(text).map_err(|e| format!("rule {i}: expr: {e}"))?)
                }
                None => None,
            };
            checked.push((rule.clone(), expr));
        }
        Ok(RuleSet { rules: checked })
    }
}

/// The moment a rule set is evaluated at, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalTime {
    /// 0 Monday … 6 Sunday.
    pub weekday: u8,
    pub minute_of_day: u32,
    /// A monotonic clock, s (for the undercut).
    pub secs: u64,
    /// The calendar, for formulas (`date.year`, `date.month`, …).
    pub calendar: Calendar,
}

/// The local calendar date and the finer parts of the time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calendar {
    pub year: i16,
    /// 1–12 (formulas see 0–11, as cFos documents).
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 1–366.
    pub yearday: u16,
    pub second: u8,
    /// Daylight saving time is in force.
    pub dst: bool,
}

/// What the rules of one wallbox see.
pub struct Inputs<'a> {
    pub time: LocalTime,
    /// The wallbox's own maximum, mA.
    pub max_ma: i64,
    /// The least current the car charges with, mA: a solar rule holds while
    /// its current reaches it.
    pub min_ma: i64,
    /// Solar production current per phase the car uses, mA.
    pub solar_ma: i64,
    /// Surplus current per phase the car uses, mA (what it draws included).
    pub surplus_ma: i64,
    pub price_level: Option<i64>,
    /// Names for formulas and inputs (`M1.input1`, `date.hour`, …).
    pub names: &'a dyn Names,
}

/// The decision of a rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Index of the rule that matched; `None` when none did.
    pub rule: Option<usize>,
    /// The wish, mA per phase.
    pub current_ma: i64,
    /// It matched only because of its undercut time.
    pub undercut: bool,
}

/// When each rule's condition last held (s): the memory the undercut needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    last_true: HashMap<usize, u64>,
}

fn in_window(start: u32, dur: u32, minute: u32) -> bool {
    let end = start + dur;
    if end <= 24 * 60 {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end - 24 * 60
    }
}

impl RuleSet {
    /// Evaluates the set; `None` when it has no rules (no limit).
    pub fn decide(&self, inputs: &Inputs<'_>, memory: &mut Memory) -> Option<Decision> {
        if self.rules.is_empty() {
            return None;
        }
        for (i, (rule, expr)) in self.rules.iter().enumerate() {
            if !rule.enabled || rule.days & (1 << inputs.time.weekday.min(6)) == 0 {
                continue;
            }
            let expr_value = expr
                .as_ref()
                .map(|e| formula::eval(e, inputs.names).unwrap_or(0.0));
            let mode_current = match rule.mode {
                Mode::Absolute => rule.current,
                Mode::Relative => inputs.max_ma * rule.current / 100,
                Mode::Solar => inputs.solar_ma,
                Mode::RelativeSolar => inputs.solar_ma * rule.current / 100,
                Mode::SolarMinus => inputs.solar_ma - rule.current,
                Mode::Surplus => inputs.surplus_ma,
            };
            // A solar rule holds while the sun gives enough to charge; its
            // undercut then keeps the car at its minimum through a cloud.
            let enough_sun = expr_value.is_some()
                || matches!(rule.mode, Mode::Absolute | Mode::Relative)
                || mode_current >= inputs.min_ma;
            let holds = enough_sun
                && rule
                    .time
                    .zip(rule.dur)
                    .is_none_or(|(t, d)| in_window(t, d, inputs.time.minute_of_day))
                && rule.solar.is_none_or(|s| inputs.solar_ma >= s)
                && rule
                    .price_level
                    .is_none_or(|p| inputs.price_level.is_some_and(|now| now <= p))
                && rule
                    .input
                    .as_ref()
                    .is_none_or(|name| input_on(name, inputs.names))
                && expr_value.is_none_or(|v| v > 0.0);
            let undercut = if holds {
                memory.last_true.insert(i, inputs.time.secs);
                false
            } else {
                let kept = memory.last_true.get(&i).is_some_and(|&at| {
                    rule.udur > 0 && inputs.time.secs.saturating_sub(at) <= rule.udur
                });
                if !kept {
                    continue;
                }
                true
            };
            // A formula gives the current itself.
            let current = match expr_value {
                Some(v) => v.clamp(0.0, 1e7) as i64,
                None => mode_current,
            };
            return Some(Decision {
                rule: Some(i),
                current_ma: current.max(0),
                undercut,
            });
        }
        Some(Decision {
            rule: None,
            current_ma: 0,
            undercut: false,
        })
    }
}

/// `M1.input1` style names, on while their value is not 0.
fn input_on(name: &str, names: &dyn Names) -> bool {
    let path: Vec<String> = name
        .trim()
        .to_ascii_lowercase()
        .split('.')
        .map(str::to_string)
        .collect();
    names.lookup(&path).is_some_and(|v| v != 0.0)
}

/// The wallbox's and the user's decisions combined: the lower wins. With
/// neither set, `None` (no limit from rules).
pub fn combine(wallbox: Option<Decision>, user: Option<Decision>) -> Option<Decision> {
    match (wallbox, user) {
        (Some(a), Some(b)) => Some(if b.current_ma < a.current_ma { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoNames(HashMap<String, f64>);

    impl Names for NoNames {
        fn lookup(&self, path: &[String]) -> Option<f64> {
            self.0.get(&path.join(".")).copied()
        }
    }

    #[test]
    fn modes_keep_their_numbers() {
        for code in 0..=5u8 {
            let mode = Mode::try_from(code).expect("a mode");
            assert_eq!(u8::from(mode), code);
        }
        assert!(Mode::try_from(6).is_err());
    }

    #[test]
    fn time_windows_within_the_day_and_across_midnight() {
        // (start, duration, minute of the day, inside)
        let cases = [
            (600, 60, 599, false),
            (600, 60, 600, true),
            (600, 60, 659, true),
            (600, 60, 660, false),
            (23 * 60, 120, 23 * 60 + 59, true),
            (23 * 60, 120, 59, true),
            (23 * 60, 120, 60, false),
            (23 * 60, 120, 22 * 60, false),
            (0, 24 * 60, 24 * 60 - 1, true),
        ];
        for (start, dur, minute, inside) in cases {
            assert_eq!(
                in_window(start, dur, minute),
                inside,
                "{start}+{dur} at {minute}"
            );
        }
    }

    #[test]
    fn of_two_equal_wishes_the_wallboxs_is_shown() {
        let wish = |rule, current_ma| Decision {
            rule: Some(rule),
            current_ma,
            undercut: false,
        };
        assert_eq!(
            combine(Some(wish(1, 8000)), Some(wish(0, 8000))),
            Some(wish(1, 8000))
        );
        assert_eq!(
            combine(Some(wish(1, 8000)), Some(wish(0, 7000))),
            Some(wish(0, 7000))
        );
        assert_eq!(combine(None, Some(wish(0, 7000))), Some(wish(0, 7000)));
        assert_eq!(combine(None, None), None);
    }

    fn rules(json: serde_json::Value) -> RuleSet {
        RuleSet::new(&serde_json::from_value::<Vec<Rule>>(json).unwrap()).unwrap()
    }

    fn at(weekday: u8, hour: u32, minute: u32, secs: u64) -> LocalTime {
        LocalTime {
            weekday,
            minute_of_day: hour * 60 + minute,
            secs,
            ..LocalTime::default()
        }
    }

    fn decide(
        set: &RuleSet,
        time: LocalTime,
        solar_ma: i64,
        surplus_ma: i64,
        memory: &mut Memory,
    ) -> Option<Decision> {
        let names = NoNames(
            [
                ("m1.input1".to_string(), 1.0),
                ("cm.boost".to_string(), 0.0),
            ]
            .into_iter()
            .collect(),
        );
        let inputs = Inputs {
            time,
            max_ma: 32_000,
            min_ma: 6000,
            solar_ma,
            surplus_ma,
            price_level: Some(-5),
            names: &names,
        };
        set.decide(&inputs, memory)
    }

    fn current(set: &RuleSet, time: LocalTime) -> i64 {
        decide(set, time, 0, 0, &mut Memory::default()).map_or(-1, |d| d.current_ma)
    }

    #[test]
    fn a_night_window_across_midnight() {
        let night = rules(serde_json::json!([{"time": 1320, "dur": 480, "current": 16000}]));
        assert_eq!(current(&night, at(0, 21, 59, 0)), 0, "no rule matches: 0");
        assert_eq!(current(&night, at(0, 22, 0, 0)), 16_000);
        assert_eq!(current(&night, at(1, 3, 0, 0)), 16_000);
        assert_eq!(current(&night, at(1, 5, 59, 0)), 16_000);
        assert_eq!(current(&night, at(1, 6, 0, 0)), 0);
        let none = RuleSet::new(&[]).unwrap();
        assert_eq!(
            decide(&none, at(0, 12, 0, 0), 0, 0, &mut Memory::default()),
            None,
            "no rules: no limit"
        );
    }

    #[test]
    fn weekdays_and_the_first_matching_rule() {
        // Weekends (bit5 Saturday, bit6 Sunday) 32 A; otherwise 10 A.
        let set = rules(serde_json::json!([
            {"days": 96, "current": 32000},
            {"current": 10000}
        ]));
        assert_eq!(current(&set, at(5, 12, 0, 0)), 32_000);
        assert_eq!(current(&set, at(6, 12, 0, 0)), 32_000);
        assert_eq!(current(&set, at(2, 12, 0, 0)), 10_000);
        let disabled =
            rules(serde_json::json!([{"current": 32000, "enabled": false}, {"current": 6000}]));
        assert_eq!(current(&disabled, at(0, 0, 0, 0)), 6000);
    }

    #[test]
    fn modes() {
        // Solar 20 A and surplus 14 A per phase.
        let cases = [
            (0, 8000, 8000),
            (1, 50, 16_000),
            (2, 0, 20_000),
            (3, 50, 10_000),
            (4, 1000, 19_000),
            (5, 0, 14_000),
        ];
        for (mode, value, expected) in cases {
            let set = rules(serde_json::json!([{"mode": mode, "current": value}]));
            let d = decide(
                &set,
                at(0, 12, 0, 0),
                20_000,
                14_000,
                &mut Memory::default(),
            );
            assert_eq!(d.map(|d| d.current_ma), Some(expected), "mode {mode}");
        }
    }

    #[test]
    fn a_solar_rule_holds_only_while_the_sun_reaches_the_minimum() {
        // Solar 9 A, surplus 5 A; the car's minimum is 6 A.
        for (mode, value, holds) in [
            (2, 0, true),
            (3, 50, false),
            (4, 4000, false),
            (5, 0, false),
        ] {
            let set =
                rules(serde_json::json!([{"mode": mode, "current": value}, {"current": 1000}]));
            let d = decide(&set, at(0, 12, 0, 0), 9000, 5000, &mut Memory::default()).unwrap();
            let expected = if holds {
                (Some(0), 9000)
            } else {
                (Some(1), 1000)
            };
            assert_eq!((d.rule, d.current_ma), expected, "mode {mode}");
        }
    }

    #[test]
    fn conditions_solar_price_input_and_formulas() {
        let solar = rules(serde_json::json!([{"solar": 6000, "mode": 5}]));
        assert_eq!(
            decide(&solar, at(0, 12, 0, 0), 7000, 6500, &mut Memory::default())
                .map(|d| d.current_ma),
            Some(6500)
        );
        assert_eq!(
            decide(&solar, at(0, 12, 0, 0), 5000, 4500, &mut Memory::default())
                .map(|d| d.current_ma),
            Some(0)
        );
        let price = rules(
            serde_json::json!([{"price_level": -5, "current": 16000}, {"price_level": -6, "current": 32000}]),
        );
        assert_eq!(current(&price, at(0, 0, 0, 0)), 16_000);
        let input = rules(serde_json::json!([{"input": "M1.input1", "current": 10000}]));
        assert_eq!(current(&input, at(0, 0, 0, 0)), 10_000);
        let off = rules(serde_json::json!([{"input": "CM.boost", "current": 10000}]));
        assert_eq!(current(&off, at(0, 0, 0, 0)), 0);
        let expr = rules(serde_json::json!([{"expr": "M1.input1 ? 12000 : 0"}, {"current": 6000}]));
        assert_eq!(current(&expr, at(0, 0, 0, 0)), 12_000);
        let unknown = rules(serde_json::json!([{"expr": "M9.x"}, {"current": 6000}]));
        assert_eq!(
            current(&unknown, at(0, 0, 0, 0)),
            6000,
            "a formula that cannot be evaluated does not match"
        );
    }

    #[test]
    fn undercut_rides_through_a_passing_cloud() {
        for rule in [
            serde_json::json!([{"solar": 6000, "mode": 5, "udur": 300}]),
            serde_json::json!([{"mode": 5, "udur": 300}]),
        ] {
            let set = rules(rule.clone());
            let mut memory = Memory::default();
            let sunny = decide(&set, at(0, 12, 0, 1000), 8000, 7000, &mut memory).unwrap();
            assert_eq!((sunny.current_ma, sunny.undercut), (7000, false), "{rule}");
            let cloud = decide(&set, at(0, 12, 1, 1100), 2000, 1000, &mut memory).unwrap();
            assert_eq!(
                (cloud.rule, cloud.current_ma, cloud.undercut),
                (Some(0), 1000, true),
                "{rule}"
            );
            let long_cloud = decide(&set, at(0, 12, 6, 1301), 2000, 1000, &mut memory).unwrap();
            assert_eq!(
                (long_cloud.rule, long_cloud.current_ma),
                (None, 0),
                "{rule}: longer than udur, it ends"
            );
        }
    }

    #[test]
    fn the_lower_of_the_wallbox_and_the_user_wins() {
        let d = |c| {
            Some(Decision {
                rule: Some(0),
                current_ma: c,
                undercut: false,
            })
        };
        assert_eq!(combine(d(16_000), d(10_000)), d(10_000));
        assert_eq!(combine(d(6000), d(10_000)), d(6000));
        assert_eq!(combine(None, d(10_000)), d(10_000));
        assert_eq!(combine(None, None), None);
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let bad = [
            (serde_json::json!([{"mode": 9}]), "mode 9"),
            (serde_json::json!([{"days": 200}]), "days 200"),
            (serde_json::json!([{"time": 1500, "dur": 10}]), "below 1440"),
            (
                serde_json::json!([{"time": 60}]),
                "time and dur go together",
            ),
            (serde_json::json!([{"current": -1}]), "current -1"),
            (serde_json::json!([{"expr": "1 +"}]), "rule 0: expr: at 4"),
            (serde_json::json!([{"colour": 1}]), "unknown field"),
        ];
        for (json, says) in bad {
            let err = serde_json::from_value::<Vec<Rule>>(json.clone())
                .map_err(|e| e.to_string())
                .and_then(|r| RuleSet::new(&r).map(|_| ()));
            assert!(
                err.as_ref().is_err_and(|e| e.contains(says)),
                "{json}: {err:?}"
            );
        }
    }
}
