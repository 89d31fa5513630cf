//! The connection to the broker: options, TLS, and the pause before the
//! next try.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    ConnectReturnCode, ConnectionError, LastWill, MqttOptions, QoS, TlsConfiguration, Transport,
};

use super::settings::{Broker, MqttSettings};

/// The largest message taken in. A larger one ends the connection (the
/// client cannot skip it), so this is well above what is accepted
/// (`api::MAX_BODY`): a message up to here is read and refused.
pub const MAX_INCOMING: usize = 4 * 1024 * 1024;

/// The largest message sent (`get/dev_info` of a large site).
const MAX_OUTGOING: usize = 16 * 1024 * 1024;

/// How long a connection attempt (TCP, TLS, CONNACK) may take.
pub const CONNECT_TIMEOUT_S: u64 = 5;

/// The client's options for `broker`, with the last will `offline` on
/// `status_topic`.
pub fn options(
    settings: &MqttSettings,
    broker: &Broker,
    client_id: &str,
    status_topic: &str,
) -> Result<MqttOptions, String> {
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
        .set_request_channel_capacity(1024)
        .set_last_will(LastWill::new(
            status_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    if !broker.username.is_empty() {
        options.set_credentials(broker.username.clone(), broker.password.clone());
    }
    if broker.tls {
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(
            tls_config(&settings.ca_file)?,
        ))));
    }
    Ok(options)
}

/// TLS through rustls (ring): the certificate authorities of `ca_file`,
/// else the system's.
fn tls_config(ca_file: &str) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if ca_file.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A certificate the store cannot use is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(
                "no system certificate authorities found for mqtts:// (set mqtt.ca_file)".into(),
            );
        }
    } else {
        let pem = std::fs::read(ca_file).map_err(|e| format!("mqtt.ca_file {ca_file}: {e}"))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("mqtt.ca_file {ca_file}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("mqtt.ca_file {ca_file}: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("mqtt.ca_file {ca_file}: no certificate in it"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Whether the broker refused the credentials: trying again at once
/// cannot help, and a broker may count it as an attack.
pub fn refused_credentials(e: &ConnectionError) -> bool {
    matches!(
        e,
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
        )
    )
}

/// An error in words for the log and `params.mqtt.last_error`.
pub fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "the broker refused the credentials: bad user name or password".into()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            "the broker refused the credentials: not authorised (check mqtt.username and mqtt.password)".into()
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused: {code:?}"),
        ConnectionError::NetworkTimeout => {
            format!("no answer from the broker within {CONNECT_TIMEOUT_S} s")
        }
        other => other.to_string(),
    }
}

/// The pause before the next connection attempt: 1 s, doubling to a
/// minute; after refused credentials at least a minute, doubling to ten.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn next(&mut self, refused_credentials: bool) -> Duration {
        let doubling = 1u64 << self.failures.min(10);
        self.failures = self.failures.saturating_add(1);
        if refused_credentials {
            Duration::from_secs((60 * doubling).min(600))
        } else {
            Duration::from_secs(doubling.min(60))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_grows_and_is_long_after_refused_credentials() {
        let mut b = Backoff::default();
        let pauses: Vec<u64> = (0..8).map(|_| b.next(false).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
        b.reset();
        assert_eq!(b.next(true).as_secs(), 60);
        assert_eq!(b.next(true).as_secs(), 120);
        for _ in 0..20 {
            assert!(b.next(true).as_secs() <= 600);
        }
        b.reset();
        assert_eq!(b.next(false).as_secs(), 1);
    }
}
