//! 1p/3p phase switching: on which phases a switchable wallbox charges.
//! Pure code (no actix, no clock: time is passed in, ms on a monotonic
//! clock), run by the cycle before the allocator (`supervisor/site/phases.rs`).
//!
//! Each switchable wallbox has a [`PhaseState`], which decides once per
//! cycle from an [`Offer`] (what the car could get per phase on three
//! phases, and on its one phase, as the last cycle's allocation and the
//! charging rules left it):
//! - `auto` on three phases switches to one when the three-phase minimum
//!   does not fit but the one-phase minimum does (a solar surplus too small
//!   for three phases, or a full phase of the site or a group);
//! - `auto` on one phase switches to three when the three-phase minimum plus
//!   [`UP_MARGIN_MA`] has fitted without a break for the hold time
//!   ([`UP_HOLD_MS`], or half the minimum interval if that is shorter);
//! - no switch comes sooner than `min_interval` after the last one (the
//!   hysteresis band and the hold stop flapping; the interval bounds it);
//! - `auto` without a car never goes to one phase, and a relay left on one
//!   phase goes back to three while the wallbox is empty (the pause costs
//!   no one anything then), so that a three-phase car arriving is not held
//!   on one phase by a box that cannot switch with a car plugged in;
//! - a switch pauses the car for `pause` (the wallbox's contactors change
//!   with the charge pilot off); the allocator does not give it current
//!   until the pause is over, and then only on the new phases.
//!
//! A fixed `1p` or `3p` (the setting, or a session's override) switches at
//! once, interval or not: someone asked for it.

pub mod dimming;
mod headroom;
#[cfg(test)]
mod tests;
pub mod wake;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use headroom::Headroom;

/// The `phase_switching` setting of a wallbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Switching {
    /// Never switched: the wallbox's relay stays as it is.
    #[default]
    #[serde(rename = "off")]
    Off,
    /// Chosen per cycle.
    #[serde(rename = "auto")]
    Auto,
    /// Always one phase.
    #[serde(rename = "1p")]
    One,
    /// Always three phases.
    #[serde(rename = "3p")]
    Three,
}

impl Switching {
    pub fn key(self) -> &'static str {
        match self {
            Switching::Off => "off",
            Switching::Auto => "auto",
            Switching::One => "1p",
            Switching::Three => "3p",
        }
    }

    /// `off`, `auto`, `1p` or `3p` (also `1` and `3`, as cFos's
    /// `switch_phases` override gives them).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "off" => Some(Switching::Off),
            "auto" => Some(Switching::Auto),
            "1p" | "1" => Some(Switching::One),
            "3p" | "3" => Some(Switching::Three),
            _ => None,
        }
    }
}

/// The phases a switchable wallbox's relay is set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phases {
    One,
    /// A wallbox's relay is on three phases until told otherwise (the
    /// Power Brain's is after power-up).
    #[default]
    Three,
}

impl Phases {
    pub fn count(self) -> i64 {
        match self {
            Phases::One => 1,
            Phases::Three => 3,
        }
    }
}

impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}p", self.count())
    }
}

/// A switch is not taken back up before three phases fit with this much
/// more than the minimum, mA per phase (the hysteresis band: down below
/// the minimum, up above the minimum plus this).
pub const UP_MARGIN_MA: i64 = 1000;

/// Three phases must have fitted this long without a break before a
/// switch up, ms (a passing gap in the clouds is not worth a pause), or
/// half the minimum interval if that is shorter.
pub const UP_HOLD_MS: u64 = 120_000;

impl Settings {
    /// How long three phases must fit before a switch up, ms.
    pub fn hold_ms(&self) -> u64 {
        UP_HOLD_MS.min(self.min_interval_ms / 2)
    }
}

/// A wallbox's switching settings, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub mode: Switching,
    /// How long the car is paused for a switch.
    pub pause_ms: u64,
    /// The least time between two switches (`auto` only).
    pub min_interval_ms: u64,
    /// The car's least current per phase, mA.
    pub min_ma: i64,
}

/// What a car could get, mA per phase, as the last cycle left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// On three phases.
    pub three_ma: i64,
    /// On the wallbox's one phase.
    pub one_ma: i64,
    /// A charging rule's surplus (not a phase limit) is what binds on
    /// three phases: for the reason shown.
    pub by_surplus: bool,
}

impl Offer {
    /// No idea yet (no allocation ran): nothing is switched for it.
    pub const UNKNOWN: Offer = Offer {
        three_ma: i64::MAX,
        one_ma: i64::MAX,
        by_surplus: false,
    };
}

/// When a wallbox lets its relay be switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Not at all (its relay is not known).
    Never,
    /// Only while no car is plugged in (a Power Brain with 8113 bit 8 clear).
    Empty,
    /// With a car plugged in too.
    Always,
}

impl Allowed {
    /// Whether the relay may be switched now.
    fn now(self, car: bool) -> bool {
        match self {
            Allowed::Never => false,
            Allowed::Empty => !car,
            Allowed::Always => true,
        }
    }
}

/// Why a switchable wallbox is on the phases it is on, for `lb_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The setting (or an override) fixes the phases.
    Fixed(Phases),
    /// On one phase because the surplus is too small for three (mA per
    /// phase it gives on one phase).
    Surplus { one_ma: i64 },
    /// On one phase because a phase of the site or a group is full (what
    /// is left on the wallbox's one phase, mA).
    FullPhase { one_ma: i64 },
    /// Three phases fit, and have fitted for `held_s` of the hold.
    UpHold { held_s: u64, hold_s: u64 },
    /// A switch to `to` is due but the last switch was `ago_s` ago.
    Blocked { to: Phases, ago_s: u64 },
    /// Switching to `to`; `left_s` of the pause to go.
    Switching { to: Phases, left_s: u64 },
    /// The wallbox does not allow switching now (a Power Brain's 8113 bit 8).
    NotAllowed,
}

/// One cycle's decision for one wallbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The phases the relay is (or will be, after the pause) set to.
    pub phases: Phases,
    /// Tell the wallbox to switch to this now.
    pub switch_to: Option<Phases>,
    /// In a switch pause: the car gets no current this cycle.
    pub paused: bool,
    pub why: Option<Why>,
}

/// What one switchable wallbox remembers between cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhaseState {
    /// Where the relay was last told to be.
    pub phases: Phases,
    /// The pause of the running switch ends at this time.
    pub switch_until: Option<u64>,
    /// When the last switch started.
    pub last_switch: Option<u64>,
    /// Since when three phases (with the margin) have fitted, on one phase.
    up_since: Option<u64>,
    /// How many switches were started (for tests and `/metrics`).
    pub switches: u64,
}

impl PhaseState {
    /// The decision at `now`. `allowed`: when the wallbox lets the relay
    /// be switched; `car`: a car is plugged in (without one a switch needs
    /// no pause and is not counted against the interval).
    pub fn decide(
        &mut self,
        s: &Settings,
        offer: Offer,
        allowed: Allowed,
        car: bool,
        now: u64,
    ) -> Decision {
        let stay = |phases, why| Decision {
            phases,
            switch_to: None,
            paused: false,
            why,
        };
        if let Some(until) = self.switch_until {
            if now < until {
                return Decision {
                    phases: self.phases,
                    switch_to: None,
                    // A car that arrived during the pause waits the rest of it.
                    paused: car,
                    why: Some(Why::Switching {
                        to: self.phases,
                        left_s: (until - now).div_ceil(1000),
                    }),
                };
            }
            self.switch_until = None;
        }
        if s.mode == Switching::Off {
            return stay(self.phases, None);
        }
        if !allowed.now(car) {
            self.up_since = None;
            return stay(self.phases, Some(Why::NotAllowed));
        }
        let want = match s.mode {
            Switching::One => Some((Phases::One, Why::Fixed(Phases::One))),
            Switching::Three => Some((Phases::Three, Why::Fixed(Phases::Three))),
            _ => None,
        };
        if let Some((to, why)) = want {
            self.up_since = None;
            if to == self.phases {
                return stay(to, Some(why));
            }
            return self.start(to, s, car, now);
        }
        self.auto(s, offer, allowed, car, now)
    }

    fn auto(
        &mut self,
        s: &Settings,
        offer: Offer,
        allowed: Allowed,
        car: bool,
        now: u64,
    ) -> Decision {
        let ago_ms = self.last_switch.map(|at| now.saturating_sub(at));
        let interval_over = ago_ms.is_none_or(|ago| ago >= s.min_interval_ms);
        let blocked = |to| {
            Some(Why::Blocked {
                to,
                ago_s: ago_ms.unwrap_or(0) / 1000,
            })
        };
        let stay = |phases, why| Decision {
            phases,
            switch_to: None,
            paused: false,
            why,
        };
        if !car {
            // Empty: three phases, whatever the offer, so that the next car
            // (maybe a three-phase one) does not start on one phase. A box
            // that cannot switch once a car is plugged in has only this
            // moment: it switches now, interval or not. Otherwise the
            // interval holds as always (a car arriving meanwhile follows
            // the usual rules).
            self.up_since = None;
            return match self.phases {
                Phases::Three => stay(Phases::Three, None),
                Phases::One if interval_over || allowed == Allowed::Empty => {
                    self.start(Phases::Three, s, car, now)
                }
                Phases::One => stay(Phases::One, blocked(Phases::Three)),
            };
        }
        match self.phases {
            Phases::Three => {
                self.up_since = None;
                if offer.three_ma >= s.min_ma || offer.one_ma < s.min_ma {
                    // Three phases fit, or nothing does: stay.
                    return stay(Phases::Three, None);
                }
                if interval_over {
                    self.start(Phases::One, s, car, now)
                } else {
                    stay(Phases::Three, blocked(Phases::One))
                }
            }
            Phases::One => {
                let one_why = if offer.by_surplus {
                    Why::Surplus {
                        one_ma: offer.one_ma,
                    }
                } else {
                    Why::FullPhase {
                        one_ma: offer.one_ma,
                    }
                };
                if offer.three_ma < s.min_ma.saturating_add(UP_MARGIN_MA) {
                    self.up_since = None;
                    return stay(Phases::One, Some(one_why));
                }
                let since = *self.up_since.get_or_insert(now);
                let held = now.saturating_sub(since);
                if held < s.hold_ms() {
                    return stay(
                        Phases::One,
                        Some(Why::UpHold {
                            held_s: held / 1000,
                            hold_s: s.hold_ms() / 1000,
                        }),
                    );
                }
                if interval_over {
                    self.start(Phases::Three, s, car, now)
                } else {
                    stay(Phases::One, blocked(Phases::Three))
                }
            }
        }
    }

    /// Starts a switch to `to` and its pause (the contactors change). With
    /// a car, it is paused and the switch counts against the interval;
    /// without one the pause costs no one anything, and a car that arrives
    /// during it waits the rest.
    fn start(&mut self, to: Phases, s: &Settings, car: bool, now: u64) -> Decision {
        self.phases = to;
        self.up_since = None;
        self.switches += 1;
        self.switch_until = Some(now.saturating_add(s.pause_ms));
        if car {
            self.last_switch = Some(now);
        }
        Decision {
            phases: to,
            switch_to: Some(to),
            paused: car,
            why: Some(Why::Switching {
                to,
                left_s: s.pause_ms.div_ceil(1000),
            }),
        }
    }
}

/// A.B amperes from mA (one decimal, rounded as the page rounds).
fn amps(ma: i64) -> String {
    let tenths = ma.max(0).saturating_add(50) / 100;
    format!("{}.{}", tenths / 10, tenths % 10)
}

impl Why {
    /// The text `lb_reason` shows.
    pub fn text(&self) -> String {
        match *self {
            Why::Fixed(p) => format!("{p}: set"),
            Why::Surplus { one_ma } => format!("1p: solar surplus {} A", amps(one_ma)),
            Why::FullPhase { one_ma } => format!("1p: phase full for 3p, {} A on 1p", amps(one_ma)),
            Why::UpHold { held_s, hold_s } => {
                format!("1p: 3p fits for {held_s} of {hold_s} s")
            }
            Why::Blocked { to, ago_s } => {
                format!("{to} blocked: switched {} min ago", ago_s / 60)
            }
            Why::Switching { to, left_s } => format!("paused: switching to {to}, {left_s} s left"),
            Why::NotAllowed => "phase switching not allowed by the wallbox".into(),
        }
    }

    /// The code `lb_reason_code` gives (see `supervisor/site/reason.rs`).
    pub fn code(&self) -> &'static str {
        match self {
            Why::Fixed(_) => "phases_fixed",
            Why::Surplus { .. } => "phases_1p_surplus",
            Why::FullPhase { .. } => "phases_1p_full_phase",
            Why::UpHold { .. } => "phases_3p_hold",
            Why::Blocked { .. } => "phases_blocked",
            Why::Switching { .. } => "phases_switching",
            Why::NotAllowed => "phases_not_allowed",
        }
    }

    /// The values `lb_reason_args` gives, by name.
    pub fn args(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        match *self {
            Why::Fixed(p) => vec![("phases", json!(p.count()))],
            Why::Surplus { one_ma } | Why::FullPhase { one_ma } => vec![("ma", json!(one_ma))],
            Why::UpHold { held_s, hold_s } => {
                vec![("held_s", json!(held_s)), ("hold_s", json!(hold_s))]
            }
            Why::Blocked { to, ago_s } => {
                vec![("phases", json!(to.count())), ("ago_s", json!(ago_s))]
            }
            Why::Switching { to, left_s } => {
                vec![("phases", json!(to.count())), ("secs", json!(left_s))]
            }
            Why::NotAllowed => Vec::new(),
        }
    }
}
