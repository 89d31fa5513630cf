//! Formulas that name what cannot exist: a device that is not configured,
//! a variable that is not set, a name no formula has. Checked when a change
//! is applied, and at start for what was saved before these checks.

use std::sync::Arc;

use super::{DeviceSettings, SiteParams, State, User};

/// Every formula of the state that names what cannot exist: where the
/// formula is and which name.
pub fn formula_problems(state: &State) -> Vec<String> {
    let vars: Vec<&str> = state.cm_vars.keys().map(String::as_str).collect();
    problems(&state.params, &state.devices, &state.users, &vars)
}

/// Every formula (site limit, wallbox limits, wallbox and user rules,
/// rule inputs) that names what cannot exist with these devices and
/// charging-manager variables: where the formula is and which name.
fn problems(
    params: &SiteParams,
    devices: &[Arc<DeviceSettings>],
    users: &[User],
    cm_vars: &[&str],
) -> Vec<String> {
    use super::CurrentLimit;
    use crate::rules::{formula, names};
    let dev_ids: Vec<&str> = devices.iter().map(|d| d.dev_id.as_str()).collect();
    let mut problems = Vec::new();
    let mut check = |where_: String, text: &str, limit: bool| {
        // A formula that does not parse is refused elsewhere, by its parser.
        if let Ok(expr) = formula::parse(text) {
            let checked = names::check(&expr, &dev_ids, cm_vars).and_then(|()| {
                if limit {
                    names::check_limit(&expr)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = checked {
                problems.push(format!("{where_}: {e}"));
            }
        }
    };
    if let CurrentLimit::Formula(text) = &params.max_total_current {
        check("max_total_current".into(), text, true);
    }
    if !params.grid_dimming_formula.trim().is_empty() {
        check(
            "grid_dimming_formula".into(),
            &params.grid_dimming_formula,
            false,
        );
    }
    let rule_sets = devices
        .iter()
        .map(|d| (d.dev_id.clone(), &d.charging_rules))
        .chain(
            users
                .iter()
                .map(|u| (format!("user {}", u.id), &u.charging_rules)),
        );
    for d in devices {
        if let CurrentLimit::Formula(text) = &d.max_charging_cur {
            check(format!("{}.max_charging_cur", d.dev_id), text, false);
        }
    }
    for (owner, rules) in rule_sets {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(text) = &rule.expr {
                check(
                    format!("{owner}.charging_rules: rule {i}: expr"),
                    text,
                    false,
                );
            }
            if let Some(text) = &rule.input {
                check(
                    format!("{owner}.charging_rules: rule {i}: input"),
                    text,
                    false,
                );
            }
        }
    }
    problems
}

/// The first formula problem, if any (for settings read at start, before
/// any charging-manager variable is set).
pub fn check_formula_names(
    params: &SiteParams,
    devices: &[Arc<DeviceSettings>],
    users: &[User],
) -> Result<(), String> {
    problems(params, devices, users, &[])
        .into_iter()
        .next()
        .map_or(Ok(()), Err)
}

/// Every formula problem of settings read at start (no users or
/// charging-manager variables there yet).
pub fn settings_formula_problems(
    params: &SiteParams,
    devices: &[Arc<DeviceSettings>],
) -> Vec<String> {
    problems(params, devices, &[], &[])
}

/// Refuses a change that makes a formula name what cannot exist. Problems
/// the configuration already had (a state file from before these checks)
/// do not block other changes; the daemon warns of them at start.
pub fn no_new_formula_problems(before: &State, after: &State) -> Result<(), String> {
    let old = formula_problems(before);
    formula_problems(after)
        .into_iter()
        .find(|p| !old.contains(p))
        .map_or(Ok(()), Err)
}
