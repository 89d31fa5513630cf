//! The closed-loop simulated plant: Power Brain wallboxes with simulated
//! cars, an SDM630 grid meter, a household load and PV. Cars draw what
//! their wallbox offers (up to their own maximum) after a short ramp, and
//! the grid meter shows house + cars + other loads (the daemon's HTTP-input
//! wallboxes) − PV per phase, so load management can be watched working
//! with no hardware.
//!
//! Ports from `base_port`: the first wallbox (`evse`), the Power Brain's two
//! S0 meters (`meter1`, `meter2`), further wallboxes (`evse2`, `evse3`, …),
//! then the grid meter (`grid`, unit 1). Base port 0 takes free ports.
//!
//! OCPP wallboxes (`ocpp_wallboxes`) come after the Power Brains in the
//! plant's numbering; they have no port: their charge points (`ocpp1`,
//! `ocpp2`, …) connect to the daemon's OCPP server (`ocpp_point.rs`).
//!
//! The plant's wiring is its own: `rotations` says how each wallbox is
//! really connected, whatever the daemon is told (`phase_rotation`), so a
//! wiring error can be simulated. Cars draw on one, two or three phases; a
//! wallbox can lack its meter; the household load can have appliances that
//! switch at random, seeded.
//!
//! A Power Brain switches between one and three phases when its relay
//! register (8087) is written: a car plugged in gets nothing for
//! `phase_switch_pause_s` (the charge pilot off, 8086 counting down), then
//! draws on the wallbox's L1 alone or on its own phases (with a car plugged
//! in only while 8113 bit 8 allows it). A car can be
//! asleep: it stays in state B, drawing nothing while offered current, until
//! the charge pilot is switched off for a moment (8086 written).

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::house::{ApplianceSettings, HouseLoad};
use super::ocpp_point::SharedOcppBox;
use super::{meters, powerbrain, serve_tcp, SharedBank};

/// `[simulation]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationSettings {
    /// Run the simulated plant in-process on 127.0.0.1.
    pub enabled: bool,
    /// First port (see the module documentation); 0 = free ports.
    pub base_port: u16,
    /// Number of Power Brain wallboxes (at least 1).
    pub wallboxes: usize,
    /// Number of OCPP 1.6J wallboxes, numbered after the Power Brains;
    /// their charge points `ocpp1`, `ocpp2`, … connect to the daemon.
    pub ocpp_wallboxes: usize,
    /// How each wallbox is really wired (0, 120, 240); missing = 0. The
    /// daemon is told its `phase_rotation`; where the two differ, the
    /// wiring is wrong, as it can be on a real site.
    pub rotations: Vec<i64>,
    /// Whether each wallbox has its meter; missing = true.
    pub wallbox_meters: Vec<bool>,
    /// Serve an SDM630 grid meter.
    pub grid_meter: bool,
    /// Household load per phase, mA.
    pub house_load_ma: [i64; 3],
    /// A random wiggle on the household load, mA (its standard deviation).
    pub house_jitter_ma: i64,
    /// Appliances switching on and off at random on top of it.
    pub appliances: Vec<ApplianceSettings>,
    /// Seed of the house's randomness: the same seed, the same day.
    pub seed: u64,
    /// PV generation per phase, mA.
    pub pv_ma: [i64; 3],
    /// Cars and when they come and go.
    pub cars: Vec<CarSettings>,
    /// Simulation step, ms.
    pub tick_ms: u64,
    /// How long a Power Brain's relay switch keeps the car off, s.
    pub phase_switch_pause_s: u64,
}

impl Default for SimulationSettings {
    fn default() -> Self {
        SimulationSettings {
            enabled: false,
            base_port: 4701,
            wallboxes: 1,
            ocpp_wallboxes: 0,
            rotations: Vec::new(),
            wallbox_meters: Vec::new(),
            grid_meter: false,
            house_load_ma: [0; 3],
            house_jitter_ma: 0,
            appliances: Vec::new(),
            seed: 1,
            pv_ma: [0; 3],
            cars: Vec::new(),
            tick_ms: 100,
            phase_switch_pause_s: 120,
        }
    }
}

/// One simulated car.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarSettings {
    /// The wallbox it plugs into, 1-based (the Power Brains, then the OCPP
    /// wallboxes).
    pub wallbox: usize,
    /// 1, 2 or 3 phases: the wallbox's L1, L1 and L2, or all three.
    #[serde(default = "three")]
    pub phases: u8,
    /// The most the car draws per phase, mA.
    #[serde(default = "sixteen_amps")]
    pub max_current_ma: i64,
    /// Seconds after start when it plugs in.
    #[serde(default)]
    pub arrive_s: u64,
    /// Seconds after start when it leaves; 0 = never.
    #[serde(default)]
    pub leave_s: u64,
    /// It arrives asleep: it draws nothing until woken (8086).
    #[serde(default)]
    pub asleep: bool,
}

fn three() -> u8 {
    3
}

fn sixteen_amps() -> i64 {
    16_000
}

impl SimulationSettings {
    /// The internal addresses of the plant's devices, in port order:
    /// `evse`, `meter1`, `meter2`, `evse2`, …, `grid`.
    pub fn device_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["evse", "meter1", "meter2"].map(String::from).into();
        names.extend((2..=self.wallboxes.max(1)).map(|n| format!("evse{n}")));
        if self.grid_meter {
            names.push("grid".into());
        }
        names
    }

    /// The charge point ids of the OCPP wallboxes: `ocpp1`, `ocpp2`, …
    pub fn ocpp_ids(&self) -> Vec<String> {
        (1..=self.ocpp_wallboxes)
            .map(|n| format!("ocpp{n}"))
            .collect()
    }

    /// Every wallbox of the plant: the Power Brains, then the OCPP ones.
    fn all_wallboxes(&self) -> usize {
        self.wallboxes.max(1) + self.ocpp_wallboxes
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.problems().into_iter().next().map_or(Ok(()), Err)
    }

    /// Every problem, each with its key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=200).contains(&self.wallboxes) {
            out.push((
                "simulation.wallboxes",
                format!("{} is not 1 to 200", self.wallboxes),
            ));
        }
        if self.ocpp_wallboxes > 200 {
            out.push((
                "simulation.ocpp_wallboxes",
                format!("{} is not 0 to 200", self.ocpp_wallboxes),
            ));
        }
        if let Some(r) = self.rotations.iter().find(|r| ![0, 120, 240].contains(*r)) {
            out.push(("simulation.rotations", format!("{r} is not 0, 120 or 240")));
        }
        for car in &self.cars {
            if car.wallbox == 0 || car.wallbox > self.all_wallboxes() {
                out.push((
                    "simulation.cars.wallbox",
                    format!("{} is not 1 to {}", car.wallbox, self.all_wallboxes()),
                ));
            }
            if !(1..=3).contains(&car.phases) {
                out.push((
                    "simulation.cars.phases",
                    format!("{} is not 1, 2 or 3", car.phases),
                ));
            }
        }
        if !(0..=100_000).contains(&self.house_jitter_ma) {
            out.push((
                "simulation.house_jitter_ma",
                format!("{} is not 0 to 100000", self.house_jitter_ma),
            ));
        }
        for problem in self
            .appliances
            .iter()
            .filter_map(ApplianceSettings::problem)
        {
            out.push(("simulation.appliances", problem));
        }
        if !(10..=10_000).contains(&self.tick_ms) {
            out.push((
                "simulation.tick_ms",
                format!("{} is not 10 to 10000", self.tick_ms),
            ));
        }
        let ports = self.wallboxes + 2 + usize::from(self.grid_meter);
        if self.base_port != 0 && usize::from(self.base_port) + ports > usize::from(u16::MAX) {
            out.push((
                "simulation.base_port",
                "leaves no room for the plant's ports".into(),
            ));
        }
        out
    }
}

/// A car at a wallbox.
#[derive(Debug, Clone)]
struct Car {
    settings: CarSettings,
    /// mA per phase it draws now.
    current_ma: i64,
    /// ms since it was plugged in: cars take a moment before they draw.
    plugged_ms: u64,
    /// Asleep: draws nothing until the charge pilot goes off a moment.
    asleep: bool,
    /// Its wallbox's relay is on one phase: it draws on L1 alone.
    one_phase: bool,
}

impl Car {
    fn new(settings: CarSettings) -> Self {
        Car {
            asleep: settings.asleep,
            settings,
            current_ma: 0,
            plugged_ms: 0,
            one_phase: false,
        }
    }
}

/// How long a car stays in state B after plugging in before it draws.
const START_DELAY_MS: u64 = 2000;

/// 8113 bit 8: the relay may be switched with a car plugged in.
const SWITCH_WITH_CAR: u16 = 1 << 8;

/// What a simulated Power Brain does besides its registers.
#[derive(Debug, Clone, Default)]
struct BoxState {
    /// The relay is on one phase.
    one_phase: bool,
    /// The charge pilot is off for this much longer, ms.
    cp_off_ms: u64,
    /// What the box last showed in 8086 (seconds left): another value
    /// there was written by a client.
    cp_shown: u16,
    /// Relay switches with a car plugged in, and charge pilot
    /// disconnects written by a client.
    switches: u32,
    cp_disconnects: u32,
}

#[derive(Debug)]
struct State {
    time_ms: u64,
    house: HouseLoad,
    /// Loads the plant does not simulate but the grid meter sees (the
    /// daemon's HTTP-input wallboxes), mA per phase.
    other_ma: [i64; 3],
    pv_ma: [i64; 3],
    plugged: Vec<Option<Car>>,
    /// How long a relay switch keeps the car off, ms.
    phase_switch_ms: u64,
    /// Cars still to come or go, and whether they have arrived.
    schedule: Vec<(CarSettings, bool)>,
    /// Per Power Brain: its relay and charge pilot.
    boxes: Vec<BoxState>,
    /// Energy counters in mWh, to keep sub-Wh steps.
    wallbox_mwh: Vec<i64>,
    grid_import_mwh: i64,
    grid_export_mwh: i64,
}

/// A running plant. Cheap to clone; every clone drives the same plant.
#[derive(Debug, Clone)]
pub struct PlantSim {
    /// Bound address of every simulated device, by internal name.
    pub addresses: BTreeMap<String, SocketAddr>,
    wallboxes: Vec<SharedBank>,
    /// The OCPP wallboxes, numbered after `wallboxes`.
    ocpp: Vec<SharedOcppBox>,
    rotations: Vec<usize>,
    pub meter1: SharedBank,
    pub meter2: SharedBank,
    pub grid: Option<SharedBank>,
    state: Arc<Mutex<State>>,
}

/// How fast a car follows a higher offer, mA per second.
const RAMP_MA_PER_S: i64 = 32_000;
const VOLTS: i64 = 230;

/// What a car does in a step.
struct Drawn {
    /// mA per phase.
    current_ma: i64,
    /// On how many phases.
    phases: u8,
    /// Whether it is offered current (past its start delay).
    offered: bool,
}

/// The phases a car draws on: its own, or L1 alone behind a one-phase relay.
fn car_phases(car: &Car) -> u8 {
    if car.one_phase {
        1
    } else {
        car.settings.phases.min(3)
    }
}

/// Moves `car` (if one is plugged in) on by `dt_ms` with its wallbox
/// offering `offer_ma`.
fn drive(car: Option<&mut Car>, offer_ma: i64, dt_ms: u64) -> Drawn {
    let Some(car) = car else {
        return Drawn {
            current_ma: 0,
            phases: 0,
            offered: false,
        };
    };
    car.plugged_ms += dt_ms;
    let offer = if car.plugged_ms >= START_DELAY_MS && !car.asleep {
        offer_ma.min(car.settings.max_current_ma)
    } else {
        0
    };
    let dt = i64::try_from(dt_ms).unwrap_or(0);
    car.current_ma = if offer <= car.current_ma {
        offer
    } else {
        (car.current_ma + RAMP_MA_PER_S * dt / 1000).min(offer)
    };
    Drawn {
        current_ma: car.current_ma,
        phases: car_phases(car),
        offered: offer > 0,
    }
}

impl PlantSim {
    /// Starts every server and the simulation clock.
    pub async fn start(settings: &SimulationSettings) -> io::Result<Self> {
        let plant = Self::start_stepped(settings).await?;
        let ticking = plant.clone();
        let tick = Duration::from_millis(settings.tick_ms.max(1));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                ticking.step(u64::try_from(tick.as_millis()).unwrap_or(100));
            }
        });
        Ok(plant)
    }

    /// Starts every server; time moves only with `step` (a simulation that
    /// runs faster than real time).
    pub async fn start_stepped(settings: &SimulationSettings) -> io::Result<Self> {
        let mut next_port = settings.base_port;
        let mut addresses = BTreeMap::new();
        // Serves one device on the next port; an error names the device and
        // the port, so a port in use is found at once.
        let mut serve = async |name: String, unit: u8, bank: &SharedBank| -> io::Result<()> {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, next_port));
            if next_port != 0 {
                next_port = next_port.saturating_add(1);
            }
            let sim = serve_tcp(addr, unit, bank.clone()).await.map_err(|e| {
                let port = if addr.port() == 0 {
                    "a free port".to_string()
                } else {
                    format!("port {}", addr.port())
                };
                io::Error::new(e.kind(), format!("{name} ({port}): {e}"))
            })?;
            addresses.insert(name, sim.addr);
            Ok(())
        };
        let mut wallboxes = Vec::new();
        let first = SharedBank::new(powerbrain::evse());
        serve("evse".into(), powerbrain::EVSE_UNIT, &first).await?;
        wallboxes.push(first);
        let meter1 = SharedBank::new(powerbrain::s0_meter(1));
        let meter2 = SharedBank::new(powerbrain::s0_meter(2));
        serve("meter1".into(), powerbrain::METER1_UNIT, &meter1).await?;
        serve("meter2".into(), powerbrain::METER2_UNIT, &meter2).await?;
        for n in 2..=settings.wallboxes.max(1) {
            let bank = SharedBank::new(powerbrain::evse());
            serve(format!("evse{n}"), powerbrain::EVSE_UNIT, &bank).await?;
            wallboxes.push(bank);
        }
        // A Power Brain without its meter says so in 8112.
        for (bank, metered) in wallboxes.iter().zip(&settings.wallbox_meters) {
            if !metered {
                bank.lock().set_int(8112, 0);
            }
        }
        let grid = if settings.grid_meter {
            let bank = SharedBank::new(meters::sdm630());
            serve("grid".into(), 1, &bank).await?;
            Some(bank)
        } else {
            None
        };
        let ocpp: Vec<SharedOcppBox> = (0..settings.ocpp_wallboxes)
            .map(|_| SharedOcppBox::default())
            .collect();
        let slots = wallboxes.len() + ocpp.len();
        let rotations = (0..slots)
            .map(|i| match settings.rotations.get(i) {
                Some(120) => 1,
                Some(240) => 2,
                _ => 0,
            })
            .collect();
        let state = State {
            time_ms: 0,
            house: HouseLoad::new(
                settings.house_load_ma,
                settings.house_jitter_ma,
                &settings.appliances,
                settings.seed,
            ),
            other_ma: [0; 3],
            pv_ma: settings.pv_ma,
            plugged: vec![None; slots],
            schedule: settings.cars.iter().map(|c| (c.clone(), false)).collect(),
            boxes: vec![BoxState::default(); wallboxes.len()],
            phase_switch_ms: settings.phase_switch_pause_s.saturating_mul(1000),
            wallbox_mwh: vec![0; slots],
            grid_import_mwh: 0,
            grid_export_mwh: 0,
        };
        let plant = PlantSim {
            addresses,
            wallboxes,
            ocpp,
            rotations,
            meter1,
            meter2,
            grid,
            state: Arc::new(Mutex::new(state)),
        };
        plant.step(0);
        Ok(plant)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the household load per phase (mA), before its appliances.
    pub fn set_house_load(&self, ma: [i64; 3]) {
        self.state().house.set_base(ma);
    }

    /// Sets what other loads on the site draw per phase (mA): the grid
    /// meter shows them too, from now on.
    pub fn set_other_load(&self, ma: [i64; 3]) {
        let mut s = self.state();
        s.other_ma = ma;
        self.write_grid(&mut s, 0);
    }

    /// Sets the PV generation per phase (mA).
    pub fn set_pv(&self, ma: [i64; 3]) {
        self.state().pv_ma = ma;
    }

    /// Plugs a car into wallbox `wallbox` (1-based) now.
    pub fn plug(&self, wallbox: usize, phases: u8, max_current_ma: i64) {
        let mut s = self.state();
        let w = wallbox.wrapping_sub(1);
        self.settle_relay(&mut s, w);
        if let Some(slot) = s.plugged.get_mut(w) {
            *slot = Some(Car::new(CarSettings {
                wallbox,
                phases,
                max_current_ma,
                arrive_s: 0,
                leave_s: 0,
                asleep: false,
            }));
        }
    }

    /// Power Brain `w` (0-based) without a car: a relay write (8087) it
    /// got since its last step has taken effect, as a box switches when it
    /// is written, not at the plant's next step. Called before a car
    /// arrives, which would otherwise find the write still to do and (with
    /// 8113 bit 8 clear) have it refused.
    fn settle_relay(&self, s: &mut State, w: usize) {
        let (Some(bank), Some(b)) = (self.wallboxes.get(w), s.boxes.get_mut(w)) else {
            return;
        };
        if s.plugged.get(w).is_some_and(Option::is_some) {
            return;
        }
        b.one_phase = bank.lock().read(8087, 1).is_ok_and(|v| v[0] == 1);
    }

    /// Plugs in a car that is asleep: it draws nothing until woken.
    pub fn plug_asleep(&self, wallbox: usize, phases: u8, max_current_ma: i64) {
        self.plug(wallbox, phases, max_current_ma);
        if let Some(Some(car)) = self.state().plugged.get_mut(wallbox.wrapping_sub(1)) {
            car.asleep = true;
        }
    }

    /// Sets Power Brain `wallbox`'s S0 inputs (8113 bit 0 and 1), e.g. a
    /// grid operator's control box on input 1.
    pub fn set_inputs(&self, wallbox: usize, bits: u8) {
        if let Some(bank) = self.wallbox(wallbox) {
            let mut regs = bank.lock();
            let word = regs.read(8113, 1).map_or(0, |v| v[0]);
            regs.set_int(8113, i64::from((word & !0b11) | u16::from(bits & 0b11)));
        }
    }

    /// Sets whether Power Brain `wallbox` lets its relay be switched with
    /// a car plugged in (8113 bit 8, set in its own web page).
    pub fn set_switch_with_car(&self, wallbox: usize, allowed: bool) {
        if let Some(bank) = self.wallbox(wallbox) {
            let mut regs = bank.lock();
            let word = regs.read(8113, 1).map_or(0, |v| v[0]);
            let word = if allowed {
                word | SWITCH_WITH_CAR
            } else {
                word & !SWITCH_WITH_CAR
            };
            regs.set_int(8113, i64::from(word));
        }
    }

    /// How often Power Brain `wallbox` switched its relay with a car
    /// plugged in, and how often a client switched its charge pilot off.
    pub fn relay_events(&self, wallbox: usize) -> (u32, u32) {
        self.state()
            .boxes
            .get(wallbox.wrapping_sub(1))
            .map_or((0, 0), |b| (b.switches, b.cp_disconnects))
    }

    /// The phases the car at `wallbox` draws on now (0 without a car).
    pub fn car_phases(&self, wallbox: usize) -> u8 {
        self.state()
            .plugged
            .get(wallbox.wrapping_sub(1))
            .and_then(|c| c.as_ref().map(car_phases))
            .unwrap_or(0)
    }

    /// Unplugs the car at wallbox `wallbox` (1-based).
    pub fn unplug(&self, wallbox: usize) {
        if let Some(slot) = self.state().plugged.get_mut(wallbox.wrapping_sub(1)) {
            *slot = None;
        }
    }

    /// The register bank of wallbox `wallbox` (1-based).
    pub fn wallbox(&self, wallbox: usize) -> Option<&SharedBank> {
        self.wallboxes.get(wallbox.wrapping_sub(1))
    }

    /// OCPP wallbox `n` (1-based among the OCPP ones), for its charge point.
    pub fn ocpp_wallbox(&self, n: usize) -> Option<&SharedOcppBox> {
        self.ocpp.get(n.wrapping_sub(1))
    }

    /// What each car draws now, mA per phase, by wallbox.
    pub fn car_currents(&self) -> Vec<i64> {
        self.state()
            .plugged
            .iter()
            .map(|c| c.as_ref().map_or(0, |c| c.current_ma))
            .collect()
    }

    /// What the grid meter shows per phase (mA, + import).
    pub fn grid_ma(&self) -> [i64; 3] {
        let s = self.state();
        self.grid_currents(&s)
    }

    fn grid_currents(&self, s: &State) -> [i64; 3] {
        let house = s.house.current_ma();
        let mut grid = [0, 1, 2].map(|p| house[p] + s.other_ma[p] - s.pv_ma[p]);
        for (w, car) in s.plugged.iter().enumerate() {
            let Some(car) = car else { continue };
            // A car draws on the wallbox's L1, L1 and L2, or all three.
            for wallbox_phase in 0..usize::from(car_phases(car)) {
                grid[(wallbox_phase + self.rotations[w]) % 3] += car.current_ma;
            }
        }
        grid
    }

    /// Advances the plant by `dt_ms`.
    pub fn step(&self, dt_ms: u64) {
        let mut s = self.state();
        s.time_ms += dt_ms;
        s.house.step(dt_ms);
        let now_s = s.time_ms / 1000;
        let mut schedule = std::mem::take(&mut s.schedule);
        for (car, arrived) in &mut schedule {
            let slot = car.wallbox - 1;
            if !*arrived && now_s >= car.arrive_s {
                *arrived = true;
                self.settle_relay(&mut s, slot);
                s.plugged[slot] = Some(Car::new(car.clone()));
            }
            let gone = car.leave_s != 0 && now_s >= car.leave_s;
            if *arrived && gone && s.plugged[slot].as_ref().is_some_and(|c| c.settings == *car) {
                s.plugged[slot] = None;
            }
        }
        schedule.retain(|(car, arrived)| !(*arrived && car.leave_s != 0 && now_s >= car.leave_s));
        s.schedule = schedule;

        let dt = i64::try_from(dt_ms).unwrap_or(0);
        for (w, bank) in self.wallboxes.iter().enumerate() {
            let mut regs = bank.lock();
            let limit_ma = regs.read(8093, 1).map_or(0, |v| i64::from(v[0]) * 100);
            let enabled = regs.read(8094, 1).is_ok_and(|v| v[0] != 0);
            let plugged = s.plugged[w].is_some();
            let cp_off = self.relay_and_pilot(&mut s, w, &mut regs, dt_ms);
            let offer_ma = if enabled && limit_ma >= 6000 && !cp_off {
                limit_ma
            } else {
                0
            };
            let Drawn {
                current_ma: current,
                phases,
                offered,
            } = drive(s.plugged[w].as_mut(), offer_ma, dt_ms);
            let state = match (plugged, offered) {
                (false, _) => 0,
                (true, true) => 2,
                (true, false) => 1,
            };
            let per_phase = |p: i64| {
                if p < i64::from(phases) {
                    current / 100
                } else {
                    0
                }
            };
            regs.set_int(8092, state);
            regs.set_int(8095, current / 100);
            regs.set_int(8064, per_phase(0));
            regs.set_int(8066, per_phase(1));
            regs.set_int(8068, per_phase(2));
            let power_w = current * i64::from(phases) * VOLTS / 1000;
            regs.set_int(8062, power_w);
            s.wallbox_mwh[w] += power_w * dt / 3600;
            regs.set_int(8058, s.wallbox_mwh[w] / 1000);
        }
        for (o, ocpp) in self.ocpp.iter().enumerate() {
            let w = self.wallboxes.len() + o;
            let mut wallbox = ocpp.lock();
            let drawn = drive(s.plugged[w].as_mut(), wallbox.offer_ma(), dt_ms);
            let (current, phases) = (drawn.current_ma, drawn.phases);
            wallbox.plugged = s.plugged[w].is_some();
            wallbox.current_ma = [0, 1, 2].map(|p| if p < phases { current } else { 0 });
            let power_w = current * i64::from(phases) * VOLTS / 1000;
            s.wallbox_mwh[w] += power_w * dt / 3600;
            wallbox.energy_wh = s.wallbox_mwh[w] / 1000;
        }
        self.write_grid(&mut s, dt);
    }

    /// Follows Power Brain `w`'s relay (8087) and charge pilot (8086) over
    /// `dt_ms`; answers whether the charge pilot is off now.
    fn relay_and_pilot(
        &self,
        s: &mut State,
        w: usize,
        regs: &mut super::RegisterBank,
        dt_ms: u64,
    ) -> bool {
        let pause_ms = s.phase_switch_ms;
        let one_phase = regs.read(8087, 1).is_ok_and(|v| v[0] == 1);
        let written_cp = regs.read(8086, 1).map_or(0, |v| v[0]);
        let with_car = regs
            .read(8113, 1)
            .is_ok_and(|v| v[0] & SWITCH_WITH_CAR != 0);
        let car = s.plugged[w].as_mut();
        let b = &mut s.boxes[w];
        if one_phase != b.one_phase {
            if car.is_some() && !with_car {
                // Switching with a car plugged in is not allowed (8113 bit
                // 8 clear): the relay stays, and so does its register.
                regs.set_int(8087, i64::from(b.one_phase));
            } else {
                b.one_phase = one_phase;
                if car.is_some() {
                    b.switches += 1;
                    b.cp_off_ms = b.cp_off_ms.max(pause_ms);
                }
            }
        }
        let mut car = car;
        if written_cp != b.cp_shown && written_cp > 0 {
            b.cp_disconnects += 1;
            b.cp_off_ms = b.cp_off_ms.max(u64::from(written_cp) * 1000);
            // A charge pilot that goes off and on again wakes a car.
            if let Some(car) = car.as_deref_mut() {
                car.asleep = false;
            }
        }
        if let Some(car) = car {
            car.one_phase = b.one_phase;
        }
        let off = b.cp_off_ms > 0;
        b.cp_off_ms = b.cp_off_ms.saturating_sub(dt_ms);
        b.cp_shown = u16::try_from(b.cp_off_ms.div_ceil(1000)).unwrap_or(u16::MAX);
        regs.set_int(8086, i64::from(b.cp_shown));
        off
    }

    /// Counts `dt` ms of energy and writes the grid meter's registers.
    fn write_grid(&self, s: &mut State, dt: i64) {
        let Some(grid_bank) = &self.grid else {
            return;
        };
        let grid = self.grid_currents(s);
        let power: [i64; 3] = grid.map(|ma| ma * VOLTS / 1000);
        let total: i64 = power.iter().sum();
        if total >= 0 {
            s.grid_import_mwh += total * dt / 3600;
        } else {
            s.grid_export_mwh -= total * dt / 3600;
        }
        let mut regs = grid_bank.lock();
        #[allow(clippy::cast_precision_loss)]
        meters::set_sdm630(
            &mut regs,
            [VOLTS as f32; 3],
            grid.map(|ma| ma as f32 / 1000.0),
            power.map(|w| w as f32),
            s.grid_import_mwh as f32 / 1_000_000.0,
            s.grid_export_mwh as f32 / 1_000_000.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::testing::{blocks_of, meter_of};
    use crate::drivers::{evse_powerbrain, DeviceType, EvseReading, Reading};

    fn settings(toml_text: &str) -> SimulationSettings {
        let s: SimulationSettings = toml::from_str(toml_text).expect("simulation settings");
        s.validate().expect("valid");
        SimulationSettings { base_port: 0, ..s }
    }

    /// The wallbox's own reading, as the daemon's driver decodes it.
    fn wallbox(plant: &PlantSim, n: usize) -> EvseReading {
        let bank = plant.wallbox(n).expect("a wallbox").lock();
        match evse_powerbrain::decode(&blocks_of(&bank, evse_powerbrain::READS)) {
            Ok(Reading::Evse(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    /// The grid meter's currents, mA, as the daemon's driver decodes them.
    fn grid(plant: &PlantSim) -> [i64; 3] {
        let bank = plant.grid.as_ref().expect("a grid meter").lock();
        let Some(modbus) = DeviceType::find("meter_sdm630").and_then(DeviceType::modbus) else {
            panic!("the SDM630 is a Modbus meter");
        };
        meter_of(&bank, modbus.reads, |blocks| modbus.decode(blocks)).current_ma
    }

    #[tokio::test]
    async fn a_hidden_wiring_puts_the_cars_where_they_really_are() {
        // Wallbox 2 is really wired 240° (whatever the daemon is told), its
        // car draws on one phase; wallbox 1's car on two; wallbox 2 has no
        // meter.
        let plant = PlantSim::start_stepped(&settings(
            "wallboxes = 2\nrotations = [0, 240]\nwallbox_meters = [true, false]\n\
             grid_meter = true\nhouse_load_ma = [1000, 2000, 3000]\n\
             [[cars]]\nwallbox = 1\nphases = 2\n[[cars]]\nwallbox = 2\nphases = 1\n",
        ))
        .await
        .expect("plant starts");
        for _ in 0..30 {
            plant.step(100);
        }
        // Both offer 16 A: car 1 on L1 and L2, car 2 on the wallbox's L1,
        // the building's L3.
        assert_eq!(plant.car_currents(), vec![16_000, 16_000]);
        assert_eq!(grid(&plant), [17_000, 18_000, 19_000]);
        let first = wallbox(&plant, 1);
        let meter = first.meter.expect("wallbox 1 has its meter");
        assert_eq!(meter.current_ma, [16_000, 16_000, 0]);
        assert_eq!(meter.power_w, 2 * 16 * 230);
        assert_eq!(wallbox(&plant, 2).meter, None, "wallbox 2 has none");
    }

    #[tokio::test]
    async fn appliances_step_the_house_and_the_seed_decides_when() {
        let kettle = "[[appliances]]\nname = \"kettle\"\nphases = [2]\ncurrent_ma = 9000\n\
                      on_s = 120\noff_s = 600\n\
                      [[appliances]]\nname = \"heat pump\"\nphases = [1, 2, 3]\n\
                      current_ma = 3000\nstart_ma = 4000\non_s = 600\noff_s = 900\n";
        let day = |seed: u64| async move {
            let plant = PlantSim::start_stepped(&settings(&format!(
                "grid_meter = true\nhouse_load_ma = [2000, 2000, 2000]\nhouse_jitter_ma = 100\n\
                 seed = {seed}\n{kettle}"
            )))
            .await
            .expect("plant starts");
            let mut seen = Vec::new();
            for _ in 0..7200 {
                plant.step(1000);
                seen.push(grid(&plant));
            }
            seen
        };
        let a = day(7).await;
        assert_eq!(a, day(7).await, "the same seed gives the same house");
        assert_ne!(a, day(8).await);
        // Steps of the kettle on L2 alone, and of the heat pump on all
        // three with its start current for a second.
        let kettle_steps = a
            .windows(2)
            .filter(|w| (w[1][1] - w[0][1]).abs() > 7000 && (w[1][0] - w[0][0]).abs() < 1000)
            .count();
        let pump_starts = a
            .windows(2)
            .filter(|w| (0..3).all(|p| w[1][p] - w[0][p] > 5000))
            .count();
        assert!(
            kettle_steps >= 4,
            "{kettle_steps} kettle steps in two hours"
        );
        assert!(pump_starts >= 2, "{pump_starts} heat pump starts");
        assert!(a
            .iter()
            .all(|g| g.iter().all(|ma| (1000..=20_000).contains(ma))));
    }

    #[tokio::test]
    async fn without_the_new_settings_the_house_stays_as_it_was() {
        let plant = PlantSim::start_stepped(&settings(
            "grid_meter = true\nhouse_load_ma = [10000, 6000, 4000]\n",
        ))
        .await
        .expect("plant starts");
        for _ in 0..600 {
            plant.step(1000);
            assert_eq!(grid(&plant), [10_000, 6000, 4000]);
        }
        assert!(wallbox(&plant, 1).meter.is_some());
    }

    #[tokio::test]
    async fn an_ocpp_wallbox_offers_what_its_profiles_allow() {
        // The plant's third wallbox is the OCPP one, really wired 240°.
        let plant = PlantSim::start_stepped(&settings(
            "wallboxes = 2\nocpp_wallboxes = 1\nrotations = [0, 0, 240]\ngrid_meter = true\n\
             [[cars]]\nwallbox = 3\nphases = 1\n",
        ))
        .await
        .expect("plant starts");
        let ocpp = plant.ocpp_wallbox(1).expect("an OCPP wallbox").clone();
        ocpp.lock().allowed_ma = Some(10_000);
        for _ in 0..30 {
            plant.step(100);
        }
        let wallbox = ocpp.lock().clone();
        assert!(wallbox.plugged);
        assert_eq!(wallbox.current_ma, [10_000, 0, 0], "on the wallbox's L1");
        assert_eq!(grid(&plant), [0, 0, 10_000], "the building's L3");
        // A profile of 0 A (or below 6 A) suspends the car.
        ocpp.lock().allowed_ma = Some(5000);
        plant.step(100);
        assert_eq!(ocpp.lock().current_ma, [0; 3]);
        assert_eq!(grid(&plant), [0; 3]);
        assert_eq!(
            settings("ocpp_wallboxes = 2\n").ocpp_ids(),
            ["ocpp1", "ocpp2"]
        );
    }

    #[tokio::test]
    async fn a_relay_written_while_empty_has_switched_when_the_next_car_arrives() {
        let plant = PlantSim::start_stepped(&settings("grid_meter = true\n"))
            .await
            .expect("plant starts");
        let bank = plant.wallbox(1).expect("wallbox 1").clone();
        // Empty, on one phase; the box lets its relay switch only without a
        // car (8113 bit 8 clear).
        bank.lock().set_int(8087, 1);
        plant.step(100);
        plant.set_switch_with_car(1, false);
        // Written back to three phases while empty, and a three-phase car
        // plugged in before the plant's next step: it draws on three.
        bank.lock().set_int(8087, 0);
        plant.plug(1, 3, 16_000);
        for _ in 0..30 {
            plant.step(100);
        }
        assert_eq!(plant.car_phases(1), 3);
        assert_eq!(bank.lock().read(8087, 1).ok().map(|v| v[0]), Some(0));
        assert_eq!(plant.car_currents(), vec![16_000]);
        assert_eq!(plant.relay_events(1), (0, 0), "no switch with the car");
        // With the car, a write to one phase is refused, and its register
        // shows the relay where it stays.
        bank.lock().set_int(8087, 1);
        plant.step(100);
        assert_eq!(plant.car_phases(1), 3);
        assert_eq!(bank.lock().read(8087, 1).ok().map(|v| v[0]), Some(0));
    }

    #[test]
    fn bad_cars_and_appliances_are_refused_by_name() {
        let refused = |toml_text: &str| {
            let s: SimulationSettings = toml::from_str(toml_text).expect("parses");
            s.validate().expect_err("refused")
        };
        assert_eq!(
            refused("[[cars]]\nwallbox = 1\nphases = 4\n"),
            ("simulation.cars.phases", "4 is not 1, 2 or 3".to_string())
        );
        let (key, message) = refused(
            "[[appliances]]\nname = \"oven\"\nphases = [0]\ncurrent_ma = 1\non_s = 5\noff_s = 5\n",
        );
        assert_eq!(key, "simulation.appliances");
        assert!(message.contains("\"oven\""), "{message}");
        assert_eq!(
            refused("house_jitter_ma = -1\n").0,
            "simulation.house_jitter_ma"
        );
        assert_eq!(
            refused("ocpp_wallboxes = 1\n[[cars]]\nwallbox = 3\n"),
            ("simulation.cars.wallbox", "3 is not 1 to 2".to_string())
        );
        assert_eq!(
            refused("ocpp_wallboxes = 201\n").0,
            "simulation.ocpp_wallboxes"
        );
    }
}
