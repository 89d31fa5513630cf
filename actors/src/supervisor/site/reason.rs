//! Why a wallbox gets what it gets: the allocator's reasons and the
//! site's, as one type. `get_dev_info` shows it three ways: `lb_reason`
//! (the text, as cFos writes it), `lb_reason_code` (a stable name) and
//! `lb_reason_args` (the reason's details by name).

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::alloc::{Constraint, Reason};
use crate::config::DisablePolicy;
use crate::phases::Why;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LbReason {
    /// No decision yet.
    #[default]
    None,
    /// What the allocator decided.
    Alloc(Reason),
    /// Its maximum this cycle is what a charging rule wishes.
    ChargingRule {
        rule: String,
    },
    /// A charging rule wishes less than the car's minimum: stopped.
    ChargingRuleStop {
        rule: String,
        ma: i64,
    },
    /// Meters the house load is computed from do not answer: the car gets
    /// its minimum.
    MeterStale {
        meters: Vec<String>,
    },
    /// The car's minimum pause after a stop is not over.
    MinPause {
        secs: u64,
    },
    /// The wallbox does not answer.
    ComError,
    /// The wallbox has not answered yet.
    NoReading,
    WallboxError,
    NoVehicle,
    /// `device_enabled` is off: what `disable_policy` says.
    Disabled(DisablePolicy),
    /// Override `C`.
    DisabledByOverride,
    /// A user is assigned to the wallbox and nobody authorised the car.
    WaitingForAuth,
    /// 1p/3p switching: why the wallbox is on the phases it is on, or is
    /// paused for a switch.
    Phases(Why),
    /// §14a: the grid operator dims the site; all wallboxes together get
    /// `limit_w`.
    GridDimming {
        limit_w: i64,
    },
}

impl LbReason {
    /// The stable name of the reason (`lb_reason_code`).
    pub fn code(&self) -> &'static str {
        match self {
            LbReason::None => "none",
            LbReason::Alloc(r) => match r {
                Reason::MaxCurrent => "max_charging_cur",
                Reason::Limit(Constraint::Site, _) => "site_limit",
                Reason::Limit(Constraint::Group(_), _) => "group_limit",
                Reason::Limit(Constraint::EvseTotal, _) => "evse_total_limit",
                Reason::Imbalance(_) => "imbalance",
                Reason::NoMinimum(..) => "paused_no_minimum",
                Reason::PausedImbalance(_) => "paused_imbalance",
                Reason::GivesWay(..) => "paused_turn",
                Reason::Uncontrolled => "not_controlled",
            },
            LbReason::ChargingRule { .. } => "charging_rule",
            LbReason::ChargingRuleStop { .. } => "charging_rule_current",
            LbReason::MeterStale { .. } => "meter_stale",
            LbReason::MinPause { .. } => "paused_min_pause",
            LbReason::ComError => "com_error",
            LbReason::NoReading => "no_reading",
            LbReason::WallboxError => "wallbox_error",
            LbReason::NoVehicle => "no_vehicle",
            LbReason::Disabled(DisablePolicy::Stop) => "disabled",
            LbReason::Disabled(DisablePolicy::Minimum) => "disabled_min_current",
            LbReason::Disabled(DisablePolicy::NoLimit) => "disabled_no_limit",
            LbReason::DisabledByOverride => "disabled_by_override",
            LbReason::WaitingForAuth => "waiting_for_auth",
            LbReason::Phases(why) => why.code(),
            LbReason::GridDimming { .. } => "grid_dimming",
        }
    }

    /// The reason's details by name (`lb_reason_args`): `phase` ("L1"…),
    /// `group` (dev_id), `rule` (rule id), `ma`, `limit` (text), `secs`,
    /// `meters` (dev_ids, comma-separated); only those it has.
    pub fn args(&self) -> Map<String, Value> {
        let mut args = Map::new();
        let mut put = |name: &str, value: Value| {
            args.insert(name.to_string(), value);
        };
        match self {
            LbReason::Alloc(r) => match r {
                Reason::Limit(c, p) | Reason::NoMinimum(c, p) | Reason::GivesWay(c, p) => {
                    put("phase", phase(*p).into());
                    if let Constraint::Group(n) = c {
                        put("group", format!("E{n}").into());
                    }
                    if !matches!(r, Reason::Limit(..)) {
                        put("limit", format!("{c} {}", phase(*p)).into());
                    }
                }
                Reason::Imbalance(p) | Reason::PausedImbalance(p) => {
                    put("phase", phase(*p).into());
                }
                Reason::MaxCurrent | Reason::Uncontrolled => {}
            },
            LbReason::ChargingRule { rule } => put("rule", rule.clone().into()),
            LbReason::ChargingRuleStop { rule, ma } => {
                put("rule", rule.clone().into());
                put("ma", (*ma).into());
            }
            LbReason::MeterStale { meters } => put("meters", meters.join(", ").into()),
            LbReason::MinPause { secs } => put("secs", (*secs).into()),
            LbReason::Phases(why) => {
                for (name, value) in why.args() {
                    put(name, value);
                }
            }
            LbReason::GridDimming { limit_w } => put("limit_w", (*limit_w).into()),
            _ => {}
        }
        args
    }

    /// A pause: the car may not charge now, whatever there is to spare.
    pub fn is_pause(&self) -> bool {
        matches!(
            self,
            LbReason::MinPause { .. }
                | LbReason::Phases(Why::Switching { .. })
                | LbReason::Alloc(
                    Reason::NoMinimum(..) | Reason::PausedImbalance(_) | Reason::GivesWay(..)
                )
        )
    }

    /// The rule id, where a charging rule is the reason.
    pub fn rule_mut(&mut self) -> Option<&mut String> {
        match self {
            LbReason::ChargingRule { rule } | LbReason::ChargingRuleStop { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

/// A reason is its text, for those who compare it with one.
impl PartialEq<&str> for LbReason {
    fn eq(&self, text: &&str) -> bool {
        self.to_string().as_str() == *text
    }
}

fn phase(p: usize) -> String {
    format!("L{}", p + 1)
}

/// `lb_reason`: the text as it always was.
impl fmt::Display for LbReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LbReason::None => Ok(()),
            LbReason::Alloc(r) => write!(f, "{r}"),
            LbReason::ChargingRule { rule } => write!(f, "charging rule {rule}"),
            LbReason::ChargingRuleStop { rule, ma } => write!(f, "charging rule {rule}: {ma} mA"),
            LbReason::MeterStale { meters } => {
                write!(f, "meter stale: {} (minimum current)", meters.join(", "))
            }
            LbReason::MinPause { secs } => write!(f, "paused: {secs} s left of its minimum pause"),
            LbReason::ComError => write!(f, "com error"),
            LbReason::NoReading => write!(f, "no reading yet"),
            LbReason::WallboxError => write!(f, "wallbox error"),
            LbReason::NoVehicle => write!(f, "no vehicle"),
            LbReason::Disabled(DisablePolicy::Stop) => write!(f, "disabled"),
            LbReason::Disabled(DisablePolicy::Minimum) => write!(f, "disabled: minimum current"),
            LbReason::Disabled(DisablePolicy::NoLimit) => write!(f, "disabled: no limit"),
            LbReason::DisabledByOverride => write!(f, "disabled by override"),
            LbReason::WaitingForAuth => write!(f, "waiting for authorisation"),
            LbReason::Phases(why) => write!(f, "{}", why.text()),
            LbReason::GridDimming { limit_w } => {
                write!(f, "§14a: dimmed, {limit_w} W for all wallboxes")
            }
        }
    }
}

/// As three fields of the wallbox: `lb_reason`, `lb_reason_code` and
/// `lb_reason_args` (flattened into the wallbox's object).
impl Serialize for LbReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("lb_reason", &self.to_string())?;
        map.serialize_entry("lb_reason_code", self.code())?;
        map.serialize_entry("lb_reason_args", &self.args())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_keeps_its_text_and_has_its_code_and_details() {
        let group = Constraint::Group(5);
        let cases = [
            (
                LbReason::Alloc(Reason::MaxCurrent),
                "max_charging_cur",
                "max_charging_cur",
                "{}",
            ),
            (
                LbReason::Alloc(Reason::Limit(group, 0)),
                "group E5 L1",
                "group_limit",
                r#"{"phase":"L1","group":"E5"}"#,
            ),
            (
                LbReason::Alloc(Reason::NoMinimum(Constraint::Site, 1)),
                "paused: no minimum (site L2)",
                "paused_no_minimum",
                r#"{"phase":"L2","limit":"site L2"}"#,
            ),
            (
                LbReason::Alloc(Reason::GivesWay(Constraint::EvseTotal, 2)),
                "paused: another car's turn (max_total_evse_current L3)",
                "paused_turn",
                r#"{"phase":"L3","limit":"max_total_evse_current L3"}"#,
            ),
            (
                LbReason::ChargingRuleStop {
                    rule: "anna/2".into(),
                    ma: 0,
                },
                "charging rule anna/2: 0 mA",
                "charging_rule_current",
                r#"{"rule":"anna/2","ma":0}"#,
            ),
            (
                LbReason::ChargingRule {
                    rule: "E1/0".into(),
                },
                "charging rule E1/0",
                "charging_rule",
                r#"{"rule":"E1/0"}"#,
            ),
            (
                LbReason::MeterStale {
                    meters: vec!["M1".into(), "M3".into()],
                },
                "meter stale: M1, M3 (minimum current)",
                "meter_stale",
                r#"{"meters":"M1, M3"}"#,
            ),
            (
                LbReason::MinPause { secs: 240 },
                "paused: 240 s left of its minimum pause",
                "paused_min_pause",
                r#"{"secs":240}"#,
            ),
            (
                LbReason::Phases(Why::Surplus { one_ma: 9870 }),
                "1p: solar surplus 9.9 A",
                "phases_1p_surplus",
                r#"{"ma":9870}"#,
            ),
            (
                LbReason::Phases(Why::Blocked {
                    to: crate::phases::Phases::Three,
                    ago_s: 250,
                }),
                "3p blocked: switched 4 min ago",
                "phases_blocked",
                r#"{"phases":3,"ago_s":250}"#,
            ),
            (
                LbReason::GridDimming { limit_w: 7560 },
                "§14a: dimmed, 7560 W for all wallboxes",
                "grid_dimming",
                r#"{"limit_w":7560}"#,
            ),
            (
                LbReason::Disabled(DisablePolicy::NoLimit),
                "disabled: no limit",
                "disabled_no_limit",
                "{}",
            ),
        ];
        for (reason, text, code, args) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(reason.code(), code, "{text}");
            assert_eq!(
                serde_json::to_string(&reason.args()).unwrap(),
                args,
                "{text}"
            );
        }
    }

    #[test]
    fn the_pauses_are_the_reasons_whose_text_says_paused() {
        let reasons = [
            LbReason::Alloc(Reason::NoMinimum(Constraint::Site, 0)),
            LbReason::Alloc(Reason::PausedImbalance(0)),
            LbReason::Alloc(Reason::GivesWay(Constraint::Site, 0)),
            LbReason::MinPause { secs: 1 },
            LbReason::Alloc(Reason::Imbalance(0)),
            LbReason::Phases(Why::Switching {
                to: crate::phases::Phases::One,
                left_s: 12,
            }),
            LbReason::Phases(Why::Surplus { one_ma: 9800 }),
            LbReason::NoVehicle,
            LbReason::ChargingRuleStop {
                rule: "E1/0".into(),
                ma: 0,
            },
        ];
        for r in reasons {
            assert_eq!(r.is_pause(), r.to_string().starts_with("paused"), "{r}");
        }
    }

    #[test]
    fn the_rule_of_a_rule_reason_can_be_renamed_and_a_reason_is_its_text() {
        // dev_info shows a user's rule by the user's name: it renames the
        // rule through rule_mut.
        for mut reason in [
            LbReason::ChargingRule {
                rule: "E1/0".into(),
            },
            LbReason::ChargingRuleStop {
                rule: "E1/0".into(),
                ma: 0,
            },
        ] {
            if let Some(rule) = reason.rule_mut() {
                *rule = "anna/0".into();
            }
            assert!(reason.to_string().contains("anna/0"), "{reason}");
        }
        let mut other = LbReason::MinPause { secs: 1 };
        assert_eq!(other.rule_mut(), None);
        assert!(LbReason::NoVehicle == "no vehicle");
        assert!(LbReason::NoVehicle != "max_charging_cur");
    }
}
