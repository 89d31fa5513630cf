//! A wallbox whose values are pushed over HTTP (`evse_ajax`,
//! `set_ajax_evse`): nobody polls it; `devices/http_input.rs` keeps what
//! was pushed, and the answer to a push tells it its current.

use super::registry::{Driver, Kind, Link};

pub static DRIVER: Driver = Driver {
    key: "evse_ajax",
    name: "HTTP input",
    kind: Kind::Wallbox,
    maker: "",
    device: "HTTP input",
    link: Link::HttpInput,
};
