//! A SunSpec meter (`meter_sunspec`): the meter model (201–204, 211–214)
//! found in the device's SunSpec chain (`drivers/sunspec/`). Grid meters
//! of Fronius, SMA, KOSTAL (KSEM), SolarEdge and others answer it.

use super::map::{reg, Access, RegisterMap};
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::sunspec::{SunSpec, Want, BASE};
use super::Read;
use crate::codec::RegType::I32;

pub static DRIVER: Driver = Driver {
    key: "meter_sunspec",
    name: "SunSpec meter",
    kind: Kind::Meter,
    maker: "SunSpec",
    device: "meter",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: &[Read::holding(BASE, 2)],
        decode: Decode::Discovered(&SunSpec { want: Want::Meter }),
        identify: None,
        control: None,
        secret: &[],
    }),
};

/// Only the marker is fixed; the models follow it where the chain says.
pub static MAP: RegisterMap = RegisterMap {
    registers: &[reg("sunspec_id", BASE, I32, Access::Read, "\"SunS\"")],
};
