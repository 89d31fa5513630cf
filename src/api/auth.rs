//! Admin authentication and guessing limits.
//!
//! Credentials: HTTP basic auth (user `admin`), as the cFos API has it, or a
//! session token from `cmd=login` sent as `Authorization: Bearer …` (the
//! admin page: a browser never holds basic-auth credentials other sites
//! could ride on). The password is kept only as an Argon2id hash.
//!
//! Guessing is limited before anything is verified: every attempt counts
//! when it starts, so parallel guesses cannot all slip past the lockout.
//! Argon2 runs on a pool of two threads with two slots (`VerifySlots`), so a
//! flood of logins costs at most two hashes' memory. Cards and PINs entered
//! through the API count the same way, per client and per wallbox.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use sha2::{Digest, Sha256};
use slog::{info, o, warn, Logger};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Argon2id parameters for new hashes, sized for a Raspberry Pi (one of
/// OWASP's equivalent sets): 9 MiB, 4 passes, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 9 * 1024;
pub const ARGON2_PASSES: u32 = 4;

/// Wrong passwords from one client before it is locked out.
const MAX_FAILURES: u32 = 5;
/// Wrong cards or PINs from one client, and at one wallbox, before a lockout.
const MAX_PIN_FAILURES_CLIENT: u32 = 5;
const MAX_PIN_FAILURES_WALLBOX: u32 = 10;
/// The first lockout; each further one in a row lasts twice as long.
const LOCKOUT: Duration = Duration::from_secs(60);
const MAX_LOCKOUT: Duration = Duration::from_secs(3600);
/// Clients remembered at most per table (the oldest are forgotten first).
const MAX_TRACKED: usize = 4096;
/// Password verifications at once; the others wait this long, then 429.
pub const VERIFY_SLOTS: usize = 2;
const VERIFY_WAIT: Duration = Duration::from_secs(2);
/// How long a session of the admin page lasts, and how many there may be.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const MAX_SESSIONS: usize = 64;

/// What a request authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// Basic auth; another user name than `admin` yields a password that
    /// cannot match.
    Password(String),
    /// `Authorization: Bearer …`, a session of the admin page.
    Token(String),
}

impl Credentials {
    pub fn of(header: Option<&str>) -> Self {
        let Some(header) = header.map(str::trim) else {
            return Credentials::None;
        };
        if let Some(token) = header.strip_prefix("Bearer ") {
            return Credentials::Token(token.trim().to_string());
        }
        basic_password(Some(header)).map_or(Credentials::None, Credentials::Password)
    }

    pub fn is_none(&self) -> bool {
        *self == Credentials::None
    }
}

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
    #[error("too many logins at once; try again in a moment")]
    Busy,
    #[error("the session has ended; log in again")]
    Session,
    #[error("too many wrong cards or PINs; try again in {0} s")]
    PinLocked(u64),
}

/// May this client act as admin with these credentials? A password
/// attempt is counted here, before it is verified.
#[derive(Debug, Message)]
#[rtype(result = "Result<Verdict, AuthError>")]
pub struct Check {
    pub client: IpAddr,
    pub credentials: Credentials,
    pub action: String,
}

/// Whether credentials are known good without any slow work: a live
/// session, or the password that verified last. Counts nothing (for
/// reads, which are open anyway and only show more to the admin).
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct Peek(pub Credentials);

/// The result of a slow verification.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), AuthError>")]
pub struct Verified {
    pub client: IpAddr,
    pub digest: [u8; 32],
    pub ok: bool,
    pub action: String,
}

/// A new admin password hash took effect (`None` = no password); every
/// session ends.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetHash(pub Option<String>);

/// A session for a client that has just proven the password.
#[derive(Debug, Message)]
#[rtype(result = "String")]
pub struct NewSession;

/// Ends a session (`cmd=logout`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct EndSession(pub String);

/// Whether a password is set, and whether a token is a live session.
#[derive(Debug, Message)]
#[rtype(result = "(bool, bool)")]
pub struct LoginStatus(pub Option<String>);

/// A card or PIN is about to be tried by `client` (at `wallbox`, if named):
/// counted now, refused while either is locked out.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), AuthError>")]
pub struct PinAttempt {
    pub client: IpAddr,
    pub wallbox: Option<String>,
}

/// The card or PIN was accepted: the client's and the wallbox's counts
/// start again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PinAccepted {
    pub client: IpAddr,
    pub wallbox: Option<String>,
}

/// Attempts per key, counted when they start, with lockouts that double
/// while they follow each other. Pure.
#[derive(Debug)]
pub struct Throttle<K> {
    max: u32,
    entries: HashMap<K, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    attempts: u32,
    lockouts: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

impl<K: std::hash::Hash + Eq + Clone> Throttle<K> {
    pub fn new(max: u32) -> Self {
        Throttle {
            max,
            entries: HashMap::new(),
        }
    }

    /// Counts an attempt; `Err(seconds)` while the key is locked out (the
    /// attempt after the last allowed one starts a lockout).
    pub fn begin(&mut self, key: &K, now: Instant) -> Result<(), u64> {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_TRACKED {
            self.prune(now);
            if self.entries.len() >= MAX_TRACKED {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            attempts: 0,
            lockouts: 0,
            locked_until: None,
            last: now,
        });
        e.last = now;
        if let Some(until) = e.locked_until.filter(|u| *u > now) {
            return Err(until.saturating_duration_since(now).as_secs().max(1));
        }
        if e.attempts >= self.max {
            let factor = 1u32 << e.lockouts.min(6);
            let lockout = (LOCKOUT * factor).min(MAX_LOCKOUT);
            e.lockouts += 1;
            e.attempts = 0;
            e.locked_until = Some(now + lockout);
            return Err(lockout.as_secs());
        }
        e.attempts += 1;
        Ok(())
    }

    /// The attempt succeeded: the key starts afresh.
    pub fn succeeded(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Forgets keys neither locked out nor tried within the longest lockout.
    pub fn prune(&mut self, now: Instant) {
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now)
                || now.saturating_duration_since(e.last) < MAX_LOCKOUT
        });
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

pub struct Auth {
    hash: Option<String>,
    /// Whether `hash` is set, for readers that need not ask the actor.
    password_set: Arc<std::sync::atomic::AtomicBool>,
    /// SHA-256 of the password that last verified against `hash`, so that a
    /// client sending it with every request does not pay for Argon2 each time.
    verified: Option<[u8; 32]>,
    logins: Throttle<IpAddr>,
    pin_clients: Throttle<IpAddr>,
    pin_wallboxes: Throttle<String>,
    /// SHA-256 of each session token, and when it ends.
    sessions: HashMap<[u8; 32], Instant>,
    log: Logger,
}

impl Auth {
    pub fn new(
        hash: Option<String>,
        password_set: Arc<std::sync::atomic::AtomicBool>,
        log: &Logger,
    ) -> Self {
        password_set.store(hash.is_some(), std::sync::atomic::Ordering::Relaxed);
        Auth {
            password_set,
            hash,
            verified: None,
            logins: Throttle::new(MAX_FAILURES),
            pin_clients: Throttle::new(MAX_PIN_FAILURES_CLIENT),
            pin_wallboxes: Throttle::new(MAX_PIN_FAILURES_WALLBOX),
            sessions: HashMap::new(),
            log: log.new(o!("component" => "auth")),
        }
    }

    fn session_alive(&mut self, token: &str, now: Instant) -> bool {
        self.sessions.retain(|_, until| *until > now);
        self.sessions.contains_key(&digest(token))
    }
}

impl Actor for Auth {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The tables forget clients that stopped trying.
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            let now = Instant::now();
            act.logins.prune(now);
            act.pin_clients.prune(now);
            act.pin_wallboxes.prune(now);
            act.sessions.retain(|_, until| *until > now);
        });
    }
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
        let now = Instant::now();
        let password = match check.credentials {
            Credentials::None => {
                warn!(self.log, "admin access denied: no password"; "client" => %check.client, "action" => &check.action);
                return Err(AuthError::Required);
            }
            Credentials::Token(token) => {
                if self.session_alive(&token, now) {
                    return Ok(Verdict::Allowed);
                }
                warn!(self.log, "admin access denied: no such session"; "client" => %check.client, "action" => &check.action);
                return Err(AuthError::Session);
            }
            Credentials::Password(p) => p,
        };
        if let Err(secs) = self.logins.begin(&check.client, now) {
            warn!(self.log, "admin access denied: locked out"; "client" => %check.client,
                "action" => &check.action, "seconds" => secs);
            return Err(AuthError::Locked(secs));
        }
        if self.verified == Some(digest(&password)) {
            self.logins.succeeded(&check.client);
            return Ok(Verdict::Allowed);
        }
        Ok(Verdict::Verify(hash))
    }
}

impl Handler<Peek> for Auth {
    type Result = bool;

    fn handle(&mut self, Peek(credentials): Peek, _: &mut Self::Context) -> bool {
        if self.hash.is_none() {
            return true;
        }
        match credentials {
            Credentials::None => false,
            Credentials::Token(token) => self.session_alive(&token, Instant::now()),
            Credentials::Password(p) => self.verified == Some(digest(&p)),
        }
    }
}

impl Handler<Verified> for Auth {
    type Result = Result<(), AuthError>;

    fn handle(&mut self, v: Verified, _: &mut Self::Context) -> Self::Result {
        if v.ok {
            self.verified = Some(v.digest);
            self.logins.succeeded(&v.client);
            return Ok(());
        }
        warn!(self.log, "admin access denied: wrong password";
            "client" => %v.client, "action" => &v.action);
        Err(AuthError::Wrong)
    }
}

impl Handler<SetHash> for Auth {
    type Result = ();

    fn handle(&mut self, SetHash(hash): SetHash, _: &mut Self::Context) {
        self.password_set
            .store(hash.is_some(), std::sync::atomic::Ordering::Relaxed);
        self.hash = hash;
        self.verified = None;
        self.sessions.clear();
    }
}

impl Handler<NewSession> for Auth {
    type Result = MessageResult<NewSession>;

    fn handle(&mut self, _: NewSession, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        self.sessions.retain(|_, until| *until > now);
        if self.sessions.len() >= MAX_SESSIONS {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, u)| **u)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.sessions.remove(&oldest);
            }
        }
        let token = random_hex(32);
        self.sessions.insert(digest(&token), now + SESSION_TTL);
        info!(self.log, "admin session started"; "sessions" => self.sessions.len());
        MessageResult(token)
    }
}

impl Handler<EndSession> for Auth {
    type Result = ();

    fn handle(&mut self, EndSession(token): EndSession, _: &mut Self::Context) {
        self.sessions.remove(&digest(&token));
    }
}

impl Handler<LoginStatus> for Auth {
    type Result = MessageResult<LoginStatus>;

    fn handle(&mut self, LoginStatus(token): LoginStatus, _: &mut Self::Context) -> Self::Result {
        let alive = token.is_some_and(|t| self.session_alive(&t, Instant::now()));
        MessageResult((self.hash.is_some(), alive))
    }
}

/// A wallbox as the PIN throttle knows it; a card entered without naming
/// one goes to whichever waits.
fn wallbox_key(wallbox: Option<&str>) -> String {
    wallbox.map_or_else(|| "(any)".to_string(), str::to_ascii_uppercase)
}

impl Handler<PinAttempt> for Auth {
    type Result = Result<(), AuthError>;

    fn handle(&mut self, a: PinAttempt, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        let wallbox = wallbox_key(a.wallbox.as_deref());
        let refused = self
            .pin_clients
            .begin(&a.client, now)
            .and_then(|()| self.pin_wallboxes.begin(&wallbox, now));
        refused.map_err(|secs| {
            warn!(self.log, "card or PIN refused: too many wrong ones";
                "client" => %a.client, "wallbox" => &wallbox, "seconds" => secs);
            AuthError::PinLocked(secs)
        })
    }
}

impl Handler<PinAccepted> for Auth {
    type Result = ();

    fn handle(&mut self, a: PinAccepted, _: &mut Self::Context) {
        self.pin_clients.succeeded(&a.client);
        self.pin_wallboxes
            .succeeded(&wallbox_key(a.wallbox.as_deref()));
    }
}

/// Where passwords are hashed and verified: a pool of `VERIFY_SLOTS`
/// threads, each with its own Argon2 memory, allocated once and reused, so
/// the memory Argon2 takes stays fixed however many logins come at once.
#[derive(Default)]
pub struct Verifier {
    memory: Vec<Block>,
}

impl Actor for Verifier {
    type Context = SyncContext<Self>;
}

/// Verify `password` against `hash`, holding one of the slots.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct VerifyPassword {
    pub password: String,
    pub hash: String,
    pub slot: OwnedSemaphorePermit,
}

impl Handler<VerifyPassword> for Verifier {
    type Result = bool;

    fn handle(&mut self, job: VerifyPassword, _: &mut Self::Context) -> bool {
        let ok = verify_with(&mut self.memory, &job.password, &job.hash);
        drop(job.slot);
        ok
    }
}

/// Hash a new password, holding one of the slots.
#[derive(Message)]
#[rtype(result = "Result<String, String>")]
pub struct HashPassword {
    pub password: String,
    pub slot: OwnedSemaphorePermit,
}

impl Handler<HashPassword> for Verifier {
    type Result = Result<String, String>;

    fn handle(&mut self, job: HashPassword, _: &mut Self::Context) -> Self::Result {
        let hashed = hash_with(&mut self.memory, &job.password);
        drop(job.slot);
        hashed
    }
}

/// The slots of the verifier pool.
#[derive(Debug, Clone)]
pub struct VerifySlots(pub Arc<Semaphore>);

impl VerifySlots {
    pub fn new() -> Self {
        VerifySlots(Arc::new(Semaphore::new(VERIFY_SLOTS)))
    }

    /// A slot, waiting a moment for one; `Busy` if none comes free.
    pub async fn take(&self) -> Result<OwnedSemaphorePermit, AuthError> {
        match tokio::time::timeout(VERIFY_WAIT, self.0.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AuthError::Busy),
        }
    }
}

/// Stored hashes needing more memory than this (KiB) are not verified:
/// the state file is not a way to make the daemon allocate at will.
const MAX_VERIFY_KIB: u32 = 64 * 1024;

/// `blocks` blocks of `memory`, grown if needed (and then kept).
fn blocks(memory: &mut Vec<Block>, count: usize) -> &mut [Block] {
    if memory.len() < count {
        memory.resize(count, Block::default());
    }
    &mut memory[..count]
}

/// Whether `password` matches the PHC string `hash` (slow: run on the
/// verifier pool), computed in `memory`. The hash carries its parameters.
fn verify_with(memory: &mut Vec<Block>, password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    if params.m_cost() > MAX_VERIFY_KIB {
        return false;
    }
    let count = params.block_count();
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        blocks(memory, count),
    );
    // `Output`'s comparison takes the same time wherever the bytes differ.
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == *expected)
}

/// A salted Argon2id hash of `password` as a PHC string, with this daemon's
/// parameters, computed in `memory`.
fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, String> {
    let params =
        Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32)).map_err(|e| e.to_string())?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let mut out = [0u8; 32];
    let count = params.block_count();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks(memory, count))
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `hash` (slow).
#[cfg(test)]
pub fn verify(password: &str, hash: &str) -> bool {
    verify_with(&mut Vec::new(), password, hash)
}

/// A salted Argon2id hash of `password` as a PHC string (slow).
#[cfg(test)]
pub fn hash(password: &str) -> Result<String, String> {
    hash_with(&mut Vec::new(), password)
}

/// Whether `hash` is an Argon2 PHC string this daemon can verify against.
pub fn valid_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC string ({e})"))?;
    Algorithm::try_from(parsed.algorithm.as_str())
        .map_err(|_| format!("{} is not Argon2", parsed.algorithm.as_str()))?;
    let params = Params::try_from(&parsed).map_err(|e| format!("bad parameters ({e})"))?;
    if params.m_cost() > MAX_VERIFY_KIB {
        return Err(format!(
            "needs {} KiB, more than {MAX_VERIFY_KIB} KiB",
            params.m_cost()
        ));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("has no salt or no hash".into());
    }
    Ok(())
}

/// `bytes` random bytes from the operating system, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom fails only where there is no entropy source at all; the
    // token is then unusable rather than guessable.
    if getrandom::fill(&mut buf).is_err() {
        return String::new();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
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
        assert!(a.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("1234abcd", &a));
        assert!(!verify("1234abcD", &a));
        assert!(!verify("1234abcd", "not a hash"));
        assert_eq!(valid_hash(&a), Ok(()));
        assert!(valid_hash("$argon2id$garbage").is_err());
        assert!(valid_hash("plain").is_err());
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
        assert_eq!(
            Credentials::of(Some("Bearer ab12")),
            Credentials::Token("ab12".into())
        );
        assert_eq!(Credentials::of(None), Credentials::None);
    }

    #[test]
    fn attempts_count_before_they_are_checked_and_lockouts_double() {
        let mut t = Throttle::new(5);
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.begin(&1, now), Ok(()));
        }
        assert_eq!(t.begin(&1, now), Err(60), "the sixth in flight is refused");
        assert_eq!(t.begin(&1, now + Duration::from_secs(30)), Err(30));
        let later = now + Duration::from_secs(61);
        for _ in 0..5 {
            assert_eq!(t.begin(&1, later), Ok(()));
        }
        assert_eq!(
            t.begin(&1, later),
            Err(120),
            "twice as long the second time"
        );
        t.succeeded(&1);
        assert_eq!(t.begin(&1, later), Ok(()));
        assert_eq!(t.begin(&2, later), Ok(()), "each key on its own");
    }

    #[test]
    fn the_tables_forget_and_stay_bounded() {
        let mut t = Throttle::new(5);
        let now = Instant::now();
        for k in 0..(MAX_TRACKED as u32 + 100) {
            let _ = t.begin(&k, now);
        }
        assert!(t.len() <= MAX_TRACKED);
        t.prune(now + MAX_LOCKOUT + Duration::from_secs(1));
        assert_eq!(t.len(), 0);
    }
}
