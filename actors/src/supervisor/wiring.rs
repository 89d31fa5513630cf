//! The supervisor's part in finding the phases (`site/wiring.rs` does the
//! work): "identify phases" asked through the API, and the wiring's log
//! lines.

use actix::prelude::*;
use slog::{info, warn};

use super::actor::Supervisor;
use super::messages::ConfigError;

/// "Identify phases": step the charging wallboxes whose rotation is not yet
/// known one at a time (only `dev_id`, if given).
#[derive(Debug, Message)]
#[rtype(result = "Result<ProbePlan, ConfigError>")]
pub struct IdentifyPhases {
    pub dev_id: Option<String>,
}

/// What the probe will do: per wallbox `waiting` (to be stepped),
/// `already_known`, `not_charging`, `no_room`; and the most cycles it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    pub wallboxes: Vec<(String, &'static str)>,
    pub longest_cycles: u32,
}

impl Handler<IdentifyPhases> for Supervisor {
    type Result = Result<ProbePlan, ConfigError>;

    fn handle(&mut self, msg: IdentifyPhases, _: &mut Self::Context) -> Self::Result {
        let (wallboxes, longest_cycles) = self
            .site
            .identify_phases(msg.dev_id.as_deref())
            .map_err(ConfigError::Rejected)?;
        self.log_wiring();
        Ok(ProbePlan {
            wallboxes,
            longest_cycles,
        })
    }
}

impl Supervisor {
    /// Logs what the wiring has to say: a contradicted rotation as a
    /// warning (once, and once when it clears, as information).
    pub(super) fn log_wiring(&mut self) {
        for (warning, text) in self.site.take_wiring_notices() {
            if warning {
                warn!(self.log, "wiring"; "problem" => text);
            } else {
                info!(self.log, "wiring"; "event" => text);
            }
        }
    }
}
