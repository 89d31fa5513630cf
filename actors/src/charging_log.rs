//! The charging log: one line per finished stay of a car at a wallbox
//! (`get_ta_log`), and the transactions still open, which the state file
//! keeps so that a restart continues them. The store appends the lines; the
//! cycle opens and closes the transactions. Pure.

use serde::{Deserialize, Serialize};

/// A transaction of the charging log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    pub dev_id: String,
    /// The user id, empty while nobody authorised it.
    pub user: String,
    pub rfid: String,
    /// Unix seconds.
    pub start: u64,
    /// Unix seconds; 0 while open.
    pub end: u64,
    /// The wallbox's energy counter where the stay began, Wh; `None` until
    /// it was read (see `Session::take_energy_start`).
    pub energy_start_wh: Option<i64>,
    /// Energy charged, Wh (set when it closes).
    pub energy_wh: i64,
    /// The overrides in force when it was saved, so that a restart keeps a
    /// stopped car stopped and a capped one capped.
    #[serde(default, skip_serializing_if = "Overrides::is_none")]
    pub overrides: Overrides,
}

impl Transaction {
    /// Closes it at `end` (Unix s) with the wallbox's counter at `end_wh`:
    /// what was charged since its start, nothing if the start was never read.
    pub fn close(&mut self, end: u64, end_wh: i64) {
        self.end = end;
        self.energy_wh = self
            .energy_start_wh
            .map_or(0, |start| end_wh.saturating_sub(start).max(0));
    }

    /// A line of the charging log (CSV).
    pub fn csv_line(&self) -> String {
        let field = |s: &str| s.replace([',', '"', '\n', '\r'], " ");
        format!(
            "{},{},{},{},{},{}\n",
            field(&self.dev_id),
            field(&self.user),
            field(&self.rfid),
            self.start,
            self.end,
            self.energy_wh
        )
    }
}

/// The header of the charging log.
pub const CSV_HEADER: &str = "dev_id,user,rfid,start,end,energy_wh\n";

/// Overrides for the current car (`override_device`); they end at unplug.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Overrides {
    /// `C`: charging disabled.
    pub disabled: bool,
    /// `E`: the wallbox's charging rules are off.
    pub wallbox_rules_off: bool,
    /// `U`: the user's charging rules are off.
    pub user_rules_off: bool,
    /// `mamps`: at most this current, mA.
    pub max_ma: Option<i64>,
    /// `switch_phases`: 1p/3p switching for this car (`1p`, `3p`, `auto`
    /// or `off`) in place of the wallbox's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<crate::phases::Switching>,
}

impl Overrides {
    /// None in force.
    pub fn is_none(&self) -> bool {
        *self == Overrides::default()
    }

    /// The flags in force, as `override_device` spells them.
    pub fn flags(&self) -> String {
        [
            (self.disabled, 'C'),
            (self.wallbox_rules_off, 'E'),
            (self.user_rules_off, 'U'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect()
    }

    /// The flags in force as `get_dev_info` reports them: bit 0 `C`,
    /// bit 1 `E`, bit 2 `U`.
    pub fn mask(&self) -> u8 {
        u8::from(self.disabled)
            | u8::from(self.wallbox_rules_off) << 1
            | u8::from(self.user_rules_off) << 2
    }
}
