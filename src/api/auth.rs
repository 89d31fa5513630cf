//! Admin authentication: HTTP basic auth, user `admin`. The password is
//! kept only as an Argon2id hash (in the state file); verification runs off
//! the actor threads. Five wrong passwords from one client lock it out for a
//! minute; every denial is logged (never the password).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};
use slog::{o, warn, Logger};

/// Wrong passwords from one client before it is locked out.
const MAX_FAILURES: u32 = 5;
const LOCKOUT: Duration = Duration::from_secs(60);

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The password must be checked against this hash (slow by design).
    Verify(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("admin password required")]
    Required,
    #[error("wrong admin password")]
    Wrong,
    #[error("too many wrong passwords; try again in {0} s")]
    Locked(u64),
}

/// May this client act as admin with this password?
#[derive(Debug, Message)]
#[rtype(result = "Result<Verdict, AuthError>")]
pub struct Check {
    pub client: IpAddr,
    pub password: Option<String>,
    pub action: String,
}

/// The result of a slow verification.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), AuthError>")]
pub struct Verified {
    pub client: IpAddr,
    pub digest: [u8; 32],
    pub ok: bool,
    pub action: String,
}

/// A new admin password hash took effect (`None` = no password).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetHash(pub Option<String>);

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

pub struct Auth {
    hash: Option<String>,
    /// SHA-256 of the password that last verified against `hash`, so that a
    /// client sending it with every request does not pay for Argon2 each time.
    verified: Option<[u8; 32]>,
    failures: HashMap<IpAddr, Failures>,
    log: Logger,
}

impl Auth {
    pub fn new(hash: Option<String>, log: &Logger) -> Self {
        Auth {
            hash,
            verified: None,
            failures: HashMap::new(),
            log: log.new(o!("component" => "auth")),
        }
    }

    fn locked(&mut self, client: IpAddr, now: Instant) -> Option<u64> {
        let f = self.failures.get_mut(&client)?;
        match f.locked_until {
            Some(until) if until > now => {
                Some(until.saturating_duration_since(now).as_secs().max(1))
            }
            Some(_) => {
                f.locked_until = None;
                None
            }
            None => None,
        }
    }
}

impl Actor for Auth {
    type Context = Context<Self>;
}

pub fn digest(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Handler<Check> for Auth {
    type Result = Result<Verdict, AuthError>;

    fn handle(&mut self, check: Check, _: &mut Self::Context) -> Self::Result {
        let Some(hash) = self.hash.clone() else {
            return Ok(Verdict::Allowed);
        };
        if let Some(secs) = self.locked(check.client, Instant::now()) {
            warn!(self.log, "admin access denied: locked out"; "client" => %check.client, "action" => &check.action);
            return Err(AuthError::Locked(secs));
        }
        let Some(password) = check.password else {
            warn!(self.log, "admin access denied: no password"; "client" => %check.client, "action" => &check.action);
            return Err(AuthError::Required);
        };
        if self.verified == Some(digest(&password)) {
            self.failures.remove(&check.client);
            return Ok(Verdict::Allowed);
        }
        Ok(Verdict::Verify(hash))
    }
}

impl Handler<Verified> for Auth {
    type Result = Result<(), AuthError>;

    fn handle(&mut self, v: Verified, _: &mut Self::Context) -> Self::Result {
        if v.ok {
            self.verified = Some(v.digest);
            self.failures.remove(&v.client);
            return Ok(());
        }
        let f = self.failures.entry(v.client).or_default();
        f.count += 1;
        warn!(self.log, "admin access denied: wrong password";
            "client" => %v.client, "action" => &v.action, "failures" => f.count);
        if f.count >= MAX_FAILURES {
            f.count = 0;
            f.locked_until = Some(Instant::now() + LOCKOUT);
            warn!(self.log, "client locked out"; "client" => %v.client, "seconds" => LOCKOUT.as_secs());
        }
        Err(AuthError::Wrong)
    }
}

impl Handler<SetHash> for Auth {
    type Result = ();

    fn handle(&mut self, SetHash(hash): SetHash, _: &mut Self::Context) {
        self.hash = hash;
        self.verified = None;
    }
}

/// Whether `password` matches the PHC string `hash` (slow: run off-thread).
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A salted Argon2id hash of `password` as a PHC string (slow: run off-thread).
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The password of `Authorization: Basic …` for user `admin`; another user
/// name yields a password that cannot match.
pub fn basic_password(header: Option<&str>) -> Option<String> {
    let encoded = header?.trim().strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(if user == "admin" {
        password.to_string()
    } else {
        format!("\u{0}{password}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("1234abcd").unwrap();
        let b = hash("1234abcd").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("1234abcd", &a));
        assert!(!verify("1234abcD", &a));
        assert!(!verify("1234abcd", "not a hash"));
    }

    #[test]
    fn basic_auth_header() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:1234abcd")
        );
        assert_eq!(basic_password(Some(&header)), Some("1234abcd".into()));
        let other = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("root:1234abcd")
        );
        assert_ne!(basic_password(Some(&other)), Some("1234abcd".into()));
        assert_eq!(basic_password(Some("Basic !!!")), None);
        assert_eq!(basic_password(Some("Bearer x")), None);
        assert_eq!(basic_password(None), None);
    }
}
