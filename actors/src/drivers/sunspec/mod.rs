//! SunSpec devices: inverters and meters of many makers (SMA, Fronius,
//! SolarEdge, KOSTAL, Huawei …) answer the same Modbus model chain. From
//! base register 40000 ("SunS"; else 0 or 50000) a chain of models follows, each a header
//! (its id and length) and its points, up to the end marker 0xFFFF. A
//! device of type `meter_sunspec` or `inverter_sunspec` walks the
//! chain once (`chain.rs`), then polls the one model it reads
//! (`models.rs`: the meter models 201–204 and 211–214, the inverter models
//! 101–103 and 111–113), with its scale factors and "not implemented"
//! values. Pure code: the device actor does the reads the walk asks for.

mod chain;
mod models;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::registry::{Discover, Layout, Step};
use super::{DecodeError, Read};

pub use chain::BASE;
pub use models::Want;
pub(crate) use models::STORAGE_STATES;

/// The SunSpec side of a device type: which model it reads.
#[derive(Debug)]
pub struct SunSpec {
    pub want: Want,
}

impl Discover for SunSpec {
    fn next(&self, answers: &[(Read, Vec<u16>)]) -> Result<Step, DecodeError> {
        match chain::walk(answers)? {
            chain::Walk::Read {
                read,
                what,
                refusable,
            } => Ok(Step::Read {
                read,
                what,
                refusable,
            }),
            chain::Walk::Done { models, common } => {
                let found = models::Found::new(self.want, &models, common)?;
                Ok(Step::Found(Arc::new(found) as Arc<dyn Layout>))
            }
        }
    }
}
