//! A whole site simulated as currents only (no Modbus, no actors), one
//! cycle of one second per `step`: cars at wallboxes whose real wiring may
//! differ from the configured one, a household load with appliances,
//! meters with their errors, and the real allocator (`alloc`) deciding
//! every cycle from the meter readings the way the daemon's cycle does.
//! Seeded and fast: it drives the phase estimator's property tests and
//! benchmarks, where thousands of sites must run in seconds.

use super::house::{typical_appliances, HouseLoad};
use super::rng::Rng;
use crate::alloc::budget::{self, MeterLoad, MeterRole};
use crate::alloc::turns::TurnState;
use crate::alloc::{allocate, EvseInput, PerPhase, Rotation, SiteInput};
use crate::wiring::{CycleObservation, PhaseEstimator, WallboxObservation};

/// A phase of the wallbox draws when its meter shows this (as in the cycle).
const DRAWING_MA: i64 = 1000;
/// A paused car waits this long before it may start again (`min_pause_time`).
const PAUSE_MS: u64 = 300_000;
const ROTATIONS: [Rotation; 3] = [Rotation::Deg0, Rotation::Deg120, Rotation::Deg240];

/// One car's visit to a wallbox.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Visit {
    /// Cycle it plugs in, and the cycle it leaves (`u64::MAX`: stays).
    pub arrive: u64,
    pub leave: u64,
    /// 1, 2 or 3: on the wallbox's L1, L1 and L2, or all three.
    pub phases: u8,
    /// The most it draws per phase, mA (0: a full battery).
    pub max_ma: i64,
    /// How fast it follows a higher offer, mA per second.
    pub ramp_ma_per_s: i64,
    /// Seconds from being offered current (after plugging in, after a
    /// pause) to drawing.
    pub start_delay_s: u64,
}

/// A meter's error: a fixed gain error per phase (a class 1 meter is off by
/// up to 1 %), a random error per reading, and its resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterError {
    pub gain: [f64; 3],
    /// Largest random error of one reading, as a share of it.
    pub noise: f64,
    /// mA; readings are rounded to it.
    pub resolution_ma: i64,
}

impl MeterError {
    pub const EXACT: MeterError = MeterError {
        gain: [0.0; 3],
        noise: 0.0,
        resolution_ma: 1,
    };

    /// Off by up to `share` in all (e.g. 0.01): most of it a fixed gain
    /// error, the rest random per reading.
    pub fn random(rng: &mut Rng, share: f64, resolution_ma: i64) -> Self {
        let gain = share * 0.8;
        MeterError {
            gain: [0; 3].map(|_| rng.range(-gain, gain)),
            noise: share * 0.2,
            resolution_ma: resolution_ma.max(1),
        }
    }

    fn read(&self, rng: &mut Rng, true_ma: [f64; 3]) -> PerPhase {
        [0, 1, 2].map(|j| {
            let noisy = true_ma[j] * (1.0 + self.gain[j] + rng.range(-self.noise, self.noise));
            #[allow(clippy::cast_precision_loss)]
            let res = self.resolution_ma as f64;
            #[allow(clippy::cast_possible_truncation)]
            let ma = ((noisy / res).round() * res) as i64;
            ma
        })
    }
}

/// One wallbox of the model.
#[derive(Debug, Clone)]
pub struct ModelWallbox {
    pub id: String,
    /// How it is really wired, and what load management is told.
    pub true_rotation: Rotation,
    pub configured_rotation: Rotation,
    /// It has its own per-phase meter.
    pub metered: bool,
    pub min_ma: i64,
    pub max_ma: i64,
    pub visits: Vec<Visit>,
    meter: MeterError,
    car: Option<Car>,
    /// What it offers the car now, mA (0 = disabled).
    offered_ma: i64,
    turn: Option<TurnState>,
    /// Wallbox phases its meter saw drawing since plug-in.
    seen_phases: u8,
    /// The readings of the last step.
    reading: WallboxReading,
    /// Cycle a car first drew here, and a car on one or two phases.
    first_draw: Option<u64>,
    first_narrow_draw: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Car {
    visit: Visit,
    /// Cycle since which it has been offered at least 6 A without a break:
    /// a car starts drawing its start delay after that, after plugging in
    /// as after a pause.
    enabled_since: Option<u64>,
    /// mA per phase it draws now.
    draw_ma: f64,
    /// Each phase's share of the draw (a three-phase charger is not exactly
    /// balanced).
    balance: [f64; 3],
}

impl Car {
    /// mA it draws on each wallbox phase.
    fn per_phase(&self) -> [f64; 3] {
        [0, 1, 2].map(|p| {
            if p < usize::from(self.visit.phases) {
                self.draw_ma * self.balance[p]
            } else {
                0.0
            }
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct WallboxReading {
    plugged: bool,
    charging: bool,
    offered_ma: i64,
    meter_ma: Option<PerPhase>,
}

/// A site and its clock.
#[derive(Debug, Clone)]
pub struct SiteModel {
    /// The building's limit per phase, mA.
    pub limit_ma: i64,
    pub wallboxes: Vec<ModelWallbox>,
    house: HouseLoad,
    grid_meter: MeterError,
    rng: Rng,
    cycle: u64,
    grid_reading: PerPhase,
    /// True load per building phase at the last reading.
    true_grid_ma: [f64; 3],
    /// Caps on the offered current for the next decision (a probe's).
    caps: Vec<(usize, i64)>,
    /// Highest true load on any phase above the limit, mA.
    pub worst_overload_ma: i64,
}

impl SiteModel {
    /// An empty site: `limit_ma` per phase, the house's base load per phase
    /// with appliances of up to `noise_ma`, and a wiggle of a twentieth of
    /// that; a grid meter off by up to 1 %.
    pub fn new(seed: u64, limit_ma: i64, base_ma: [i64; 3], noise_ma: i64) -> Self {
        let mut rng = Rng::new(seed);
        let appliances = if noise_ma > 0 {
            typical_appliances(noise_ma)
        } else {
            Vec::new()
        };
        let house = HouseLoad::new(base_ma, noise_ma / 20, &appliances, rng.next_u64());
        let grid_meter = MeterError::random(&mut rng, 0.01, 1);
        SiteModel {
            limit_ma,
            wallboxes: Vec::new(),
            house,
            grid_meter,
            rng,
            cycle: 0,
            grid_reading: [0; 3],
            true_grid_ma: [0.0; 3],
            caps: Vec::new(),
            worst_overload_ma: 0,
        }
    }

    /// Adds a wallbox; its meter (if any) is off by up to 1 % and reads in
    /// 100 mA steps, as a Power Brain's.
    pub fn add_wallbox(
        &mut self,
        true_rotation: Rotation,
        configured_rotation: Rotation,
        metered: bool,
        max_ma: i64,
        visits: Vec<Visit>,
    ) {
        let meter = MeterError::random(&mut self.rng, 0.01, 100);
        let n = self.wallboxes.len() + 1;
        self.wallboxes.push(ModelWallbox {
            id: format!("E{n}"),
            true_rotation,
            configured_rotation,
            metered,
            min_ma: 6000,
            max_ma,
            visits,
            meter,
            car: None,
            offered_ma: 0,
            turn: None,
            seen_phases: 0,
            reading: WallboxReading::default(),
            first_draw: None,
            first_narrow_draw: None,
        });
    }

    /// A random site for `cycles` cycles: 1 to 8 wallboxes, random true
    /// and configured rotations (half of them right), half with a meter,
    /// one or two cars each on one, two or three phases, arriving at random
    /// in the first third; a supply that sometimes binds; house noise with
    /// steps up to `noise_ma`.
    pub fn random(seed: u64, noise_ma: i64, cycles: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x005e_ed0f_5173);
        let limit = rng.pick(&[20_000, 25_000, 32_000, 40_000, 50_000, 63_000]);
        let base = [0; 3].map(|_| rng.between(500, 5000));
        let mut site = SiteModel::new(rng.next_u64(), limit.unwrap_or(32_000), base, noise_ma);
        let n = rng.between(1, 8);
        for _ in 0..n {
            let truth = rng.pick(&ROTATIONS).unwrap_or_default();
            let configured = if rng.chance(0.5) {
                truth
            } else {
                rng.pick(&ROTATIONS).unwrap_or_default()
            };
            let metered = rng.chance(0.5);
            let max_ma = rng.pick(&[16_000, 32_000]).unwrap_or(16_000);
            let mut visits = Vec::new();
            let third = (cycles / 3).max(1);
            let arrive = rng.below(third);
            let stay = third + rng.below(cycles);
            visits.push(random_visit(&mut rng, arrive, arrive + stay));
            let next = arrive + stay + 30 + rng.below(third);
            if rng.chance(0.4) && next < cycles {
                visits.push(random_visit(&mut rng, next, u64::MAX));
            }
            site.add_wallbox(truth, configured, metered, max_ma, visits);
        }
        site
    }

    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Caps the current of wallbox `index` (0-based) at the next decision.
    pub fn cap(&mut self, index: usize, cap_ma: i64) {
        self.caps.push((index, cap_ma));
    }

    /// One cycle: a second passes (the house changes, cars come, go and
    /// follow what they were offered), the meters are read, and the
    /// allocator decides what each wallbox offers from the next second on.
    pub fn step(&mut self) {
        self.cycle += 1;
        let now = self.cycle;
        self.house.step(1000);
        let mut grid = self.house.current_ma().map(|ma| {
            #[allow(clippy::cast_precision_loss)]
            let a = ma as f64;
            a
        });
        for w in &mut self.wallboxes {
            // Cars come and go.
            let visit = w
                .visits
                .iter()
                .find(|v| v.arrive <= now && now < v.leave)
                .copied();
            match (visit, &w.car) {
                (Some(v), Some(c)) if c.visit == v => {}
                (Some(v), _) => {
                    let spread = if v.phases == 3 { 0.03 } else { 0.0 };
                    w.car = Some(Car {
                        visit: v,
                        enabled_since: None,
                        draw_ma: 0.0,
                        balance: [0; 3].map(|_| 1.0 + self.rng.range(-spread, spread)),
                    });
                    w.seen_phases = 0;
                }
                (None, _) => {
                    w.car = None;
                    w.seen_phases = 0;
                }
            }
            // The car follows the offer: down at once, up at its ramp.
            let mut charging = false;
            if let Some(car) = &mut w.car {
                if w.offered_ma >= 6000 {
                    car.enabled_since.get_or_insert(now);
                } else {
                    car.enabled_since = None;
                }
                charging = car
                    .enabled_since
                    .is_some_and(|since| now - since >= car.visit.start_delay_s);
                #[allow(clippy::cast_precision_loss)]
                let target = if charging {
                    w.offered_ma.min(car.visit.max_ma) as f64
                } else {
                    0.0
                };
                #[allow(clippy::cast_precision_loss)]
                let ramp = car.visit.ramp_ma_per_s as f64;
                car.draw_ma = if target <= car.draw_ma {
                    target
                } else {
                    (car.draw_ma + ramp).min(target)
                };
                if car.draw_ma >= 1000.0 {
                    w.first_draw.get_or_insert(now);
                    if car.visit.phases < 3 {
                        w.first_narrow_draw.get_or_insert(now);
                    }
                }
                let draw = car.per_phase();
                for (p, ma) in draw.iter().enumerate() {
                    grid[w.true_rotation.building_phase(p)] += ma;
                }
            }
            let draw = w.car.map_or([0.0; 3], |c| c.per_phase());
            let meter_ma = w.metered.then(|| w.meter.read(&mut self.rng, draw));
            if let (Some(m), true) = (meter_ma, charging) {
                for (p, ma) in m.iter().enumerate() {
                    if ma.abs() >= DRAWING_MA {
                        w.seen_phases |= 1 << p;
                    }
                }
            }
            w.reading = WallboxReading {
                plugged: w.car.is_some(),
                charging,
                offered_ma: w.offered_ma,
                meter_ma,
            };
        }
        self.true_grid_ma = grid;
        #[allow(clippy::cast_possible_truncation)]
        let over = grid
            .iter()
            .map(|ma| *ma as i64 - self.limit_ma)
            .max()
            .unwrap_or(0);
        self.worst_overload_ma = self.worst_overload_ma.max(over);
        self.grid_reading = self.grid_meter.read(&mut self.rng, grid);
        self.decide(now);
    }

    /// The allocation of the daemon's cycle, from the readings: the house
    /// load is the grid meter less what the wallboxes draw (their meters,
    /// else what they offer on every phase the car might use), placed on
    /// the building's phases by the configured rotation.
    fn decide(&mut self, now: u64) {
        let now_ms = now * 1000;
        let mut evse_draw = [0i64; 3];
        let mut inputs = Vec::new();
        let mut members = Vec::new();
        for (i, w) in self.wallboxes.iter_mut().enumerate() {
            let r = w.reading;
            let phases = if w.seen_phases != 0 {
                w.seen_phases
            } else {
                0b111
            };
            let draw: PerPhase = match r.meter_ma {
                Some(m) => m,
                None if r.charging => [0, 1, 2].map(|p| {
                    if phases & (1 << p) != 0 {
                        r.offered_ma
                    } else {
                        0
                    }
                }),
                None => [0; 3],
            };
            for (p, ma) in draw.iter().enumerate() {
                evse_draw[w.configured_rotation.building_phase(p)] += ma;
            }
            if !r.plugged {
                w.turn = None;
                continue;
            }
            let turn = *w.turn.get_or_insert(TurnState::plugged(now_ms));
            inputs.push(EvseInput {
                group: 0,
                prio: 1,
                turn: turn.rank(now_ms, PAUSE_MS),
                phases: w.configured_rotation.to_building(phases),
                min_ma: w.min_ma,
                max_ma: w.max_ma,
                uncontrolled: false,
            });
            members.push(i);
        }
        let house = budget::house_load(
            &[MeterLoad {
                role: MeterRole::Grid,
                current_ma: self.grid_reading,
            }],
            evse_draw,
        );
        let site = SiteInput {
            available_ma: budget::available(self.limit_ma, 0, house, [0; 3]),
            ..SiteInput::default()
        };
        let targets = allocate(&site, &inputs).unwrap_or_default();
        for w in &mut self.wallboxes {
            if !w.reading.plugged {
                w.offered_ma = 0;
            }
        }
        for (&i, a) in members.iter().zip(&targets) {
            let w = &mut self.wallboxes[i];
            if let Some(turn) = w.turn.as_mut() {
                turn.settle(a.target_ma, now_ms, PAUSE_MS);
            }
            let cap = self
                .caps
                .iter()
                .filter(|(c, _)| *c == i)
                .map(|(_, cap)| *cap)
                .min()
                .unwrap_or(i64::MAX);
            w.offered_ma = a.target_ma.min(cap);
        }
        self.caps.clear();
    }

    /// The grid meter's reading of the last step, mA per building phase.
    pub fn grid_reading(&self) -> PerPhase {
        self.grid_reading
    }

    /// What the house draws now, mA per phase.
    pub fn house_ma(&self) -> PerPhase {
        self.house.current_ma()
    }

    /// Each wallbox's readings of the last step, as the estimator is fed.
    pub fn wallbox_observations(&self) -> Vec<WallboxObservation<'_>> {
        self.wallboxes
            .iter()
            .map(|w| WallboxObservation {
                id: &w.id,
                plugged: w.reading.plugged,
                charging: w.reading.charging,
                offered_ma: w.reading.offered_ma,
                meter_ma: w.reading.meter_ma,
            })
            .collect()
    }

    /// Feeds the readings of the last step to `estimator`, as the daemon's
    /// cycle does.
    pub fn feed(&self, estimator: &mut PhaseEstimator) {
        estimator.observe(&CycleObservation {
            grid_ma: Some(self.grid_reading),
            wallboxes: &self.wallbox_observations(),
        });
    }

    /// What wallbox `index` offers now (for the next second), mA.
    pub fn offered_ma(&self, index: usize) -> i64 {
        self.wallboxes.get(index).map_or(0, |w| w.offered_ma)
    }
}

impl ModelWallbox {
    /// The cycle a car first drew at least 1 A here.
    pub fn first_draw(&self) -> Option<u64> {
        self.first_draw
    }

    /// The cycle a car on one or two phases first drew here: from then on
    /// the grid meter can show the rotation.
    pub fn first_narrow_draw(&self) -> Option<u64> {
        self.first_narrow_draw
    }

    /// The car plugged in now: its phases (1 to 3), if any.
    pub fn car_phases(&self) -> Option<u8> {
        self.car.map(|c| c.visit.phases)
    }

    /// The car plugged in now draws at least 1 A.
    pub fn car_drawing(&self) -> bool {
        self.car.is_some_and(|c| c.draw_ma >= 1000.0)
    }
}

fn random_visit(rng: &mut Rng, arrive: u64, leave: u64) -> Visit {
    let phases = match rng.below(20) {
        0..=6 => 1,
        7..=9 => 2,
        _ => 3,
    };
    let max_ma = if rng.chance(0.08) {
        // A full battery: plugged in, charging allowed, drawing nothing.
        Some(0)
    } else if phases == 3 {
        rng.pick(&[11_000, 16_000, 16_000, 32_000])
    } else {
        rng.pick(&[16_000, 20_000, 32_000])
    };
    Visit {
        arrive,
        leave,
        phases,
        max_ma: max_ma.unwrap_or(16_000),
        ramp_ma_per_s: rng.between(2000, 30_000),
        start_delay_s: rng.below(4) + 2,
    }
}
