//! What is wrong with the state file the settings point to: the problems
//! that stop the daemon, and those it starts with. Used at every start and
//! by `--check-config`, which reports all of them.

use std::path::Path;

use actors::config::{self, device_problems, State};
use actors::store::{self, STATE_FILE};

use crate::settings::Settings;

/// The problems of a state file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StateProblems {
    /// The daemon does not start with these.
    pub errors: Vec<String>,
    /// It starts, and says so.
    pub warnings: Vec<String>,
}

/// Checks a state file's devices, parameters and formulas.
pub fn state_problems(state: &State, settings: &Settings) -> StateProblems {
    let mut found = StateProblems::default();
    for e in device_problems(&state.devices) {
        let at = state.devices.get(e.index).map_or_else(
            || e.to_string(),
            |d| format!("{}.{}: {}", d.dev_id, e.field, e.reason),
        );
        found.errors.push(at);
    }
    for (key, reason) in state.params.problems() {
        found.errors.push(format!("params.{key}: {reason}"));
    }
    if let Some(mqtt) = &state.mqtt {
        for (key, reason) in mqtt.problems() {
            found.errors.push(format!("mqtt.{key}: {reason}"));
        }
    }
    // What the API checks on input: the texts, the users and their cards,
    // the admin password's hash.
    for (key, text) in [("title", &state.title), ("desc", &state.desc)] {
        if text.chars().count() > config::MAX_TEXT_CHARS {
            found.errors.push(format!(
                "{key}: longer than {} characters",
                config::MAX_TEXT_CHARS
            ));
        }
    }
    if let Err(e) = config::validate_users(&state.users) {
        found.errors.push(format!("users: {e}"));
    }
    if let Some(Err(e)) = state
        .admin_hash
        .as_deref()
        .map(crate::api::auth::valid_hash)
    {
        found.errors.push(format!("admin_hash: {e}"));
    }
    // Saved before formulas were checked for names: it loads, and says so.
    for problem in config::formula_problems(state) {
        found.warnings.push(format!(
            "a formula names what cannot exist, so it counts as 0 until fixed: {problem}"
        ));
    }
    if state.params != settings.load || state.devices != settings.devices {
        found.warnings.push(
            "[load], [site] and [[devices]] come from the state file, which differs from the \
             settings; change them through the API, or delete the state file to seed it from \
             the settings again"
                .into(),
        );
    }
    found
}

/// `--check-config`: the lines to print on stdout and stderr, and whether
/// everything is usable.
pub fn report(
    settings: &Settings,
    source: &str,
    overrides: &[String],
) -> (Vec<String>, Vec<String>, bool) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let with = if overrides.is_empty() {
        String::new()
    } else {
        format!(" (with {})", overrides.join(", "))
    };
    out.push(format!("settings ok: {source}{with}"));
    let path = settings.storage.dir.join(STATE_FILE);
    let ok = match store::load(&path) {
        Ok(None) => {
            out.push(format!(
                "state: {} does not exist yet; the first start writes it from the settings",
                path.display()
            ));
            true
        }
        Ok(Some(state)) => {
            let found = state_problems(&state, settings);
            for problem in &found.errors {
                err.push(format!("{}: {problem}", path.display()));
            }
            for warning in &found.warnings {
                err.push(format!("warning: {}: {warning}", path.display()));
            }
            if found.errors.is_empty() {
                out.push(format!(
                    "state ok: {} ({} devices, {} users)",
                    path.display(),
                    state.devices.len(),
                    state.users.len()
                ));
            }
            found.errors.is_empty()
        }
        Err(e) => {
            err.push(e.to_string());
            false
        }
    };
    (out, err, ok)
}

/// Where the settings were read from, for people.
pub fn settings_source(config: Option<&Path>) -> String {
    match config {
        Some(path) => path.display().to_string(),
        None if Path::new("settings.toml").exists() => "./settings.toml".to_string(),
        None => "the built-in default".to_string(),
    }
}
