//! A wallbox that speaks OCPP 1.6J (`evse_ocpp`): its charge point connects
//! to chargebrain's WebSocket endpoint `/ocpp/<address>`, and `id` is the
//! connector. `ocpp/` holds the protocol and the device actor.

use super::registry::{Driver, Kind, Link};

pub static DRIVER: Driver = Driver {
    key: "evse_ocpp",
    name: "OCPP 1.6J wallbox",
    kind: Kind::Wallbox,
    maker: "",
    device: "OCPP 1.6J",
    link: Link::Ocpp,
};
