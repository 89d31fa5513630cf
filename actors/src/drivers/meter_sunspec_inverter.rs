//! A SunSpec inverter as a meter (`meter_sunspec_inverter`): the inverter
//! model (101–103, 111–113) found in the device's SunSpec chain
//! (`drivers/sunspec/`), its AC output positive while it produces; for the
//! `production` role. SMA, Fronius, SolarEdge, KOSTAL and Huawei inverters
//! answer it.

use super::meter_sunspec::MAP;
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::sunspec::{SunSpec, Want, BASE};
use super::Read;

pub static DRIVER: Driver = Driver {
    key: "meter_sunspec_inverter",
    name: "SunSpec inverter",
    kind: Kind::Meter,
    maker: "SunSpec",
    device: "inverter",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: &[Read::holding(BASE, 2)],
        decode: Decode::Discovered(&SunSpec {
            want: Want::Inverter,
        }),
        identify: None,
        control: None,
        secret: &[],
    }),
};
