//! Step 2 of the cycle, the cars: plug-in and unplug (the session and its
//! transaction), a card read by the wallbox, the soft meter, which phases
//! the car draws on, and so what each wallbox draws on the building's
//! phases.

use super::session::{EnergyFrom, Session, Transaction};
use super::views::evse_view;
use super::{soft_wh, Now, Site, Tracked};
use crate::alloc::turns::TurnState;
use crate::alloc::PerPhase;
use crate::config::{find_card, SiteParams, User};
use crate::drivers::EvseReading;

/// A phase counts as drawing above this (mA) when determining phases.
const PHASE_DRAW_THRESHOLD_MA: i64 = 1000;

impl Site {
    /// Follows the car at each wallbox; answers what the wallboxes draw,
    /// per building phase, mA.
    pub(super) fn follow_cars(&mut self, params: &SiteParams, now: &Now) -> PerPhase {
        let mut evse_ma = [0i64; 3];
        for t in &mut self.devices {
            if !t.settings.dev_type.is_wallbox() {
                continue;
            }
            let reading = t.evse_reading();
            if let Some(r) = reading.as_ref().filter(|_| !t.offline) {
                t.run_soft_meter(r, now.mono_ms, params.voltage);
                if let Some(tx) = t.plug_or_unplug(r, now) {
                    self.closed.push(tx);
                }
                t.take_energy_start(r);
                if let Some(notice) = t.card_read(r, &self.users) {
                    self.notices.push(notice);
                }
            }
            t.detect_phases(reading.as_ref());
            // A card's `used_phases` holds while the car it authorised charges.
            t.card_phases = t
                .session
                .as_ref()
                .and_then(|session| session.auth.as_ref())
                .and_then(|(_, rfid)| find_card(&self.users, rfid))
                .map_or(0, |(_, card)| card.used_phases);
            let phases = t.phase_mask();
            let draw = t.draw(now.mono_ms, params.evse_fault_after_s * 1000);
            t.drawn = draw;
            t.drawn_floor = t.uncertain_floor(phases);
            let draw_building = t.building_draw(draw);
            for p in 0..3 {
                evse_ma[p] = evse_ma[p].saturating_add(draw_building[p]);
            }
            t.view = evse_view(
                reading.as_ref(),
                t.offline,
                phases,
                params,
                t.last_set,
                draw,
            );
        }
        evse_ma
    }
}

impl Tracked {
    /// The soft meter integrates the offered current while charging.
    fn run_soft_meter(&mut self, r: &EvseReading, now: u64, voltage: i64) {
        if r.meter.is_none() && r.state.charging() {
            let dt = now.saturating_sub(self.soft_at.unwrap_or(now));
            let used = self.settings.used_phases;
            let phases = if used == 0 {
                3
            } else {
                u64::from(used.count_ones())
            };
            let mw = u64::try_from(r.offered_ma.max(0).saturating_mul(voltage.max(0))).unwrap_or(0);
            self.soft_uj = self
                .soft_uj
                .saturating_add(mw.saturating_mul(phases).saturating_mul(dt));
        }
        self.soft_at = Some(now);
    }

    /// A car that arrives starts a session (and its transaction); one that
    /// leaves ends it: answers the transaction it closes.
    fn plug_or_unplug(&mut self, r: &EvseReading, now: &Now) -> Option<Transaction> {
        match (r.state.vehicle_present(), &self.turn) {
            (true, None) => {
                self.turn = Some(TurnState::plugged(now.mono_ms));
                self.seen_phases = 0;
                // Its energy counts from the first counter read (below).
                let tx = self.restored_tx.take().unwrap_or(Transaction {
                    dev_id: self.settings.dev_id.clone(),
                    start: now.wall_secs,
                    energy_start_wh: None,
                    ..Transaction::default()
                });
                let mut session = Session::restored(tx);
                // Overrides set while no car was there are this car's,
                // unless it comes back from before a restart with its own.
                if let Some(pending) = self.pending_overrides.take() {
                    if session.overrides.is_none() {
                        session.overrides = pending;
                    }
                }
                self.session = Some(session);
                None
            }
            (false, _) => {
                self.turn = None;
                self.seen_phases = 0;
                let energy = self.energy_wh();
                let open = self
                    .session
                    .take()
                    .map(|s| s.tx)
                    .or_else(|| self.restored_tx.take());
                open.map(|mut tx| {
                    tx.close(now.wall_secs, energy);
                    tx
                })
            }
            _ => None,
        }
    }

    /// Where the open session's energy counts from: the wallbox's word for
    /// its transaction's start, else its meter once read, else (no meter)
    /// the soft meter.
    fn take_energy_start(&mut self, r: &EvseReading) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let mut seen = Vec::with_capacity(2);
        // A counter of 0 is one not read yet (a charge point without a
        // meter sends a meterStart of 0 too).
        if let Some(wh) = r.transaction_start_wh.filter(|wh| *wh > 0) {
            seen.push((EnergyFrom::Wallbox, wh));
        }
        match &r.meter {
            Some(m) if m.import_wh > 0 => seen.push((EnergyFrom::Meter, m.import_wh)),
            Some(_) => {}
            None => seen.push((EnergyFrom::SoftMeter, soft_wh(self.soft_uj))),
        }
        session.take_energy_start(&seen);
    }

    /// A card read by the wallbox itself (Power Brain 8096, the `rfid` of
    /// an HTTP wallbox, an OCPP charge point's idTag): answers what
    /// happened, for the log.
    fn card_read(&mut self, r: &EvseReading, users: &[User]) -> Option<String> {
        if r.rfid.is_empty() {
            // The wallbox shows no card (an OCPP charge point after its car
            // left): the same card shown again is presented anew. A Power
            // Brain keeps showing its last card in 8096, so it never gets here
            // between two reads of one card.
            self.rfid_seen.clear();
            return None;
        }
        if r.rfid == self.rfid_seen {
            return None;
        }
        self.rfid_seen.clone_from(&r.rfid);
        let dev_id = &self.settings.dev_id;
        let session = self.session.as_mut()?;
        let outcome = match session.present(users, dev_id, &r.rfid) {
            Ok(done) => done.to_string(),
            Err(refused) => format!("refused: {refused}"),
        };
        Some(format!("{dev_id}: card {}: {outcome}", r.rfid))
    }

    /// Notes the phases the car draws on while it charges.
    fn detect_phases(&mut self, reading: Option<&EvseReading>) {
        let Some(r) = reading.filter(|r| r.state.charging()) else {
            return;
        };
        if let Some(meter) = r.meter.as_ref().filter(|m| m.per_phase) {
            for p in 0..3 {
                if meter.current_ma[p].unsigned_abs() >= PHASE_DRAW_THRESHOLD_MA.unsigned_abs() {
                    self.seen_phases |= 1 << p;
                }
            }
        }
    }
}
