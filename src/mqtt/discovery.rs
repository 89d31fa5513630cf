//! Home Assistant MQTT discovery: a retained config message per entity,
//! under `<discovery_prefix>/<component>/chargebrain_<serial>_<dev_id>_<key>/config`.
//! One Home Assistant device per chargebrain device, each linked to the
//! chargebrain hub (`via_device`); every entity reads the device's
//! `<prefix>/get/<dev_id>` and is available while `<prefix>/status` says
//! `online`. Pure.

use std::collections::BTreeMap;

use actors::config::{CurrentLimit, DeviceSettings};
use serde_json::{json, Map, Value};

use super::topics::Topics;

/// What the configs are made from.
pub struct Discovery<'a> {
    pub discovery_prefix: &'a str,
    pub topics: &'a Topics,
    pub serialno: &'a str,
    /// Whether the controls (the cap, the override switches) are offered:
    /// only when MQTT may change things (`allow_api_writes`).
    pub controls: bool,
}

/// One entity: its component and key, and what it reads.
struct Entity {
    component: &'static str,
    key: String,
    config: Map<String, Value>,
}

/// Topic and object-id text: letters, digits, `_` and `-` only.
fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A Home Assistant entity id, `<component>.<slug>`: the slug lower case
/// letters, digits and single `_` between them, as Home Assistant requires.
fn entity_id(component: &str, object_id: &str) -> String {
    let mut slug = String::new();
    for c in object_id.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c != '_' || !(slug.is_empty() || slug.ends_with('_')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_end_matches('_');
    format!("{component}.{slug}")
}

fn sensor(key: &str, name: &str, template: &str) -> Entity {
    let mut config = Map::new();
    config.insert("name".into(), name.into());
    config.insert("value_template".into(), template.into());
    Entity {
        component: "sensor",
        key: key.to_string(),
        config,
    }
}

/// A sensor of a number with a unit and Home Assistant's device class.
fn measured(key: &str, name: &str, field: &str, unit: &str, class: &str) -> Entity {
    let mut e = sensor(key, name, &format!("{{{{ value_json.{field} }}}}"));
    e.config.insert("unit_of_measurement".into(), unit.into());
    e.config.insert("device_class".into(), class.into());
    let state_class = if class == "energy" {
        "total_increasing"
    } else {
        "measurement"
    };
    e.config.insert("state_class".into(), state_class.into());
    e
}

fn phases(out: &mut Vec<Entity>, what: &str, field: &str, unit: &str, class: &str) {
    for phase in 1..=3 {
        out.push(measured(
            &format!("{field}_l{phase}"),
            &format!("{what} L{phase}"),
            &format!("{field}_l{phase}"),
            unit,
            class,
        ));
    }
}

fn com_error() -> Entity {
    let mut config = Map::new();
    config.insert("name".into(), "Communication error".into());
    config.insert(
        "value_template".into(),
        "{{ 'ON' if value_json.com_err else 'OFF' }}".into(),
    );
    config.insert("device_class".into(), "problem".into());
    config.insert("entity_category".into(), "diagnostic".into());
    Entity {
        component: "binary_sensor",
        key: "com_err".into(),
        config,
    }
}

/// The words for a wallbox's `state` (cFos's numbers).
const STATE_WORDS: &str = "{{ {1: 'waiting', 2: 'vehicle present', 3: 'charging', \
    4: 'charging (ventilation)', 5: 'error', 6: 'offline'}.get(value_json.state, value_json.state) }}";

fn wallbox(s: &DeviceSettings, controls: bool) -> Vec<Entity> {
    let mut out = vec![
        measured("power", "Power", "cur_charging_power", "W", "power"),
        measured("energy", "Energy", "total_energy", "Wh", "energy"),
        measured(
            "lb_current",
            "Offered current",
            "lb_current",
            "mA",
            "current",
        ),
    ];
    phases(&mut out, "Current", "current", "mA", "current");
    out.push(sensor("state", "State", STATE_WORDS));
    out.push(sensor(
        "lb_reason",
        "Load management reason",
        "{{ value_json.lb_reason }}",
    ));
    out.push(com_error());
    if controls {
        // The overrides hold while the car stays plugged in.
        for (key, name, bit) in [
            ("charging", "Charging allowed", 1),
            ("wallbox_rules", "Wallbox charging rules", 2),
            ("user_rules", "User charging rules", 4),
        ] {
            let mut config = Map::new();
            config.insert("name".into(), name.into());
            config.insert(
                "value_template".into(),
                format!("{{{{ 'OFF' if (value_json.overrides | int(0)) | bitwise_and({bit}) else 'ON' }}}}").into(),
            );
            config.insert("payload_on".into(), "ON".into());
            config.insert("payload_off".into(), "OFF".into());
            config.insert("state_on".into(), "ON".into());
            config.insert("state_off".into(), "OFF".into());
            out.push(Entity {
                component: "switch",
                key: key.into(),
                config,
            });
        }
        let max = match &s.max_charging_cur {
            CurrentLimit::Fixed(ma) => *ma,
            CurrentLimit::Formula(_) => 80_000,
        };
        let mut config = Map::new();
        config.insert("name".into(), "Current cap".into());
        config.insert(
            "value_template".into(),
            format!("{{{{ value_json.ov_cur if value_json.ov_cur >= 0 else {max} }}}}").into(),
        );
        config.insert("min".into(), 0.into());
        config.insert("max".into(), max.into());
        config.insert("step".into(), 100.into());
        config.insert("mode".into(), "box".into());
        config.insert("unit_of_measurement".into(), "mA".into());
        config.insert("device_class".into(), "current".into());
        out.push(Entity {
            component: "number",
            key: "mamps".into(),
            config,
        });
    }
    out
}

fn meter() -> Vec<Entity> {
    let mut out = vec![
        measured("power", "Power", "power", "W", "power"),
        measured("energy", "Energy imported", "import", "Wh", "energy"),
        measured("energy_export", "Energy exported", "export", "Wh", "energy"),
    ];
    phases(&mut out, "Current", "current", "mA", "current");
    phases(&mut out, "Voltage", "voltage", "V", "voltage");
    out.push(com_error());
    out
}

/// The hub's own entities, from `<prefix>/get/params`.
fn hub() -> Vec<Entity> {
    let mut out = Vec::new();
    for (field, what) in [
        ("house_current", "House current"),
        ("available_current", "Available current"),
    ] {
        for phase in 1..=3 {
            let mut e = measured(
                &format!("{field}_l{phase}"),
                &format!("{what} L{phase}"),
                "",
                "mA",
                "current",
            );
            e.config.insert(
                "value_template".into(),
                format!("{{{{ value_json.{field}[{}] }}}}", phase - 1).into(),
            );
            out.push(e);
        }
    }
    out
}

impl Discovery<'_> {
    fn hub_id(&self) -> String {
        format!("chargebrain_{}", id_part(self.serialno))
    }

    fn availability(&self) -> [(&'static str, Value); 3] {
        [
            ("availability_topic", self.topics.status().into()),
            ("payload_available", "online".into()),
            ("payload_not_available", "offline".into()),
        ]
    }

    /// The entities' configs, or an empty map for a type with none.
    fn configs(
        &self,
        object_base: &str,
        device: &Value,
        state_topic: &str,
        command_dev: Option<&str>,
        entities: Vec<Entity>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for mut e in entities {
            let object_id = format!("{object_base}_{}", id_part(&e.key));
            let c = &mut e.config;
            c.insert("unique_id".into(), object_id.clone().into());
            // The entity id Home Assistant gives it (`object_id` did that
            // until Home Assistant 2025.10 deprecated it; versions before
            // drop the key unread).
            c.insert(
                "default_entity_id".into(),
                entity_id(e.component, &object_id).into(),
            );
            c.insert("state_topic".into(), state_topic.into());
            if let (Some(dev_id), "switch" | "number") = (command_dev, e.component) {
                c.insert(
                    "command_topic".into(),
                    self.topics.control(dev_id, &e.key).into(),
                );
            }
            for (k, v) in self.availability() {
                c.insert(k.into(), v);
            }
            c.insert("device".into(), device.clone());
            c.insert(
                "origin".into(),
                json!({"name": "chargebrain", "sw_version": env!("CARGO_PKG_VERSION")}),
            );
            let topic = format!(
                "{}/{}/{object_id}/config",
                self.discovery_prefix, e.component
            );
            out.insert(topic, Value::Object(e.config).to_string());
        }
        out
    }

    /// Every config topic and its message, for the hub and `devices`.
    pub fn all(&self, devices: &[&DeviceSettings]) -> BTreeMap<String, String> {
        let hub_id = self.hub_id();
        let hub_device = json!({
            "identifiers": [hub_id],
            "name": "chargebrain",
            "manufacturer": "chargebrain",
            "model": "load manager",
            "serial_number": self.serialno,
            "sw_version": env!("CARGO_PKG_VERSION"),
        });
        let mut out = self.configs(
            &format!("{hub_id}_hub"),
            &hub_device,
            &self.topics.params(),
            None,
            hub(),
        );
        for s in devices {
            let entities = if s.dev_type.is_group() {
                continue;
            } else if s.dev_type.is_evse() {
                wallbox(s, self.controls)
            } else {
                meter()
            };
            let object_base = format!("{hub_id}_{}", id_part(&s.dev_id));
            let name = if s.name.is_empty() {
                s.dev_id.clone()
            } else {
                format!("{} ({})", s.name, s.dev_id)
            };
            let device = json!({
                "identifiers": [object_base],
                "name": name,
                "manufacturer": "chargebrain",
                "model": s.dev_type.display_name(),
                "via_device": hub_id,
            });
            out.extend(self.configs(
                &object_base,
                &device,
                &self.topics.device(&s.dev_id),
                Some(&s.dev_id),
                entities,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(dev_id: &str, dev_type: &str) -> DeviceSettings {
        serde_json::from_value(json!({
            "dev_id": dev_id,
            "dev_type": dev_type,
            "name": "Garage",
            "max_charging_cur": 16_000,
        }))
        .unwrap()
    }

    #[test]
    fn controls_only_when_mqtt_may_change_things() {
        let topics = Topics::new("cfos_mqtt");
        let e1 = device("E1", "evse_powerbrain");
        let group = device("E5", "evse_group");
        let configs = |controls| {
            Discovery {
                discovery_prefix: "homeassistant",
                topics: &topics,
                serialno: "CB-1",
                controls,
            }
            .all(&[&e1, &group])
        };
        let with = configs(true);
        let without = configs(false);
        assert!(with.contains_key("homeassistant/switch/chargebrain_CB-1_E1_charging/config"));
        assert!(with.contains_key("homeassistant/number/chargebrain_CB-1_E1_mamps/config"));
        assert!(!without
            .keys()
            .any(|t| t.contains("/switch/") || t.contains("/number/")));
        assert!(
            !with.keys().any(|t| t.contains("_E5_")),
            "groups have no entities"
        );
        let number: Value =
            serde_json::from_str(&with["homeassistant/number/chargebrain_CB-1_E1_mamps/config"])
                .unwrap();
        assert_eq!(number["command_topic"], "cfos_mqtt/ha/E1/mamps/set");
        assert_eq!(number["max"], 16_000);
        assert_eq!(number["device"]["via_device"], "chargebrain_CB-1");
        assert_eq!(
            number["default_entity_id"],
            "number.chargebrain_cb_1_e1_mamps"
        );
        assert!(
            number.get("object_id").is_none(),
            "deprecated by Home Assistant"
        );
    }

    #[test]
    fn entity_ids_are_what_home_assistant_takes() {
        assert_eq!(
            entity_id("sensor", "chargebrain_CB-1_E1_power"),
            "sensor.chargebrain_cb_1_e1_power"
        );
        assert_eq!(entity_id("sensor", "__a--b__"), "sensor.a_b");
        assert_eq!(entity_id("switch", "x_Ä_y"), "switch.x_y");
    }
}
