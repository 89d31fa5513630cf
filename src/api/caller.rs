//! Who sends a `/cnf` command: an HTTP client, or the MQTT broker. The
//! dispatcher and the handlers ask the caller for its address, its
//! credentials and what it may do, so that both ways in run the same code
//! under the same rules.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::HttpRequest;

use super::auth::Credentials;
use super::{access, Access, ApiError, Params};

/// The address MQTT callers are counted under (PIN attempts): all of them
/// at once, as one client, since the broker does not say who published.
const MQTT_CLIENT: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// Commands that never run over MQTT: they carry or answer passwords,
/// sessions, cards or PINs, and every subscriber of a broker may read
/// `<prefix>/api_res` (and whatever was published to `<prefix>/api/…`).
pub const HTTP_ONLY: &[&str] = &[
    "change_admin_pwd",
    "get_login",
    "get_mqtt",
    "get_user",
    "get_users",
    "login",
    "logout",
    "set_mqtt",
    "set_user",
];

#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// An HTTP client: its address and its `Authorization` header.
    Http(&'a HttpRequest),
    /// A message from the MQTT broker. It has no address and no
    /// credentials: it reads, and changes something only if `may_change`
    /// (`[mqtt] allow_api_writes`, or the `set/<dev_id>` topic of an
    /// HTTP-input device), then as the admin.
    Mqtt { may_change: bool },
}

impl Caller<'_> {
    /// The client's address (the lockouts are per address).
    pub fn client(&self) -> IpAddr {
        match self {
            Caller::Http(req) => req
                .peer_addr()
                .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip()),
            Caller::Mqtt { .. } => MQTT_CLIENT,
        }
    }

    /// Who it is, for the log.
    pub fn label(&self) -> String {
        match self {
            Caller::Http(req) => req
                .peer_addr()
                .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string()),
            Caller::Mqtt { .. } => "mqtt".to_string(),
        }
    }

    /// The credentials it sent.
    pub fn credentials(&self) -> Credentials {
        match self {
            Caller::Http(req) => Credentials::of(
                req.headers()
                    .get("Authorization")
                    .and_then(|h| h.to_str().ok()),
            ),
            Caller::Mqtt { .. } => Credentials::None,
        }
    }

    /// An MQTT caller's standing as the admin: `Ok` when it may change
    /// things; `None` for an HTTP caller, which proves it with a password.
    pub fn mqtt_admin(&self, cmd: &str) -> Option<Result<(), ApiError>> {
        match self {
            Caller::Http(_) => None,
            Caller::Mqtt { may_change: true } => Some(Ok(())),
            Caller::Mqtt { may_change: false } => Some(Err(ApiError::Forbidden(format!(
                "cmd={cmd} changes something: over MQTT only with [mqtt] allow_api_writes = true"
            )))),
        }
    }

    /// Whether an MQTT caller may run `cmd` at all; HTTP callers are
    /// checked by the dispatcher's access rules.
    pub fn check_mqtt(&self, cmd: &str, params: &Params) -> Result<(), ApiError> {
        let Caller::Mqtt { .. } = self else {
            return Ok(());
        };
        if HTTP_ONLY.contains(&cmd) {
            return Err(ApiError::Forbidden(format!(
                "cmd={cmd} is not taken over MQTT: passwords, sessions and cards go over HTTP only"
            )));
        }
        if only_reads(cmd, params) {
            return Ok(());
        }
        self.mqtt_admin(cmd).unwrap_or(Ok(()))
    }
}

/// Whether a command only reads what anyone may read.
fn only_reads(cmd: &str, params: &Params) -> bool {
    matches!(access(cmd, params), Access::Read)
        || (cmd == "soft_meter" && params.get("val").is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cmd_query: &str, may_change: bool) -> Result<(), ApiError> {
        let params = Params::parse(cmd_query).unwrap();
        let cmd = params.required("cmd").unwrap().to_string();
        Caller::Mqtt { may_change }.check_mqtt(&cmd, &params)
    }

    #[test]
    fn mqtt_reads_always_and_changes_only_when_allowed() {
        for read in [
            "cmd=get_dev_info",
            "cmd=get_params",
            "cmd=get_cm_vars",
            "cmd=modbus&device=E1&read=8092",
            "cmd=soft_meter&dev_id=E1",
        ] {
            assert!(check(read, false).is_ok(), "{read}");
        }
        for change in [
            "cmd=override_device&dev_id=E1&flags=C",
            "cmd=set_params",
            "cmd=set_cm_vars&name=x&val=1",
            "cmd=modbus&device=E1&write=8093&value=60",
            "cmd=soft_meter&dev_id=E1&val=5",
            "cmd=enter_rfid&rfid=1234",
            "cmd=get_ta_log",
            "cmd=del_device&dev_id=E1",
        ] {
            assert!(
                matches!(check(change, false), Err(ApiError::Forbidden(_))),
                "{change}"
            );
            assert!(check(change, true).is_ok(), "{change}");
        }
    }

    #[test]
    fn secrets_never_travel_over_mqtt() {
        for cmd in HTTP_ONLY {
            let query = format!("cmd={cmd}");
            assert!(
                matches!(check(&query, true), Err(ApiError::Forbidden(_))),
                "{cmd}"
            );
        }
    }
}
