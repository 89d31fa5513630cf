//! A SunSpec inverter (`inverter_sunspec`), read as a meter: the inverter
//! model (101–103, 111–113) found in the device's SunSpec chain
//! (`drivers/sunspec/`), its AC output positive while it produces; for the
//! `production` role. SMA, Fronius, SolarEdge, KOSTAL and Huawei inverters
//! answer it. A hybrid inverter's battery (storage model 124) is read too.

use super::meter_sunspec::MAP;
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::sunspec::{SunSpec, Want, BASE};
use super::Read;

pub static DRIVER: Driver = Driver {
    key: "inverter_sunspec",
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
