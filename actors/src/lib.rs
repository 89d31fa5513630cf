//! chargebrain's device layer: register codecs and maps (pure), the Modbus
//! transport, device actors, and the simulated plant.

pub mod alloc;
pub mod codec;
pub mod devices;
pub mod drivers;
pub mod history;
pub mod keyword;
pub mod metrics;
pub mod plant;
pub mod registers;
pub mod rules;
pub mod sim;
pub mod store;
pub mod supervisor;
pub mod transport;
pub mod users;
pub mod wiring;
