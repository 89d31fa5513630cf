use actix::{Actor, ActorFutureExt, Context, Handler, Message, MessageResult, ResponseActFuture};

use super::ComStatus;
use crate::drivers::Reading;
use crate::transport::DeviceError;

/// Read `count` holding registers from `addr` (FC03).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<u16>, DeviceError>")]
pub struct ReadRegisters {
    pub addr: u16,
    pub count: u16,
}

/// Write `values` from `addr` (FC06 for one word, FC16 for several).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DeviceError>")]
pub struct WriteRegisters {
    pub addr: u16,
    pub values: Vec<u16>,
}

/// Read everything the driver reads each cycle, within one timeout.
#[derive(Debug, Message)]
#[rtype(result = "Result<Reading, DeviceError>")]
pub struct Poll;

/// Set a wallbox's charging current (mA) and enable flag. Registers are
/// written when their value changes or the last poll read another value
/// back from the box, and re-asserted once a minute. `one_phase` and
/// `wake` are written once, after them, by a wallbox that can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "Result<(), DeviceError>")]
pub struct Apply {
    pub current_ma: i64,
    pub enable: bool,
    /// Set the 1p/3p relay: `Some(true)` one phase, `Some(false)` three.
    pub one_phase: Option<bool>,
    /// Wake the car: the charge pilot off for a moment.
    pub wake: bool,
}

/// The cycle refused the device's last reading as implausible: it counts
/// as a failed reading (`com_err`, `com_errors`, `last_error`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Refused(pub DeviceError);

/// The device's communication health and identity.
#[derive(Debug, Message)]
#[rtype(result = "DeviceStatus")]
pub struct GetStatus;

/// `Poll`, answered with the reading and the status after it: the
/// cycle's poll, one message per device instead of two.
#[derive(Debug, Message)]
#[rtype(result = "Polled")]
pub struct PollAndStatus;

/// The answer to `PollAndStatus`.
#[derive(Debug)]
pub struct Polled {
    pub reading: Result<Reading, DeviceError>,
    pub status: DeviceStatus,
}

/// `PollAndStatus` for an actor whose `Poll` waits for its device: the
/// status is taken once the reading is in, so the two agree.
pub(crate) fn poll_then_status<A>(
    actor: &mut A,
    ctx: &mut Context<A>,
) -> ResponseActFuture<A, Polled>
where
    A: Actor<Context = Context<A>>
        + Handler<Poll, Result = ResponseActFuture<A, Result<Reading, DeviceError>>>
        + Handler<GetStatus, Result = MessageResult<GetStatus>>,
{
    let poll = Handler::<Poll>::handle(actor, Poll, ctx);
    Box::pin(poll.map(|reading, actor, ctx| {
        let MessageResult(status) = Handler::<GetStatus>::handle(actor, GetStatus, ctx);
        Polled { reading, status }
    }))
}

#[derive(Debug, Clone)]
pub struct DeviceStatus {
    pub com: ComStatus,
    /// `manufacturer,device,device version,firmware,serial`; until the
    /// device is identified `starting`, or `failed to connect` after a
    /// failed exchange.
    pub model: String,
    /// A meter's power is in VA, not W (as an HTTP meter pushed it).
    pub is_va: bool,
    /// A wallbox's charging current as last written to it, mA (0 while
    /// writing "disabled"); `None` until a first write succeeds.
    pub written_ma: Option<i64>,
}

/// New settings for a device that is still the same box at the same
/// address (a new name, limits or rules): the actor keeps its connection,
/// its status and what it was pushed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UpdateSettings(pub std::sync::Arc<crate::config::DeviceSettings>);

/// Stop the actor (the device was removed or is being restarted).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
