//! The 1p/3p step of the cycle, between the cars and the limits: each
//! wallbox with `phase_switching` decides (`phases/`, pure) on which phases
//! its car charges, from what the last cycle's allocation and the charging
//! rules left for it. The limits step then asks the allocator for the car
//! on those phases (by the wallbox's `phase_rotation`), or stops it while
//! its relay switches; after the allocation the offers for the next cycle
//! are measured, and the relay writes ride on the wallboxes' commands.

use super::{Command, Now, Site, Tracked};
use crate::alloc::{Allocation, EvseInput, SiteInput};
use crate::drivers::{EvseState, Reading, Relay};
use crate::phases::wake::Wake;
use crate::phases::{Allowed, Headroom, Offer, PhaseState, Phases, Settings, Switching, Why};

/// What a wallbox's 1p/3p switching keeps between cycles.
#[derive(Debug, Clone, Default)]
pub(super) struct Switch {
    pub(super) state: PhaseState,
    /// What the car could get, as the last cycle left it.
    offer: Option<Offer>,
    /// Why it is on its phases, this cycle.
    pub(super) why: Option<Why>,
    /// Its relay switches: the car gets nothing this cycle.
    pub(super) paused: bool,
    /// What the charging rules wish on one and on three phases, mA per
    /// phase (`auto` only; `None`: no rule limits it).
    pub(super) rule_wish: Option<(i64, i64)>,
    /// The relay write the next command carries (`true`: one phase).
    relay_pending: Option<bool>,
    /// Waking a car that does not start (`wake_up`).
    pub(super) wake: Wake,
    /// The next command wakes the car.
    wake_pending: bool,
}

/// The wallbox phase a one-phase relay uses (its L1).
const ONE_PHASE_MASK: u8 = 0b001;

impl Tracked {
    /// The switching in force: the session's override, else the setting.
    pub(super) fn switching(&self) -> Switching {
        self.session
            .as_ref()
            .and_then(|s| s.overrides.phases)
            .unwrap_or(self.settings.phase_switching)
    }

    /// The relay as the wallbox last reported it.
    fn relay(&self) -> Option<Relay> {
        match &self.reading {
            Some(Reading::Evse(r)) => r.relay,
            _ => None,
        }
    }

    /// The wallbox phases (bit0 L1) the car is counted on. On one phase
    /// only while the relay was told one phase and reports it (a relay
    /// that did not switch is counted on all the car's phases), and with
    /// any other phase its meter has seen drawing since.
    pub(super) fn phase_mask(&self) -> u8 {
        let car = self.car_phases();
        if self.switching() == Switching::Off {
            return car;
        }
        let relay_one = self.relay().map(|r| r.one_phase);
        if self.phases.state.phases == Phases::One && relay_one == Some(true) {
            ONE_PHASE_MASK | self.seen_phases
        } else {
            car
        }
    }
}

impl Site {
    /// Decides each switchable wallbox's phases for this cycle.
    pub(super) fn decide_phases(&mut self, now: &Now) {
        for t in &mut self.devices {
            let mode = t.switching();
            if !t.settings.dev_type.is_wallbox() || t.offline {
                continue;
            }
            if mode == Switching::Off && t.phases.state == PhaseState::default() {
                continue;
            }
            let relay = t.relay();
            let car = t.turn.is_some();
            let sw = &mut t.phases;
            let switching_now = sw
                .state
                .switch_until
                .is_some_and(|until| now.mono_ms < until);
            // Where the relay really is counts (it may have been switched
            // by someone else, or the box restarted): adopted unless a
            // switch is under way.
            if let Some(r) = relay.filter(|_| !switching_now && sw.relay_pending.is_none()) {
                let reported = if r.one_phase {
                    Phases::One
                } else {
                    Phases::Three
                };
                if reported != sw.state.phases {
                    sw.state.phases = reported;
                    t.seen_phases = 0;
                }
            }
            // Switching off (an override ended with its car): the relay goes
            // back to three phases before the next car.
            let mode = if mode == Switching::Off && sw.state.phases == Phases::One && !car {
                Switching::Three
            } else {
                mode
            };
            let settings = Settings {
                mode,
                pause_ms: t.settings.phase_switch_pause_s.saturating_mul(1000),
                min_interval_ms: t.settings.phase_switch_min_interval_s.saturating_mul(1000),
                min_ma: t.settings.min_charging_cur,
            };
            let allowed = match relay {
                None => Allowed::Never,
                Some(r) if r.switch_allowed => Allowed::Always,
                Some(_) => Allowed::Empty,
            };
            let offer = sw.offer.unwrap_or(Offer::UNKNOWN);
            let d = sw.state.decide(&settings, offer, allowed, car, now.mono_ms);
            if let Some(to) = d.switch_to {
                sw.relay_pending = Some(to == Phases::One);
                t.seen_phases = 0;
            }
            sw.why = d.why;
            sw.paused = d.paused;
        }
    }

    /// Wakes, once per session, a car that does not draw while its wallbox
    /// offers it current (`wake_up`, on a wallbox that can).
    pub(super) fn wake_cars(&mut self, now: &Now) {
        for t in &mut self.devices {
            if !t.settings.wake_up || !t.settings.dev_type.can_wake() || t.offline {
                continue;
            }
            let idle = matches!(&t.reading, Some(Reading::Evse(r)) if {
                r.state == EvseState::Present
                    && r.charging_enabled
                    && r.offered_ma >= t.settings.min_charging_cur
                    && r.relay.is_none_or(|relay| relay.cp_off_s == 0)
            }) && !t.phases.paused;
            if t.phases.wake.step(t.turn.is_some(), idle, now.mono_ms) {
                t.phases.wake_pending = true;
            }
        }
    }

    /// After the allocation: what each `auto` wallbox's car could get on
    /// three phases and on one, for the next cycle's decision. `evses[k]`
    /// is device `inputs[k].0`'s input and got `results[k]`.
    pub(super) fn measure_phase_offers(
        &mut self,
        site: &SiteInput,
        inputs: &[(usize, EvseInput)],
        evses: &[EvseInput],
        results: &[Allocation],
        max_of: &dyn Fn(&Tracked) -> i64,
    ) {
        if !self
            .devices
            .iter()
            .any(|t| t.switching() == Switching::Auto)
        {
            return;
        }
        let room = Headroom::after(site, evses, results);
        // Where each device's input is, by device.
        let mut input_of = vec![None; self.devices.len()];
        for (k, (d, _)) in inputs.iter().enumerate() {
            if let Some(slot) = input_of.get_mut(*d) {
                *slot = Some(k);
            }
        }
        for (i, t) in self.devices.iter_mut().enumerate() {
            if t.switching() != Switching::Auto {
                continue;
            }
            let own = input_of[i].and_then(|k| Some((evses.get(k)?, results.get(k)?)));
            let r = room.for_car(t.settings.group, own);
            let three_room = r.iter().copied().min().unwrap_or(0);
            // The building phase of the wallbox's L1; while the wiring is
            // not known yet, the least room of those it may be.
            let one_mask = t.building_phases(ONE_PHASE_MASK);
            let one_room = (0..3)
                .filter(|p| one_mask & (1 << p) != 0)
                .map(|p| r[p])
                .min()
                .unwrap_or(0);
            // On one phase it also must not tip the phases' spread over
            // `max_imbalance`, or the allocator would pause it for that.
            let one_room = one_room.min(room.imbalance_room(one_mask, own).unwrap_or(i64::MAX));
            let max = max_of(t);
            let (rule_one, rule_three) = t.phases.rule_wish.unwrap_or((i64::MAX, i64::MAX));
            t.phases.offer = Some(Offer {
                three_ma: three_room.min(max).min(rule_three),
                one_ma: one_room.min(max).min(rule_one),
                by_surplus: rule_three < three_room.min(max),
            });
        }
    }

    /// Puts the relay writes decided this cycle on the wallboxes'
    /// commands. A wallbox told nothing this cycle keeps its write for
    /// the next.
    pub(super) fn phase_commands(&mut self, commands: &mut [Command]) {
        for (i, t) in self.devices.iter_mut().enumerate() {
            if t.phases.relay_pending.is_none() && !t.phases.wake_pending {
                continue;
            }
            if let Some(c) = commands.iter_mut().find(|c| c.device == i) {
                c.one_phase = t.phases.relay_pending.take();
                c.wake = std::mem::take(&mut t.phases.wake_pending);
            }
        }
    }
}
