//! The supervisor: runs the load-management cycle. Every `cycle_time` it
//! polls all devices at once (each bounded by the Modbus timeout, so a dead
//! device costs at most that, never the sum), lets the pure `Site` decide,
//! tells each wallbox its current, and keeps the snapshot the API reports.
//! It is also the configuration's one writer (see `Configure`).
//!
//! `actor.rs` holds the actor and the cycle's I/O, `handlers.rs` what each
//! message does, `messages.rs` the messages; `site` is the pure cycle.

mod actor;
mod cards;
mod clock;
mod handlers;
mod health;
mod messages;
mod site;
mod wiring;

pub use actor::Supervisor;
pub use cards::{card_accepted, CheckCard};
pub use clock::{Clock, ManualClock};
pub use health::{CycleHealth, STALLED_AFTER_PERIODS};
pub use messages::{
    ConfigError, Configure, CycleNow, Flush, GetHistory, GetSnapshot, OverrideDevice, PresentRfid,
    Reevaluate, SetGridDimming, SoftMeter, TakeHistory,
};
pub use site::session::{self, Who};
pub use site::{
    Command, DimmingView, EvseView, LbReason, MeterView, Now, Site, SiteView, Snapshot, WiringView,
    DIMMING_CSV_HEADER,
};
pub use wiring::{IdentifyPhases, ProbePlan};
