//! What every request passes before a handler sees it:
//! - its `Host` must be an IP literal, `localhost` or a name in
//!   `http.hosts` (a page on another site that made its name point here, DNS
//!   rebinding, is refused);
//! - a `/cnf` request a browser sends for a page of another site (its
//!   `Origin`, `Referer` or `Sec-Fetch-Site` says so) is refused; clients
//!   that are not browsers (Home Assistant, Node-RED, curl) send none of these;
//! - one client address holds at most `http.max_connections_per_client`
//!   connections: the next are answered 429 and closed at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::dev::ServiceRequest;

use super::ApiError;

/// The names this daemon answers to besides IP literals and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    hosts: Arc<Vec<String>>,
}

impl Guard {
    pub fn new(hosts: &[String]) -> Self {
        Guard {
            hosts: Arc::new(hosts.iter().map(|h| normal_name(h)).collect()),
        }
    }

    /// Why the request is refused, if it is.
    pub fn check(&self, req: &ServiceRequest) -> Result<(), ApiError> {
        if req
            .conn_data::<ConnectionSlot>()
            .is_some_and(ConnectionSlot::over)
        {
            return Err(ApiError::TooManyConnections);
        }
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        };
        // Browsers always send Host; a client without it is no browser.
        let Some(host) = header("host") else {
            return Ok(());
        };
        if !self.allowed_host(host) {
            return Err(ApiError::Forbidden(format!(
                "Host '{host}' is not an address of this daemon (an IP address, localhost, or a name in http.hosts)"
            )));
        }
        if req.path() != "/cnf" {
            return Ok(());
        }
        let cross_site = |what: &str, value: &str| {
            ApiError::Forbidden(format!(
                "cross-site request refused: {what} {value} is not this daemon's page"
            ))
        };
        if let Some(origin) = header("origin") {
            if authority(origin).is_none_or(|a| !same_authority(a, host)) {
                return Err(cross_site("Origin", origin));
            }
        }
        if let Some(referer) = header("referer") {
            if authority(referer).is_none_or(|a| !same_authority(a, host)) {
                return Err(cross_site("Referer", referer));
            }
        }
        if let Some(site) = header("sec-fetch-site") {
            if site != "same-origin" && site != "none" {
                return Err(cross_site("Sec-Fetch-Site", site));
            }
        }
        Ok(())
    }

    fn allowed_host(&self, host: &str) -> bool {
        let name = host_name(host);
        name.parse::<IpAddr>().is_ok() || name == "localhost" || self.hosts.contains(&name)
    }
}

/// A host name lower case, without a trailing dot.
fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host of a `Host` value (`name`, `name:port`, `1.2.3.4:80`, `[::1]:80`).
fn host_name(host: &str) -> String {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    normal_name(name)
}

/// `host[:port]` of an `Origin` or `Referer` URL, default ports removed.
fn authority(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?.to_ascii_lowercase();
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    Some(
        authority
            .strip_suffix(default)
            .unwrap_or(&authority)
            .to_string(),
    )
}

fn same_authority(authority: String, host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let host = host.strip_suffix(":80").unwrap_or(&host);
    authority == host
}

/// Open connections per client address.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    limit: usize,
}

impl Connections {
    pub fn new(limit: usize) -> Self {
        Connections {
            per_client: Arc::default(),
            limit,
        }
    }

    /// Counts a new connection from `client` until the slot is dropped.
    pub fn open(&self, client: IpAddr) -> ConnectionSlot {
        let mut table = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = table.entry(client).or_insert(0);
        *count += 1;
        ConnectionSlot {
            client,
            over: *count > self.limit,
            connections: self.clone(),
        }
    }

    /// How many connections `client` holds now.
    #[cfg(test)]
    pub fn of(&self, client: IpAddr) -> usize {
        self.per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&client)
            .copied()
            .unwrap_or(0)
    }
}

/// One open connection, kept with the connection's data: dropped when it
/// closes.
#[derive(Debug)]
pub struct ConnectionSlot {
    client: IpAddr,
    over: bool,
    connections: Connections,
}

impl ConnectionSlot {
    /// The client held too many connections when this one opened.
    pub fn over(&self) -> bool {
        self.over
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut table = self
            .connections
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = table.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                table.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn check(headers: &[(&str, &str)], path: &str) -> Result<(), String> {
        let mut req = TestRequest::with_uri(path);
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        Guard::new(&["charger.local".to_string()])
            .check(&req.to_srv_request())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn hosts_must_be_ip_literals_localhost_or_configured_names() {
        for host in [
            "192.168.1.5:8080",
            "192.168.1.5",
            "[::1]:8080",
            "localhost:8080",
            "Charger.Local.",
            "charger.local:80",
        ] {
            assert_eq!(
                check(&[("host", host)], "/cnf?cmd=get_dev_info"),
                Ok(()),
                "{host}"
            );
        }
        for host in ["evil.example", "evil.example:8080", "192.168.1.5.nip.io"] {
            assert!(check(&[("host", host)], "/").is_err(), "{host}");
        }
        assert_eq!(check(&[], "/cnf"), Ok(()), "HTTP/1.0 without Host");
    }

    #[test]
    fn requests_from_pages_of_other_sites_are_refused() {
        let own = ("host", "192.168.1.5:8080");
        let ok = [
            vec![own, ("origin", "http://192.168.1.5:8080")],
            vec![own, ("referer", "http://192.168.1.5:8080/#/settings")],
            vec![own, ("sec-fetch-site", "same-origin")],
            vec![own, ("sec-fetch-site", "none")],
            vec![
                ("host", "charger.local"),
                ("origin", "http://charger.local:80"),
            ],
        ];
        for headers in ok {
            assert_eq!(check(&headers, "/cnf"), Ok(()), "{headers:?}");
        }
        let refused = [
            vec![own, ("origin", "http://evil.example")],
            vec![own, ("origin", "null")],
            vec![own, ("origin", "http://192.168.1.5:8081")],
            vec![own, ("referer", "http://evil.example/attack.html")],
            vec![own, ("sec-fetch-site", "cross-site")],
            vec![own, ("sec-fetch-site", "same-site")],
        ];
        for headers in refused {
            assert!(
                check(&headers, "/cnf").is_err_and(|e| e.contains("cross-site")),
                "{headers:?}"
            );
        }
        // A link from elsewhere to the page itself is fine.
        assert_eq!(check(&[own, ("sec-fetch-site", "cross-site")], "/"), Ok(()));
    }

    #[test]
    fn connections_are_counted_per_client_until_they_close() {
        let c = Connections::new(2);
        let ip = IpAddr::from([127, 0, 0, 2]);
        let a = c.open(ip);
        let b = c.open(ip);
        let third = c.open(ip);
        assert!(!a.over() && !b.over() && third.over());
        assert_eq!(c.of(ip), 3);
        drop((a, b, third));
        assert_eq!(c.of(ip), 0);
        assert!(!c.open(ip).over());
    }
}
