//! Users and their RFID cards or PINs: who may charge where. Pure code.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One RFID card or PIN of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfid {
    /// The card's id or the PIN (digits or hex).
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Presenting it authorises charging.
    #[serde(default = "yes")]
    pub ac_auth: bool,
    /// Presenting it again stops charging.
    #[serde(default)]
    pub ac_ovch: bool,
    /// Phases to use while this card charges (0 = no override).
    #[serde(default)]
    pub used_phases: u8,
}

fn yes() -> bool {
    true
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The user may be shown (by name) while plugged in.
    #[serde(default, deserialize_with = "flag_or_text")]
    pub display: bool,
    /// The wallboxes this user may use; empty = none.
    #[serde(default)]
    pub dev_ids: Vec<String>,
    #[serde(default)]
    pub rfids: Vec<Rfid>,
    /// The user's own charging rules.
    #[serde(default)]
    pub charging_rules: Vec<crate::rules::charging::Rule>,
}

/// Whether the user's name may be shown to anyone while their car is
/// plugged in (`display`).
pub fn shown_while_plugged_in(user: &User) -> bool {
    user.display
}

/// `display` as the API has it, a boolean (1/0 too); older state files
/// hold text there: empty, `false` or `0` is false, other text true.
fn flag_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
            Ok(n.as_u64() == Some(1))
        }
        Value::String(text) => {
            let text = text.trim();
            Ok(!(text.is_empty() || text.eq_ignore_ascii_case("false") || text == "0"))
        }
        other => Err(serde::de::Error::custom(format!(
            "{other} is not true or false"
        ))),
    }
}

/// The fields of a user and of a card this version knows.
const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "display",
    "dev_ids",
    "rfids",
    "charging_rules",
];
const RFID_FIELDS: &[&str] = &["id", "name", "ac_auth", "ac_ovch", "used_phases"];

/// Fields of a `set_user` body this version does not know (`rfids[0].pin`):
/// they are left out, and the daemon logs a warning naming them.
pub fn unknown_fields(body: &Map<String, Value>) -> Vec<String> {
    let mut unknown: Vec<String> = body
        .keys()
        .filter(|k| !USER_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    if let Some(Value::Array(cards)) = body.get("rfids") {
        for (i, card) in cards.iter().enumerate() {
            if let Value::Object(card) = card {
                unknown.extend(
                    card.keys()
                        .filter(|k| !RFID_FIELDS.contains(&k.as_str()))
                        .map(|k| format!("rfids[{i}].{k}")),
                );
            }
        }
    }
    unknown
}

/// `body` without the fields this version does not know.
fn known_fields(body: &Map<String, Value>) -> Map<String, Value> {
    let mut known: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| USER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(Value::Array(cards)) = known.get_mut("rfids") {
        for card in cards.iter_mut() {
            if let Value::Object(card) = card {
                card.retain(|k, _| RFID_FIELDS.contains(&k.as_str()));
            }
        }
    }
    known
}

/// Whether a wallbox asks for authorisation: some user is assigned to it.
pub fn needs_auth(users: &[User], dev_id: &str) -> bool {
    users
        .iter()
        .any(|u| u.dev_ids.iter().any(|d| d.eq_ignore_ascii_case(dev_id)))
}

/// The user and card with this RFID/PIN.
pub fn find_card<'a>(users: &'a [User], rfid: &str) -> Option<(&'a User, &'a Rfid)> {
    let rfid = rfid.trim();
    users.iter().find_map(|u| {
        u.rfids
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(rfid))
            .map(|r| (u, r))
    })
}

/// Whether `rfid` is one of `user`'s cards or PINs.
pub fn owns_card(user: &User, rfid: &str) -> bool {
    let rfid = rfid.trim();
    user.rfids.iter().any(|r| r.id.eq_ignore_ascii_case(rfid))
}

/// Whether `user` may charge at `dev_id`.
pub fn may_use(user: &User, dev_id: &str) -> bool {
    user.dev_ids.iter().any(|d| d.eq_ignore_ascii_case(dev_id))
}

fn valid_rfid(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Checks every user: unique ids and cards, cards of letters and digits.
pub fn validate_users(users: &[User]) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    // Card (lower case) → the user it belongs to.
    let mut cards = std::collections::HashMap::new();
    for u in users {
        if u.id.is_empty()
            || u.id.len() > 64
            || !u
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "user id '{}' must be 1 to 64 letters, digits, - or _",
                u.id
            ));
        }
        if !ids.insert(u.id.to_ascii_lowercase()) {
            return Err(format!("user id {} is used twice", u.id));
        }
        crate::rules::charging::RuleSet::new(&u.charging_rules)
            .map_err(|e| format!("{}: charging_rules: {e}", u.id))?;
        for r in &u.rfids {
            if !valid_rfid(&r.id) {
                return Err(format!(
                    "{}: rfid '{}' must be 1 to 64 letters or digits",
                    u.id, r.id
                ));
            }
            if r.used_phases > 7 {
                return Err(format!(
                    "{}: rfid {}: used_phases {} is not 0 to 7",
                    u.id, r.id, r.used_phases
                ));
            }
            if let Some(owner) = cards.insert(r.id.to_ascii_lowercase(), u.id.as_str()) {
                return Err(if owner == u.id {
                    format!("{}: rfid {} is listed twice", u.id, r.id)
                } else {
                    // Not naming the other user: an id is enough to read them.
                    format!("rfid {} belongs to two users", r.id)
                });
            }
        }
    }
    Ok(())
}

/// A `set_user` body applied to `users`. With `admin`, a user is created,
/// or an existing one changed in the fields the body names (the others
/// keep their value); without, the body must name an existing user, `proof`
/// must be one of that user's cards or PINs, and only the user's
/// `charging_rules` and `rfids` may change.
pub fn set_user(
    users: &mut Vec<User>,
    body: &Map<String, Value>,
    admin: bool,
    proof: Option<&str>,
    known_devices: &[String],
) -> Result<(), String> {
    let body = &known_fields(body);
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or("id: every user needs an id (get_new_user_id gives a fresh one)")?;
    let existing = users.iter().position(|u| u.id == id);
    let mut next = users.clone();
    if admin {
        let mut merged = match existing {
            Some(i) => match serde_json::to_value(&next[i]) {
                Ok(Value::Object(fields)) => fields,
                _ => Map::new(),
            },
            None => Map::new(),
        };
        merged.extend(body.clone());
        let user: User =
            serde_json::from_value(Value::Object(merged)).map_err(|e| format!("user: {e}"))?;
        if let Some(d) = user
            .dev_ids
            .iter()
            .find(|d| !known_devices.iter().any(|k| k.eq_ignore_ascii_case(d)))
        {
            return Err(format!("dev_ids: there is no wallbox {d}"));
        }
        match existing {
            Some(i) => next[i] = user,
            None => next.push(user),
        }
    } else {
        // The same refusal whether the user exists or the card is wrong.
        let refused = "rfid: card or PIN not accepted for this user".to_string();
        let i = existing.ok_or_else(|| refused.clone())?;
        if !proof.is_some_and(|card| owns_card(&next[i], card)) {
            return Err(refused);
        }
        let mut user = next[i].clone();
        for (key, value) in body {
            match key.as_str() {
                "id" => {}
                "charging_rules" => {
                    user.charging_rules = serde_json::from_value(value.clone())
                        .map_err(|e| format!("charging_rules: {e}"))?;
                }
                "rfids" => {
                    user.rfids =
                        serde_json::from_value(value.clone()).map_err(|e| format!("rfids: {e}"))?
                }
                other => {
                    let current = serde_json::to_value(&next[i])
                        .ok()
                        .and_then(|v| v.get(other).cloned());
                    if current.as_ref() != Some(value) {
                        return Err(format!("{other}: only charging_rules and rfids can be changed without the admin password"));
                    }
                }
            }
        }
        // A card of another user is refused without saying so.
        let others: Vec<User> = next.iter().filter(|u| u.id != user.id).cloned().collect();
        if let Some(card) = user
            .rfids
            .iter()
            .find(|r| find_card(&others, &r.id).is_some())
        {
            return Err(format!("rfids: card or PIN {} cannot be used", card.id));
        }
        next[i] = user;
    }
    validate_users(&next)?;
    *users = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users() -> Vec<User> {
        serde_json::from_value(json!([
            {"id": "u1", "name": "Anna", "dev_ids": ["E1"], "rfids": [{"id": "04AB"}, {"id": "1234", "ac_ovch": true}]},
            {"id": "u2", "name": "Ben", "dev_ids": ["E2"], "rfids": [{"id": "9999"}]}
        ]))
        .unwrap()
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn cards_and_wallboxes() {
        let u = users();
        assert!(needs_auth(&u, "e1"));
        assert!(!needs_auth(&u, "E3"));
        let (user, card) = find_card(&u, "04ab").unwrap();
        assert_eq!((user.id.as_str(), card.ac_auth), ("u1", true));
        assert!(find_card(&u, "0000").is_none());
        assert!(may_use(user, "E1") && !may_use(user, "E2"));
    }

    #[test]
    fn the_seed_example_reads_and_older_display_text_still_loads() {
        let seed = json!({"id": "2167520770", "name": "wusel", "display": true, "dev_ids": ["E1"],
            "rfids": [{"id": "4711", "name": "TeSt", "ac_auth": true, "ac_ovch": false, "used_phases": 7}],
            "charging_rules": []});
        let user: User = serde_json::from_value(seed.clone()).unwrap();
        assert_eq!(serde_json::to_value(&user).unwrap(), seed);
        for (old, shown) in [
            ("", false),
            ("false", false),
            ("0", false),
            ("yes", true),
            ("Anna", true),
        ] {
            let user: User = serde_json::from_value(json!({"id": "u1", "display": old})).unwrap();
            assert_eq!(user.display, shown, "{old:?}");
        }
        assert!(serde_json::from_value::<User>(json!({"id": "u1", "display": [1]})).is_err());
    }

    #[test]
    fn unknown_fields_are_named_and_left_out() {
        let body = body(json!({"id": "u3", "name": "Cleo", "pin_hash": "x",
            "rfids": [{"id": "77", "valid_until": 0, "used_phases": 1}]}));
        assert_eq!(unknown_fields(&body), ["pin_hash", "rfids[0].valid_until"]);
        let mut u = users();
        set_user(&mut u, &body, true, None, &[]).unwrap();
        assert_eq!((u[2].name.as_str(), u[2].rfids[0].used_phases), ("Cleo", 1));
    }

    #[test]
    fn the_admin_changes_only_the_fields_sent() {
        let mut u = users();
        let before = u[0].clone();
        set_user(
            &mut u,
            &body(json!({"id": "u1", "charging_rules": [{"current": 8000}]})),
            true,
            None,
            &["E1".to_string()],
        )
        .unwrap();
        assert_eq!(u[0].charging_rules.len(), 1);
        assert_eq!(
            (&u[0].name, &u[0].rfids, &u[0].dev_ids),
            (&before.name, &before.rfids, &before.dev_ids),
            "what was not sent is kept"
        );
    }

    #[test]
    fn a_user_without_the_password_changes_only_rules_and_cards() {
        let devices = vec!["E1".to_string(), "E2".to_string()];
        let mut u = users();
        let refused = Err("rfid: card or PIN not accepted for this user".to_string());
        let change =
            body(json!({"id": "u1", "rfids": [{"id": "5555"}], "charging_rules": [{"mode": 0}]}));
        assert_eq!(
            set_user(&mut u, &change, false, None, &devices),
            refused,
            "the id alone is not enough"
        );
        assert_eq!(
            set_user(&mut u, &change, false, Some("9999"), &devices),
            refused,
            "nor another user's card"
        );
        set_user(&mut u, &change, false, Some("04ab"), &devices).unwrap();
        assert_eq!(u[0].rfids[0].id, "5555");
        assert_eq!(u[0].dev_ids, ["E1"], "unchanged");
        let raise = set_user(
            &mut u,
            &body(json!({"id": "u1", "dev_ids": ["E1", "E2"]})),
            false,
            Some("5555"),
            &devices,
        );
        assert!(raise
            .unwrap_err()
            .contains("dev_ids: only charging_rules and rfids"));
        let create = set_user(
            &mut u,
            &body(json!({"id": "u9", "name": "Eve"})),
            false,
            Some("5555"),
            &devices,
        );
        assert_eq!(
            create, refused,
            "an unknown user is refused as a wrong card"
        );
        let steal = set_user(
            &mut u,
            &body(json!({"id": "u1", "rfids": [{"id": "9999"}]})),
            false,
            Some("5555"),
            &devices,
        );
        assert_eq!(steal, Err("rfids: card or PIN 9999 cannot be used".into()));
        let twice = validate_users(
            &serde_json::from_value::<Vec<User>>(
                json!([{"id": "u3", "rfids": [{"id": "AA1"}, {"id": "aa1"}]}]),
            )
            .unwrap(),
        );
        assert_eq!(twice, Err("u3: rfid aa1 is listed twice".into()));
        set_user(
            &mut u,
            &body(json!({"id": "u9", "name": "Eve", "dev_ids": ["E2"]})),
            true,
            None,
            &devices,
        )
        .unwrap();
        assert_eq!(u.len(), 3);
        let bad = set_user(
            &mut u,
            &body(json!({"id": "u9", "dev_ids": ["E7"]})),
            true,
            None,
            &devices,
        );
        assert_eq!(bad, Err("dev_ids: there is no wallbox E7".into()));
    }
}
