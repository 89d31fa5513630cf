//! One car's stay at a wallbox, plug-in to unplug: who authorised it, the
//! overrides set for it, and its transaction for the charging log. Pure.

pub use crate::charging_log::{Overrides, Transaction};
use crate::config::{find_card, may_use, User};

/// Who asks for an override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Admin,
    /// An RFID card or PIN.
    Card(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The user who authorised charging, and with which card.
    pub auth: Option<(String, String)>,
    pub overrides: Overrides,
    pub tx: Transaction,
    /// Where `tx.energy_start_wh` was read.
    pub energy_from: EnergyFrom,
}

/// A counter the energy of a stay can count from, from the least to the
/// most trusted: each replaces the ones before it when it first shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum EnergyFrom {
    /// Not read yet.
    #[default]
    Nothing,
    /// The soft meter of a wallbox that shows no meter (yet).
    SoftMeter,
    /// The wallbox's meter (or the meter attached to it).
    Meter,
    /// The wallbox's own word for where its transaction began (OCPP's
    /// `meterStart`); also a start saved before a restart, which is kept.
    Wallbox,
}

/// What presenting a card did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardOutcome {
    Authorised {
        user: String,
    },
    /// An `ac_ovch` card of the charging user: charging stops.
    Stopped {
        user: String,
    },
}

/// In words, for the log: `authorised user anna`.
impl std::fmt::Display for CardOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardOutcome::Authorised { user } => write!(f, "authorised user {user}"),
            CardOutcome::Stopped { user } => write!(f, "stopped charging for user {user}"),
        }
    }
}

impl Session {
    /// A session continued from a transaction saved before a restart.
    pub fn restored(tx: Transaction) -> Self {
        Session {
            auth: (!tx.user.is_empty()).then(|| (tx.user.clone(), tx.rfid.clone())),
            overrides: tx.overrides.clone(),
            energy_from: if tx.energy_start_wh.is_some() {
                EnergyFrom::Wallbox
            } else {
                EnergyFrom::Nothing
            },
            tx,
        }
    }

    /// The counters the wallbox shows this cycle (Wh; a meter's counter of
    /// 0 is one not read yet, and is left out by the caller): the stay's
    /// energy counts from the most trusted one seen since plug-in. A
    /// session never counts from a counter that was not read, so a car
    /// that arrives before the wallbox's first meter values is not charged
    /// for the whole meter.
    pub fn take_energy_start(&mut self, seen: &[(EnergyFrom, i64)]) {
        let best = seen.iter().copied().max_by_key(|(from, _)| *from);
        if let Some((from, wh)) = best.filter(|(from, _)| *from > self.energy_from) {
            self.energy_from = from;
            self.tx.energy_start_wh = Some(wh);
        }
    }

    /// The open transaction as it is saved, with the overrides in force.
    pub fn saved(&self) -> Transaction {
        Transaction {
            overrides: self.overrides.clone(),
            ..self.tx.clone()
        }
    }

    /// A card at this wallbox (`dev_id`), with a car plugged in.
    pub fn present(
        &mut self,
        users: &[User],
        dev_id: &str,
        rfid: &str,
    ) -> Result<CardOutcome, String> {
        // One refusal for an unknown card, another user's, or one that may
        // not start charging here: it tells nothing about whose it is.
        let refused = || format!("card or PIN {rfid} not accepted at {dev_id}");
        let (user, card) = find_card(users, rfid).ok_or_else(refused)?;
        if !may_use(user, dev_id) {
            return Err(refused());
        }
        if self.auth.as_ref().is_some_and(|(u, _)| *u == user.id) && card.ac_ovch {
            self.overrides.disabled = true;
            return Ok(CardOutcome::Stopped {
                user: user.id.clone(),
            });
        }
        if !card.ac_auth {
            return Err(refused());
        }
        self.auth = Some((user.id.clone(), card.id.clone()));
        self.overrides.disabled = false;
        self.tx.user.clone_from(&user.id);
        self.tx.rfid.clone_from(&card.id);
        Ok(CardOutcome::Authorised {
            user: user.id.clone(),
        })
    }

    /// `override_device`: flags `C`/`c` (admin or the charging user's
    /// card), `E`/`e` (admin), `U`/`u` (the charging user's card or admin),
    /// and `mamps`. Nothing changes unless every part is allowed.
    pub fn override_with(
        &mut self,
        users: &[User],
        flags: &str,
        max_ma: Option<i64>,
        who: &Who,
    ) -> Result<(), String> {
        let charging_user = self.auth.as_ref().map(|(u, _)| u.as_str());
        // An unknown card is refused like another user's: no telling which.
        let own_card = match who {
            Who::Admin => false,
            Who::Card(rfid) => find_card(users, rfid)
                .is_some_and(|(user, _)| Some(user.id.as_str()) == charging_user),
        };
        let admin = *who == Who::Admin;
        let mut next = self.overrides.clone();
        for flag in flags.chars() {
            let allowed = match flag {
                'C' | 'c' | 'U' | 'u' => admin || own_card,
                'E' | 'e' => admin,
                other => return Err(format!("flags: unknown flag '{other}' (C, c, E, e, U, u)")),
            };
            if !allowed {
                return Err(format!("flags: '{flag}' needs the admin password or the card of the user charging here"));
            }
            match flag {
                'C' => next.disabled = true,
                'c' => next.disabled = false,
                'E' => next.wallbox_rules_off = true,
                'e' => next.wallbox_rules_off = false,
                'U' => next.user_rules_off = true,
                _ => next.user_rules_off = false,
            }
        }
        if let Some(max) = max_ma {
            if !(admin || own_card) {
                return Err(
                    "mamps: needs the admin password or the card of the user charging here".into(),
                );
            }
            next.max_ma = Some(max);
        }
        self.overrides = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users() -> Vec<User> {
        serde_json::from_value(json!([
            {"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}, {"id": "1111", "ac_auth": false, "ac_ovch": true}]},
            {"id": "ben", "dev_ids": ["E2"], "rfids": [{"id": "9999"}]}
        ]))
        .unwrap()
    }

    #[test]
    fn a_card_authorises_its_user_at_its_wallboxes_only() {
        let u = users();
        let mut s = Session::default();
        // Unknown, another user's, and one that does not start charging:
        // the same refusal.
        for card in ["0000", "9999", "1111"] {
            assert_eq!(
                s.present(&u, "E1", card),
                Err(format!("card or PIN {card} not accepted at E1"))
            );
        }
        assert_eq!(
            s.present(&u, "E1", "04ab"),
            Ok(CardOutcome::Authorised {
                user: "anna".into()
            })
        );
        assert_eq!((s.tx.user.as_str(), s.tx.rfid.as_str()), ("anna", "04AB"));
        // The stop card of the same user stops charging.
        assert_eq!(
            s.present(&u, "E1", "1111"),
            Ok(CardOutcome::Stopped {
                user: "anna".into()
            })
        );
        assert!(s.overrides.disabled);
    }

    #[test]
    fn overrides_need_the_right_credentials() {
        let u = users();
        let mut s = Session::default();
        s.present(&u, "E1", "04AB").unwrap();
        let anna = Who::Card("04AB".into());
        let ben = Who::Card("9999".into());
        assert!(s.override_with(&u, "C", None, &ben).is_err());
        assert!(
            s.override_with(&u, "E", None, &anna).is_err(),
            "E is for the admin"
        );
        assert_eq!(s.override_with(&u, "CU", Some(8000), &anna), Ok(()));
        assert_eq!(s.overrides.flags(), "CU");
        assert_eq!(s.overrides.mask(), 0b101);
        assert_eq!(s.overrides.max_ma, Some(8000));
        assert_eq!(s.override_with(&u, "cE", None, &Who::Admin), Ok(()));
        assert_eq!(s.overrides.flags(), "EU");
        assert_eq!(s.overrides.mask(), 0b110);
        // Each lower-case flag lifts its own override only.
        assert_eq!(s.override_with(&u, "e", None, &Who::Admin), Ok(()));
        assert_eq!(s.overrides.flags(), "U");
        assert_eq!(s.override_with(&u, "Eu", None, &Who::Admin), Ok(()));
        assert_eq!(s.overrides.flags(), "E");
        assert!(s.override_with(&u, "X", None, &Who::Admin).is_err());
        // Saved and restored after a restart, the overrides are kept.
        let saved = s.saved();
        assert_eq!(saved.overrides, s.overrides);
        assert_eq!(Session::restored(saved).overrides, s.overrides);
    }

    #[test]
    fn a_stay_counts_from_the_most_trusted_counter_read() {
        use EnergyFrom::{Meter, SoftMeter, Wallbox};
        let mut s = Session::default();
        s.take_energy_start(&[]);
        assert_eq!(s.tx.energy_start_wh, None, "nothing read: no start");
        // No meter yet: the soft meter, until the meter is read.
        s.take_energy_start(&[(SoftMeter, 7)]);
        assert_eq!((s.tx.energy_start_wh, s.energy_from), (Some(7), SoftMeter));
        s.take_energy_start(&[(Meter, 1200)]);
        s.take_energy_start(&[(Meter, 1300), (SoftMeter, 9)]);
        assert_eq!((s.tx.energy_start_wh, s.energy_from), (Some(1200), Meter));
        // The wallbox's word for its transaction's start beats both, once:
        // a second transaction of the same car does not move it.
        s.take_energy_start(&[(Meter, 1400), (Wallbox, 1000)]);
        s.take_energy_start(&[(Wallbox, 1400)]);
        assert_eq!((s.tx.energy_start_wh, s.energy_from), (Some(1000), Wallbox));
        let mut tx = s.tx.clone();
        tx.close(50, 4500);
        assert_eq!((tx.end, tx.energy_wh), (50, 3500));
        // A start never read counts nothing; a counter that ran back, 0.
        let mut unread = Transaction::default();
        unread.close(50, 4500);
        assert_eq!(unread.energy_wh, 0);
        tx.close(60, 900);
        assert_eq!(tx.energy_wh, 0);
        // A start saved before a restart is kept.
        let restored = Session::restored(s.saved());
        assert_eq!(restored.energy_from, Wallbox);
        assert_eq!(
            Session::restored(Transaction::default()).energy_from,
            EnergyFrom::Nothing
        );
    }

    #[test]
    fn csv_lines_cannot_be_split() {
        let tx = Transaction {
            dev_id: "E1".into(),
            user: "a,b\nc".into(),
            rfid: "04AB".into(),
            start: 10,
            end: 20,
            energy_start_wh: Some(0),
            energy_wh: 5,
            overrides: Overrides::default(),
        };
        assert_eq!(tx.csv_line(), "E1,a b c,04AB,10,20,5\n");
    }
}
