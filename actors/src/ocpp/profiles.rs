//! Load management over OCPP: the charging profiles a wallbox is sent, and
//! when. Pure.
//!
//! - The fail-safe: a `TxDefaultProfile` at stack level 0 without an end,
//!   holding the wallbox's `fail_safe_current`. Sent once per connection
//!   (and again when the setting changes).
//! - The live limit: a `TxDefaultProfile` at stack level 1 lasting
//!   `LIVE_SECS`, carrying the allocator's current. Sent when the current
//!   changes, and renewed every `RENEW_AFTER` while chargebrain runs. If
//!   chargebrain stops, or the link drops, it lapses within `LIVE_SECS` and
//!   the charge point falls back to the fail-safe by itself.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a live profile holds.
pub const LIVE_SECS: u64 = 15;

/// A live profile is renewed after this long, well before it lapses.
pub const RENEW_AFTER: Duration = Duration::from_secs(5);

/// The profile ids: one of each kind, replaced in place.
pub const FAIL_SAFE_ID: i64 = 1;
pub const LIVE_ID: i64 = 2;

/// A limit as the charge point was told it: mA, and the phases (where known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub ma: i64,
    pub phases: Option<u8>,
}

/// What has been sent on this connection.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    pub fail_safe: Option<i64>,
    pub live: Option<(Limit, Instant)>,
}

impl Sent {
    /// Whether the fail-safe profile must be sent for `fail_safe_ma`.
    pub fn fail_safe_due(&self, fail_safe_ma: i64) -> bool {
        self.fail_safe != Some(fail_safe_ma)
    }

    /// Whether the live limit must be sent: it changed, or it is due for
    /// renewal.
    pub fn live_due(&self, limit: Limit, now: Instant) -> bool {
        match self.live {
            None => true,
            Some((sent, at)) => sent != limit || now.saturating_duration_since(at) >= RENEW_AFTER,
        }
    }
}

/// The limit for an `Apply`: 0 A when charging is not enabled.
pub fn limit_of(current_ma: i64, enable: bool, used_phases: u8) -> Limit {
    let phases = match used_phases.count_ones() {
        0 => None,
        n => u8::try_from(n).ok(),
    };
    Limit {
        ma: if enable { current_ma.max(0) } else { 0 },
        phases,
    }
}

/// Amperes with one decimal, rounded down (the schema's multiple of 0.1).
fn amps(ma: i64) -> f64 {
    (ma.max(0) / 100) as f64 / 10.0
}

/// The SetChargingProfile payload of the fail-safe.
pub fn fail_safe_profile(connector: u32, fail_safe_ma: i64, now: &str) -> Value {
    profile(
        connector,
        FAIL_SAFE_ID,
        0,
        None,
        Limit {
            ma: fail_safe_ma,
            phases: None,
        },
        now,
    )
}

/// The SetChargingProfile payload of the live limit.
pub fn live_profile(connector: u32, limit: Limit, now: &str) -> Value {
    profile(connector, LIVE_ID, 1, Some(LIVE_SECS), limit, now)
}

fn profile(
    connector: u32,
    id: i64,
    stack_level: u32,
    duration: Option<u64>,
    limit: Limit,
    now: &str,
) -> Value {
    let mut period = json!({"startPeriod": 0, "limit": amps(limit.ma)});
    if let Some(phases) = limit.phases {
        period["numberPhases"] = json!(phases);
    }
    let mut schedule = json!({
        "startSchedule": now,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [period],
    });
    if let Some(secs) = duration {
        schedule["duration"] = json!(secs);
    }
    json!({
        "connectorId": connector,
        "csChargingProfiles": {
            "chargingProfileId": id,
            "stackLevel": stack_level,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": schedule,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_sent_when_it_changes_or_is_due_for_renewal() {
        let t0 = Instant::now();
        let mut sent = Sent::default();
        let l16 = limit_of(16_000, true, 0b111);
        assert_eq!(l16.phases, Some(3));
        assert!(sent.live_due(l16, t0));
        sent.live = Some((l16, t0));
        assert!(!sent.live_due(l16, t0 + Duration::from_secs(1)));
        assert!(sent.live_due(limit_of(10_000, true, 0b111), t0 + Duration::from_secs(1)));
        assert!(sent.live_due(l16, t0 + RENEW_AFTER));
        assert_eq!(limit_of(16_000, false, 0).ma, 0, "disabled suspends");
        assert_eq!(limit_of(16_000, true, 0).phases, None);
    }

    #[test]
    fn the_live_profile_lapses_the_fail_safe_does_not() {
        let live = live_profile(
            1,
            Limit {
                ma: 16_050,
                phases: Some(1),
            },
            "2025-01-01T00:00:00Z",
        );
        let p = &live["csChargingProfiles"];
        assert_eq!(p["stackLevel"], 1);
        assert_eq!(p["chargingSchedule"]["duration"], LIVE_SECS);
        let period = &p["chargingSchedule"]["chargingSchedulePeriod"][0];
        assert_eq!(
            (period["limit"].as_f64(), period["numberPhases"].as_u64()),
            (Some(16.0), Some(1))
        );
        let safe = fail_safe_profile(1, 6_000, "2025-01-01T00:00:00Z");
        let p = &safe["csChargingProfiles"];
        assert_eq!(p["stackLevel"], 0);
        assert!(p["chargingSchedule"].get("duration").is_none());
        assert_eq!(
            p["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"],
            6.0
        );
    }
}
