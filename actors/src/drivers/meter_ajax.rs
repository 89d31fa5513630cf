//! A meter whose values are pushed over HTTP (`meter_ajax`,
//! `set_ajax_meter`): nobody polls it; `devices/http_input.rs` keeps what
//! was pushed.

use super::registry::{Driver, Kind, Link};

pub static DRIVER: Driver = Driver {
    key: "meter_ajax",
    name: "HTTP input",
    kind: Kind::Meter,
    maker: "",
    device: "HTTP input",
    link: Link::HttpInput,
};
