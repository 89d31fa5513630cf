//! `[mqtt]`: the settings live with the rest of the configuration
//! (`actors::config::mqtt`), which the state file keeps once the admin page
//! changes them.

pub use actors::config::{Broker, MqttSettings};
