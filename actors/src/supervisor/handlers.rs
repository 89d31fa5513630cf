//! The supervisor's message handlers: what each message does with the
//! actor (`actor.rs`) and the pure `Site`.

use std::sync::Arc;

use actix::prelude::*;
use slog::{info, warn};

use super::actor::{saved, Supervisor};
use super::messages::{
    ConfigError, Configure, CycleNow, Flush, GetHistory, GetSnapshot, OverrideDevice, PresentRfid,
    Reevaluate, SetGridDimming, SoftMeter, TakeHistory,
};
use super::site::Snapshot;
use crate::config::{self, Change};
use crate::history;

impl Handler<GetSnapshot> for Supervisor {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.snapshot.clone())
    }
}

impl Handler<CycleNow> for Supervisor {
    type Result = ResponseActFuture<Self, Arc<Snapshot>>;

    fn handle(&mut self, _: CycleNow, ctx: &mut Self::Context) -> Self::Result {
        self.cycle(false, ctx)
    }
}

impl Handler<Reevaluate> for Supervisor {
    type Result = ResponseActFuture<Self, Arc<Snapshot>>;

    fn handle(&mut self, _: Reevaluate, ctx: &mut Self::Context) -> Self::Result {
        self.cycle(true, ctx)
    }
}

impl Handler<Configure> for Supervisor {
    type Result = AtomicResponse<Self, Result<Vec<String>, ConfigError>>;

    fn handle(&mut self, msg: Configure, _: &mut Self::Context) -> Self::Result {
        let refused = |e| AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        let change = match msg {
            Configure::ResetDevice(dev_id) => match self.plant.find(&dev_id) {
                Some(d) => return self.reset(d.settings.dev_id.clone()),
                None => return refused(ConfigError::UnknownDevice(dev_id)),
            },
            Configure::Change(Change::DeleteDevice(dev_id))
                if self.plant.find(&dev_id).is_none() =>
            {
                return refused(ConfigError::UnknownDevice(dev_id));
            }
            Configure::Change(change) => change,
        };
        let (change, reset_overdraft) = match self.prepare(change) {
            Ok(prepared) => prepared,
            Err(e) => return refused(e),
        };
        let effect = Effect::of(&change);
        let write = self.write(change);
        AtomicResponse::new(Box::pin(write.into_actor(self).map(
            move |written, act, ctx| {
                let state = written?;
                let mut changed = config::changes(&act.state, &state);
                if reset_overdraft {
                    act.site.reset_overdraft();
                    changed.push("overdraft_cur reset to 0".into());
                }
                match effect {
                    Effect::Everything => act.apply_state(state, &[], ctx)?,
                    Effect::CmVars => {
                        act.site.set_cm_vars(&state.cm_vars);
                        act.state = state;
                    }
                    Effect::Stored => {
                        act.state = state;
                        return Ok(changed);
                    }
                }
                act.decide_before_anything_else(ctx);
                Ok(changed)
            },
        )))
    }
}

/// What a written change takes to be in force.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Devices, parameters and users: everything is put into force again.
    Everything,
    /// Only the charging-manager variables the formulas read.
    CmVars,
    /// Nothing the cycle uses (the license, the admin password, the MQTT
    /// settings, which the MQTT client takes from the API).
    Stored,
}

impl Effect {
    fn of(change: &Change) -> Self {
        match change {
            Change::SetParams(_) | Change::DeleteDevice(_) | Change::SetUser { .. } => {
                Effect::Everything
            }
            Change::SetCmVar { .. } => Effect::CmVars,
            Change::License { .. } | Change::AdminHash(_) | Change::SetMqtt { .. } => {
                Effect::Stored
            }
        }
    }
}

impl Supervisor {
    /// Logs what a change carries that is ignored, and takes out what is
    /// no configuration (`overdraft_cur` set to 0 resets the overdraft):
    /// the change to write, and whether to reset the overdraft.
    fn prepare(&self, change: Change) -> Result<(Change, bool), ConfigError> {
        match change {
            Change::SetParams(mut body) => {
                let ignored = config::ignored_keys(&body);
                if !ignored.is_empty() {
                    warn!(self.log, "set_params: ignored keys of cFos firmware that chargebrain does not act on";
                        "keys" => ignored.join(", "));
                }
                let reset = match body.remove("overdraft_cur") {
                    None => false,
                    Some(v) if v.as_i64() == Some(0) => true,
                    Some(_) => {
                        return Err(ConfigError::Rejected(
                            "overdraft_cur: can only be set to 0".into(),
                        ))
                    }
                };
                Ok((Change::SetParams(body), reset))
            }
            Change::SetUser { body, admin, proof } => {
                let unknown = config::unknown_fields(&body);
                if !unknown.is_empty() {
                    warn!(self.log, "set_user: ignored fields chargebrain does not know";
                        "fields" => unknown.join(", "));
                }
                Ok((Change::SetUser { body, admin, proof }, false))
            }
            other => Ok((other, false)),
        }
    }

    /// `reset_device`: the device starts afresh with the same settings.
    fn reset(&mut self, dev_id: String) -> AtomicResponse<Self, Result<Vec<String>, ConfigError>> {
        let state = self.state.clone();
        AtomicResponse::new(Box::pin(fut::ready(()).into_actor(self).map(
            move |(), act, ctx| {
                act.apply_state(state, std::slice::from_ref(&dev_id), ctx)?;
                act.decide_before_anything_else(ctx);
                Ok(vec![format!("{dev_id} reset")])
            },
        )))
    }
}

impl Supervisor {
    /// Decides once more, right after the change in force is answered and
    /// before the actor takes any other message or runs anything else: the
    /// API reports the change at once (a `get_dev_info` sent after the
    /// answer sees it), not after the next cycle, and the caller of a
    /// one-device change does not wait for a decision over every device.
    fn decide_before_anything_else(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(fut::ready(()).map(|(), act: &mut Self, _| {
            let now = act.now_ms();
            act.decide(now, act.snapshot.cycle_time_ms);
        }));
    }

    /// Decides again after a change of a car's session (a card, an
    /// override) and answers `answer` once the open transactions, overrides
    /// included, are written: a crash right after the answer loses nothing.
    fn decide_and_save<T: 'static>(
        &mut self,
        answer: T,
    ) -> ResponseActFuture<Self, Result<T, ConfigError>> {
        let now = self.now_ms();
        self.decide(now, self.snapshot.cycle_time_ms);
        let save = self.save_running(self.site.open_transactions(), None);
        Box::pin(async move { saved(save.await).map(|()| answer) }.into_actor(self))
    }
}

impl Handler<PresentRfid> for Supervisor {
    type Result = ResponseActFuture<Self, Result<String, ConfigError>>;

    fn handle(&mut self, msg: PresentRfid, _: &mut Self::Context) -> Self::Result {
        let result = self.site.present_rfid(msg.dev_id.as_deref(), &msg.rfid);
        match &result {
            Ok((dev_id, outcome)) => {
                info!(self.log, "card presented"; "device" => dev_id, "outcome" => %outcome)
            }
            Err(e) => warn!(self.log, "card refused"; "reason" => e),
        }
        match result {
            Ok((dev_id, _)) => self.decide_and_save(dev_id),
            Err(e) => Box::pin(fut::ready(Err(ConfigError::Rejected(e)))),
        }
    }
}

impl Handler<OverrideDevice> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), ConfigError>>;

    fn handle(&mut self, msg: OverrideDevice, _: &mut Self::Context) -> Self::Result {
        let done = self
            .site
            .override_device(&msg.dev_id, &msg.flags, msg.max_ma, &msg.who)
            .and_then(|()| match msg.phases {
                Some(phases) => self.site.override_phases(&msg.dev_id, phases, &msg.who),
                None => Ok(()),
            });
        match done {
            Ok(()) => self.decide_and_save(()),
            Err(e) => Box::pin(fut::ready(Err(ConfigError::Rejected(e)))),
        }
    }
}

impl Handler<SetGridDimming> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SetGridDimming, _: &mut Self::Context) {
        self.site.set_grid_dimming(msg.active);
    }
}

impl Handler<SoftMeter> for Supervisor {
    type Result = ResponseActFuture<Self, Result<i64, ConfigError>>;

    fn handle(&mut self, msg: SoftMeter, _: &mut Self::Context) -> Self::Result {
        let before = match self.site.soft_meter(&msg.dev_id, msg.set) {
            Ok(b) => b,
            Err(e) => return Box::pin(fut::ready(Err(ConfigError::Rejected(e)))),
        };
        if msg.set.is_none() {
            return Box::pin(fut::ready(Ok(before)));
        }
        let save = self.save_running(self.site.open_transactions(), Some(self.site.soft_meters()));
        Box::pin(async move { saved(save.await).map(|()| before) }.into_actor(self))
    }
}

impl Handler<GetHistory> for Supervisor {
    type Result = Result<history::Series, ConfigError>;

    fn handle(&mut self, GetHistory(query): GetHistory, _: &mut Self::Context) -> Self::Result {
        if let Some(dev_id) = &query.dev_id {
            let wallbox = self
                .plant
                .find(dev_id)
                .is_some_and(|d| d.settings.dev_type.is_evse());
            if !wallbox && !self.history.knows(dev_id) {
                return Err(ConfigError::UnknownDevice(dev_id.clone()));
            }
        }
        Ok(self.history.query(&query))
    }
}

impl Handler<TakeHistory> for Supervisor {
    type Result = MessageResult<TakeHistory>;

    fn handle(&mut self, _: TakeHistory, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.history.to_saved())
    }
}

impl Handler<Flush> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Flush, _: &mut Self::Context) -> Self::Result {
        let save = self.save_running(self.site.open_transactions(), Some(self.site.soft_meters()));
        let log = self.log.clone();
        Box::pin(
            async move {
                if !matches!(save.await, Ok(Ok(_))) {
                    warn!(log, "could not save soft meters and open transactions");
                }
            }
            .into_actor(self),
        )
    }
}
