//! A group of wallboxes with its own per-phase limit (`evse_group`): no
//! hardware, nothing to reach. Its dev_id `E<n>` is group n; wallboxes
//! name it in `group`.

use super::registry::{Driver, Kind, Link};

pub static DRIVER: Driver = Driver {
    key: "evse_group",
    name: "EVSE group",
    kind: Kind::Group,
    maker: "",
    device: "EVSE group",
    link: Link::None,
};
