//! Whether a card may start charging at a wallbox, asked by a wallbox that
//! must answer at once (an OCPP charge point's Authorize): the same rules
//! as a card presented at a Power Brain (`Session::present`), without
//! changing anything.

use actix::prelude::*;

use super::actor::Supervisor;
use crate::config::{find_card, may_use, User};

/// Check `rfid` for `dev_id`: the user it authorises, or why not.
#[derive(Debug, Message)]
#[rtype(result = "Result<String, String>")]
pub struct CheckCard {
    pub dev_id: String,
    pub rfid: String,
}

/// The user whose card `rfid` may start charging at `dev_id`. One refusal
/// for an unknown card, another user's, or one that may not start
/// charging: it tells nothing about whose it is.
pub fn card_accepted(users: &[User], dev_id: &str, rfid: &str) -> Result<String, String> {
    let refused = || format!("card or PIN {rfid} not accepted at {dev_id}");
    let (user, card) = find_card(users, rfid).ok_or_else(refused)?;
    if !may_use(user, dev_id) || !card.ac_auth {
        return Err(refused());
    }
    Ok(user.id.clone())
}

impl Handler<CheckCard> for Supervisor {
    type Result = Result<String, String>;

    fn handle(&mut self, msg: CheckCard, _: &mut Self::Context) -> Self::Result {
        card_accepted(self.site.users(), &msg.dev_id, &msg.rfid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_is_accepted_where_its_user_may_charge() {
        let users: Vec<User> = serde_json::from_str(
            r#"[{"id": "anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}, {"id": "1111", "ac_auth": false}]}]"#,
        )
        .unwrap();
        assert_eq!(card_accepted(&users, "E1", "04ab"), Ok("anna".into()));
        for (dev_id, rfid) in [("E2", "04AB"), ("E1", "1111"), ("E1", "FFFF")] {
            assert_eq!(
                card_accepted(&users, dev_id, rfid),
                Err(format!("card or PIN {rfid} not accepted at {dev_id}"))
            );
        }
    }
}
