//! What the simulated days share: the plant (a Power Brain wallbox with a
//! three-phase car plugged in, an SDM630 grid meter, a house and PV), the
//! daemon's real supervisor, device actors and drivers talking Modbus to it
//! over loopback, and a manual clock the test moves one cycle at a time.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, SyncArbiter};
use actors::config::{DeviceSettings, SiteParams, State};
use actors::drivers::evse_powerbrain::control_words;
use actors::plant::{LocalPorts, Plant};
use actors::sim::closed_loop::{PlantSim, SimulationSettings};
use actors::store::Store;
use actors::supervisor::{Clock, CycleNow, ManualClock, Supervisor};
use jiff::civil::DateTime;
use slog::{o, Logger};

pub const VOLTS: i64 = 230;
/// What the house draws on each phase all day, mA.
pub const HOUSE_MA: i64 = 1500;

pub struct Day {
    pub plant: PlantSim,
    pub clock: ManualClock,
    pub supervisor: Addr<Supervisor>,
    _storage: tempfile::TempDir,
}

fn device(toml_text: &str) -> DeviceSettings {
    toml::from_str(toml_text).expect("test device settings")
}

/// The plant with one three-phase car plugged in (its Power Brain's relay
/// switch pausing the car `pause_s`), and the daemon's actors with wallbox
/// E1 (`dev_id`, `dev_type`, `address` and `id` given; `wallbox` adds the
/// rest) and grid meter M1, on a manual clock that starts at `start`. A
/// first cycle has run: a decision before the car can draw what the
/// wallbox offers by default.
pub async fn start_day(title: &str, wallbox: &str, pause_s: u64, start: DateTime) -> Day {
    let plant = PlantSim::start_stepped(&SimulationSettings {
        enabled: true,
        base_port: 0,
        wallboxes: 1,
        grid_meter: true,
        house_load_ma: [HOUSE_MA; 3],
        phase_switch_pause_s: pause_s,
        ..SimulationSettings::default()
    })
    .await
    .expect("plant starts");
    plant.plug(1, 3, 16_000);
    let devices: Vec<Arc<_>> = vec![
        device(&format!(
            "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\nid = 1\n{wallbox}"
        )),
        device(
            "dev_id = \"M1\"\ndev_type = \"meter_sdm630\"\naddress = \"grid\"\nid = 1\nrole = 3\n",
        ),
    ]
    .into_iter()
    .map(Arc::new)
    .collect();
    let log = Logger::root(slog::Discard, o!());
    let live = Plant::start(
        &devices,
        &LocalPorts(plant.addresses.clone()),
        Duration::from_secs(1),
        &log,
    )
    .expect("devices start");
    let state = State {
        params: SiteParams {
            max_total_current: 32_000.into(),
            ..SiteParams::default()
        },
        devices,
        ..State::new(title)
    };
    let storage = tempfile::tempdir().expect("temp dir");
    let path = storage.path().join("state.json");
    let stored = state.clone();
    let store = SyncArbiter::start(1, move || Store::new(path.clone(), stored.clone()));
    let (published, _) = tokio::sync::watch::channel(Arc::new(live.clone()));
    let clock = ManualClock::starting_at(start);
    let supervisor = Supervisor::new(state, live, published, store, &log)
        .with_clock(Clock::Manual(clock.clone()))
        .start();
    let day = Day {
        plant,
        clock,
        supervisor,
        _storage: storage,
    };
    day.cycle().await;
    day
}

impl Day {
    /// Runs one cycle and waits until its decision is in the wallbox's
    /// registers (the write follows the decision), as it would be well
    /// within a real cycle.
    pub async fn cycle(&self) {
        let snapshot = self
            .supervisor
            .send(CycleNow)
            .await
            .expect("supervisor runs");
        let decided = snapshot.evses[0].as_ref().map_or(0, |e| e.lb_current);
        let words = control_words(decided, decided > 0).map(|(_, word)| word);
        let bank = self.plant.wallbox(1).expect("wallbox 1");
        for _ in 0..1000 {
            if bank.lock().read(8093, 2).is_ok_and(|w| w == words) {
                // A relay write follows the current's in the same exchange.
                tokio::time::sleep(Duration::from_millis(1)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the wallbox was not set to {decided} mA within a second");
    }
}
