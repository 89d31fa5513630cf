//! What is asked of the site between cycles: a card or PIN, an override,
//! the soft meter, and the transactions for the charging log.

use std::collections::BTreeMap;

use super::session::{CardOutcome, Overrides, Session, Transaction, Who};
use super::{soft_wh, Site, Tracked, UJ_PER_WH};
use crate::config::needs_auth;

impl Site {
    fn wallbox(&mut self, dev_id: &str) -> Result<&mut Tracked, String> {
        self.devices
            .iter_mut()
            .find(|t| {
                t.settings.dev_id.eq_ignore_ascii_case(dev_id) && t.settings.dev_type.is_evse()
            })
            .filter(|t| !t.settings.dev_type.is_group())
            .ok_or_else(|| format!("unknown wallbox: {dev_id}"))
    }

    /// A card or PIN entered for `dev_id`, or without one for the wallbox
    /// that waits for authorisation. Answers the wallbox and what happened.
    pub fn present_rfid(
        &mut self,
        dev_id: Option<&str>,
        rfid: &str,
    ) -> Result<(String, CardOutcome), String> {
        let dev_id = match dev_id {
            Some(d) => d.to_string(),
            None => {
                let users = &self.users;
                let waiting: Vec<String> = self
                    .devices
                    .iter()
                    .filter(|t| t.session.as_ref().is_some_and(|s| s.auth.is_none()))
                    .filter(|t| needs_auth(users, &t.settings.dev_id))
                    .map(|t| t.settings.dev_id.clone())
                    .collect();
                match waiting.as_slice() {
                    [] => return Err("no wallbox is waiting for authorisation".into()),
                    [one] => one.clone(),
                    several => {
                        return Err(format!(
                            "several wallboxes wait for authorisation ({}): give dev_id",
                            several.join(", ")
                        ))
                    }
                }
            }
        };
        let users = self.users.clone();
        let t = self.wallbox(&dev_id)?;
        let real_id = t.settings.dev_id.clone();
        let session = t
            .session
            .as_mut()
            .ok_or_else(|| format!("no vehicle at {real_id}"))?;
        let outcome = session.present(&users, &real_id, rfid)?;
        Ok((real_id, outcome))
    }

    /// `override_device` for the car at `dev_id`.
    pub fn override_device(
        &mut self,
        dev_id: &str,
        flags: &str,
        max_ma: Option<i64>,
        who: &Who,
    ) -> Result<(), String> {
        let users = self.users.clone();
        let t = self.wallbox(dev_id)?;
        let real_id = t.settings.dev_id.clone();
        let min = t.settings.min_charging_cur;
        if let Some(max) = max_ma.filter(|&max| max < min) {
            return Err(format!(
                "mamps: {max} mA is below {real_id}'s minimum of {min} mA (flag C stops charging)"
            ));
        }
        if let Some(session) = t.session.as_mut() {
            return session.override_with(&users, flags, max_ma, who);
        }
        // No car yet: the overrides wait for the next one and end when it
        // is unplugged, as on cFos.
        let mut waiting = Session {
            overrides: t.pending_overrides.clone().unwrap_or_default(),
            ..Session::default()
        };
        waiting.override_with(&users, flags, max_ma, who)?;
        t.pending_overrides = Some(waiting.overrides);
        Ok(())
    }

    /// `switch_phases` of `override_device`: 1p/3p switching for the car
    /// plugged in now, or the next one, until it is unplugged (the admin,
    /// or the card of the user charging there).
    pub fn override_phases(
        &mut self,
        dev_id: &str,
        phases: crate::phases::Switching,
        who: &Who,
    ) -> Result<(), String> {
        let users = self.users.clone();
        let t = self.wallbox(dev_id)?;
        if !t.settings.dev_type.can_switch_phases() {
            return Err(format!(
                "switch_phases: {} has no 1p/3p relay the daemon can set",
                t.settings.dev_id
            ));
        }
        let charging_user = t
            .session
            .as_ref()
            .and_then(|s| s.auth.as_ref())
            .map(|(u, _)| u.clone());
        let allowed = match who {
            Who::Admin => true,
            Who::Card(rfid) => crate::config::find_card(&users, rfid)
                .is_some_and(|(user, _)| Some(&user.id) == charging_user.as_ref()),
        };
        if !allowed {
            return Err(
                "switch_phases: needs the admin password or the card of the user charging here"
                    .into(),
            );
        }
        match t.session.as_mut() {
            Some(session) => session.overrides.phases = Some(phases),
            None => {
                t.pending_overrides
                    .get_or_insert_with(Overrides::default)
                    .phases = Some(phases);
            }
        }
        Ok(())
    }

    /// Reads the soft meter of `dev_id` (Wh) and, with `set`, sets it.
    /// Answers the reading before the change.
    pub fn soft_meter(&mut self, dev_id: &str, set: Option<i64>) -> Result<i64, String> {
        let t = self.wallbox(dev_id)?;
        let before = soft_wh(t.soft_uj);
        if let Some(wh) = set {
            let wh = u64::try_from(wh).map_err(|_| "val: must not be negative".to_string())?;
            t.soft_uj = wh.saturating_mul(UJ_PER_WH);
        }
        Ok(before)
    }

    /// Every wallbox's soft meter, Wh.
    pub fn soft_meters(&self) -> BTreeMap<String, i64> {
        self.devices
            .iter()
            .filter(|t| t.soft_uj > 0)
            .map(|t| (t.settings.dev_id.clone(), soft_wh(t.soft_uj)))
            .collect()
    }

    /// The transactions open now.
    pub fn open_transactions(&self) -> Vec<Transaction> {
        self.devices
            .iter()
            .filter_map(|t| {
                t.session
                    .as_ref()
                    .map(Session::saved)
                    .or_else(|| t.restored_tx.clone())
            })
            .collect()
    }

    /// Transactions closed since the last call, and card notices.
    pub fn take_events(&mut self) -> (Vec<Transaction>, Vec<String>) {
        (
            std::mem::take(&mut self.closed),
            std::mem::take(&mut self.notices),
        )
    }
}
