//! The topics: what is published where, and what an incoming topic asks.
//! Pure.

/// The topics under one prefix (`cfos_mqtt` by default).
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

/// What an incoming message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `<prefix>/set/<dev_id>`: values for an HTTP-input device.
    Set { dev_id: &'a str },
    /// `<prefix>/api/<query>`: a `/cnf` command.
    Api { query: &'a str },
    /// `<prefix>/ha/<dev_id>/<control>/set`: a Home Assistant control.
    Control { dev_id: &'a str, control: &'a str },
    /// Anything else under a subscription (ignored).
    Other,
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        Topics {
            prefix: prefix.to_string(),
        }
    }

    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    pub fn dev_info(&self) -> String {
        format!("{}/get/dev_info", self.prefix)
    }

    pub fn params(&self) -> String {
        format!("{}/get/params", self.prefix)
    }

    pub fn device(&self, dev_id: &str) -> String {
        format!("{}/get/{dev_id}", self.prefix)
    }

    pub fn ta_log(&self) -> String {
        format!("{}/ta_log", self.prefix)
    }

    pub fn api_res(&self) -> String {
        format!("{}/api_res", self.prefix)
    }

    pub fn control(&self, dev_id: &str, control: &str) -> String {
        format!("{}/ha/{dev_id}/{control}/set", self.prefix)
    }

    /// What the client subscribes to.
    pub fn subscriptions(&self) -> [String; 3] {
        [
            format!("{}/set/+", self.prefix),
            format!("{}/api/#", self.prefix),
            format!("{}/ha/+/+/set", self.prefix),
        ]
    }

    pub fn classify<'a>(&self, topic: &'a str) -> Incoming<'a> {
        let Some(rest) = topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Incoming::Other;
        };
        if let Some(dev_id) = rest.strip_prefix("set/") {
            if !dev_id.is_empty() && !dev_id.contains('/') {
                return Incoming::Set { dev_id };
            }
        } else if let Some(query) = rest.strip_prefix("api/") {
            return Incoming::Api { query };
        } else if let Some(control) = rest.strip_prefix("ha/") {
            let parts: Vec<&str> = control.split('/').collect();
            if let [dev_id, control, "set"] = parts[..] {
                return Incoming::Control { dev_id, control };
            }
        }
        Incoming::Other
    }
}

/// A Home Assistant control's command as a `/cnf` query, or why not.
pub fn control_query(dev_id: &str, control: &str, payload: &str) -> Result<String, String> {
    let payload = payload.trim();
    let switch = |on: &str, off: &str| match payload {
        "ON" => Ok(on.to_string()),
        "OFF" => Ok(off.to_string()),
        other => Err(format!("'{other}' is not ON or OFF")),
    };
    let (key, value) = match control {
        // The overrides' letters: C stops charging, E and U switch the
        // wallbox's and the user's rules off; lower case undoes them.
        "charging" => ("flags", switch("c", "C")?),
        "wallbox_rules" => ("flags", switch("e", "E")?),
        "user_rules" => ("flags", switch("u", "U")?),
        "mamps" => {
            let ma = payload
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("'{payload}' is not a current in mA"))?;
            ("mamps", format!("{}", ma.round()))
        }
        other => return Err(format!("unknown control '{other}'")),
    };
    serde_urlencoded::to_string([
        ("cmd", "override_device"),
        ("dev_id", dev_id),
        (key, value.as_str()),
    ])
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_topics_are_told_apart() {
        let t = Topics::new("cfos_mqtt");
        assert_eq!(
            t.classify("cfos_mqtt/set/M4"),
            Incoming::Set { dev_id: "M4" }
        );
        assert_eq!(
            t.classify("cfos_mqtt/api/cmd=override_device&dev_id=E1&flags=C"),
            Incoming::Api {
                query: "cmd=override_device&dev_id=E1&flags=C"
            }
        );
        assert_eq!(
            t.classify("cfos_mqtt/ha/E1/charging/set"),
            Incoming::Control {
                dev_id: "E1",
                control: "charging"
            }
        );
        for other in [
            "cfos_mqtt/set/",
            "cfos_mqtt/set/E1/x",
            "cfos_mqtt/get/E1",
            "cfos_mqttx/set/E1",
            "other/set/E1",
            "cfos_mqtt/ha/E1/charging",
        ] {
            assert_eq!(t.classify(other), Incoming::Other, "{other}");
        }
    }

    #[test]
    fn controls_become_override_commands() {
        assert_eq!(
            control_query("E1", "charging", "OFF").unwrap(),
            "cmd=override_device&dev_id=E1&flags=C"
        );
        assert_eq!(
            control_query("E1", "wallbox_rules", "ON").unwrap(),
            "cmd=override_device&dev_id=E1&flags=e"
        );
        assert_eq!(
            control_query("E2", "mamps", "10000.0").unwrap(),
            "cmd=override_device&dev_id=E2&mamps=10000"
        );
        // A dev_id cannot smuggle in parameters.
        assert_eq!(
            control_query("E1&flags=E", "user_rules", "ON").unwrap(),
            "cmd=override_device&dev_id=E1%26flags%3DE&flags=u"
        );
        assert!(control_query("E1", "charging", "maybe").is_err());
        assert!(control_query("E1", "mamps", "-5").is_err());
        assert!(control_query("E1", "reboot", "ON").is_err());
    }
}
