//! Read planning: a poll's reads (what a driver or definition needs) become
//! as few Modbus requests as the layout allows. Reads of one table that lie
//! close together share one request, the registers between them read along
//! and dropped: a round trip costs far more than a few words more in an
//! answer (on TCP about 80 µs against nothing; on RS-485 at 9600 baud a
//! request's framing, silences and the device's turnaround against 2 ms per
//! register). No request asks for more than the device's limit (125
//! registers, the Modbus maximum, or less where a definition says so), and
//! requests never overlap. Pure code: the device actor runs the requests
//! and [`ReadPlan::split`] gives each read its words back, so decoders see
//! the reads they asked for.
//!
//! Not every device answers a read across registers it does not have
//! (exception 2, illegal data address). The device actor starts with
//! [`Merge::AcrossGaps`], falls back to [`Merge::AcrossMap`] (only
//! registers of the device's map read along) and then to [`Merge::None`]
//! (the reads as the driver lists them) when a device refuses, and keeps
//! to what worked.

use super::map::{RegisterMap, MAX_READ_COUNT};
use super::{DecodeError, Read, Table};

/// The widest gap (in registers) read along rather than asked in a request
/// of its own.
pub const MAX_GAP: u16 = 16;

/// How far reads are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Merge {
    /// Across gaps of up to [`MAX_GAP`] registers, whatever lies there.
    AcrossGaps,
    /// Across gaps of up to [`MAX_GAP`] registers that are all readable
    /// registers of the device's map.
    AcrossMap,
    /// Not at all: the reads as listed (adjacent ones still share a request
    /// if the driver lists them so).
    None,
}

impl Merge {
    /// The next, more careful step after a device refused a request.
    pub fn fallback(self) -> Option<Merge> {
        match self {
            Merge::AcrossGaps => Some(Merge::AcrossMap),
            Merge::AcrossMap => Some(Merge::None),
            Merge::None => None,
        }
    }
}

/// The requests of one poll and how to answer the reads from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// The Modbus requests, sorted by table and address, not overlapping.
    pub requests: Vec<Read>,
}

fn end(read: &Read) -> u32 {
    u32::from(read.addr) + u32::from(read.count)
}

impl ReadPlan {
    /// The requests for `reads`: merged as `merge` allows, none over
    /// `max_count` registers (at most 125). `map` says which registers the
    /// device has (for [`Merge::AcrossMap`]).
    pub fn new(reads: &[Read], merge: Merge, max_count: u16, map: &RegisterMap) -> Self {
        if merge == Merge::None {
            return ReadPlan {
                requests: reads.to_vec(),
            };
        }
        let max_count = u32::from(max_count.clamp(1, MAX_READ_COUNT));
        let readable = |from: u32, to: u32| {
            (from..to).all(|a| {
                u16::try_from(a)
                    .ok()
                    .and_then(|a| map.covering(a))
                    .is_some_and(|r| r.access != super::map::Access::Write)
            })
        };
        let mut sorted: Vec<Read> = reads.iter().copied().filter(|r| r.count > 0).collect();
        sorted.sort_by_key(|r| (table_order(r.table), r.addr, r.count));
        let mut requests: Vec<Read> = Vec::new();
        for read in sorted {
            let (start, stop) = (u32::from(read.addr), end(&read));
            if let Some(last) = requests.last_mut().filter(|l| l.table == read.table) {
                let last_end = end(last);
                if stop <= last_end {
                    continue; // inside the last request already
                }
                let gap_ok = start <= last_end
                    || (start - last_end <= u32::from(MAX_GAP)
                        && (merge == Merge::AcrossGaps || readable(last_end, start)));
                if gap_ok && stop - u32::from(last.addr) <= max_count {
                    last.count = (stop - u32::from(last.addr)) as u16;
                    continue;
                }
                // Overlapping but too long together: the rest of it alone.
                if start < last_end {
                    for part in pieces(read.table, last_end, stop, max_count) {
                        requests.push(part);
                    }
                    continue;
                }
            }
            requests.extend(pieces(read.table, start, stop, max_count));
        }
        ReadPlan { requests }
    }

    /// Whether this plan asks in fewer or other requests than `reads`.
    pub fn merges(&self, reads: &[Read]) -> bool {
        self.requests != reads
    }

    /// The words of each of `reads`, from the answers to the requests.
    pub fn split(
        &self,
        reads: &[Read],
        answers: &[Vec<u16>],
    ) -> Result<Vec<Vec<u16>>, DecodeError> {
        super::check_blocks(&self.requests, answers)?;
        reads
            .iter()
            .map(|read| {
                let mut words = Vec::with_capacity(usize::from(read.count));
                let mut at = u32::from(read.addr);
                while at < end(read) {
                    let (request, answer) = self
                        .requests
                        .iter()
                        .zip(answers)
                        .find(|(r, _)| {
                            r.table == read.table && u32::from(r.addr) <= at && at < end(r)
                        })
                        .ok_or_else(|| {
                            DecodeError::Invalid(format!("register {at} was not read"))
                        })?;
                    let take = end(request).min(end(read));
                    let from = (at - u32::from(request.addr)) as usize;
                    let to = (take - u32::from(request.addr)) as usize;
                    words.extend_from_slice(&answer[from..to]);
                    at = take;
                }
                Ok(words)
            })
            .collect()
    }
}

fn table_order(table: Table) -> u8 {
    match table {
        Table::Holding => 0,
        Table::Input => 1,
    }
}

/// `[start, stop)` in requests of at most `max_count` registers.
fn pieces(table: Table, start: u32, stop: u32, max_count: u32) -> Vec<Read> {
    let mut out = Vec::new();
    let mut at = start;
    while at < stop {
        let count = (stop - at).min(max_count);
        out.push(Read {
            table,
            addr: at as u16,
            count: count as u16,
        });
        at += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::RegType::U16;
    use crate::drivers::map::{reg, Access};
    use crate::drivers::{evse_powerbrain, DeviceType};

    static EMPTY: RegisterMap = RegisterMap { registers: &[] };

    /// Each register's answer is its own address (holding) or address + 1
    /// (input), so a wrong split shows.
    fn answer(request: &Read) -> Vec<u16> {
        let base = match request.table {
            Table::Holding => 0,
            Table::Input => 1,
        };
        (0..request.count)
            .map(|i| request.addr.wrapping_add(i).wrapping_add(base))
            .collect()
    }

    fn check(reads: &[Read], plan: &ReadPlan, max_count: u16) -> Result<(), TestCaseError> {
        for r in &plan.requests {
            prop_assert!(
                r.count >= 1 && r.count <= max_count.min(MAX_READ_COUNT),
                "{r:?}"
            );
            prop_assert!(end(r) <= 0x1_0000, "{r:?} runs past the last address");
        }
        let mut sorted = plan.requests.clone();
        sorted.sort_by_key(|r| (table_order(r.table), r.addr));
        for pair in sorted.windows(2) {
            if pair[0].table == pair[1].table {
                prop_assert!(end(&pair[0]) <= u32::from(pair[1].addr), "{pair:?} overlap");
            }
        }
        let answers: Vec<Vec<u16>> = plan.requests.iter().map(answer).collect();
        let blocks = plan
            .split(reads, &answers)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (read, block) in reads.iter().zip(&blocks) {
            prop_assert_eq!(block, &answer(read), "{:?}", read);
        }
        Ok(())
    }

    fn reads() -> impl Strategy<Value = Vec<Read>> {
        prop::collection::vec((prop::bool::ANY, 0u16..400, 1u16..=125), 1..12).prop_map(|v| {
            v.into_iter()
                .map(|(input, addr, count)| Read {
                    table: if input { Table::Input } else { Table::Holding },
                    addr: 40_000 + addr,
                    count,
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(crate::property_cases(2000))]

        /// Every register wanted is read, and answered from the right
        /// request; no request is over the limit, and none overlap.
        #[test]
        fn every_read_is_covered_by_requests_within_the_limit(
            reads in reads(),
            max_count in 1u16..=200,
        ) {
            for merge in [Merge::AcrossGaps, Merge::AcrossMap] {
                let plan = ReadPlan::new(&reads, merge, max_count, &EMPTY);
                check(&reads, &plan, max_count)?;
            }
        }
    }

    #[test]
    fn reads_at_the_end_of_the_address_space_do_not_wrap() {
        let reads = [Read::holding(65_500, 36), Read::holding(65_530, 6)];
        let plan = ReadPlan::new(&reads, Merge::AcrossGaps, 125, &EMPTY);
        assert_eq!(plan.requests, vec![Read::holding(65_500, 36)]);
    }

    #[test]
    fn the_power_brain_is_polled_in_one_request_or_in_three_without_its_holes() {
        let modbus = DeviceType::find("evse_powerbrain")
            .and_then(DeviceType::modbus)
            .expect("a Modbus driver");
        // The relay block (8086–8087) lies inside: it costs no request.
        assert_eq!(modbus.reads.len(), 6);
        let across = ReadPlan::new(modbus.reads, Merge::AcrossGaps, 125, modbus.map);
        assert_eq!(across.requests, vec![Read::holding(8057, 57)]);
        // 8070–8079 and 8089 are not registers of the wallbox.
        let mapped = ReadPlan::new(modbus.reads, Merge::AcrossMap, 125, &evse_powerbrain::MAP);
        assert_eq!(
            mapped.requests,
            vec![
                Read::holding(8057, 13),
                Read::holding(8083, 5),
                Read::holding(8090, 24)
            ]
        );
        let none = ReadPlan::new(modbus.reads, Merge::None, 125, modbus.map);
        assert_eq!(none.requests, modbus.reads);
        assert!(across.merges(modbus.reads) && !none.merges(modbus.reads));
    }

    #[test]
    fn a_gap_wider_than_the_threshold_or_a_limit_makes_two_requests() {
        let reads = [Read::holding(100, 2), Read::holding(102 + MAX_GAP + 1, 2)];
        let plan = ReadPlan::new(&reads, Merge::AcrossGaps, 125, &EMPTY);
        assert_eq!(plan.requests, reads);
        let reads = [Read::holding(100, 2), Read::holding(102 + MAX_GAP, 2)];
        let plan = ReadPlan::new(&reads, Merge::AcrossGaps, 125, &EMPTY);
        assert_eq!(plan.requests, vec![Read::holding(100, 4 + MAX_GAP)]);
        // A definition that allows 10 registers per read.
        let plan = ReadPlan::new(&reads, Merge::AcrossGaps, 10, &EMPTY);
        assert_eq!(plan.requests, reads);
        // Tables never share a request.
        let reads = [Read::holding(100, 2), Read::input(102, 2)];
        let plan = ReadPlan::new(&reads, Merge::AcrossGaps, 125, &EMPTY);
        assert_eq!(plan.requests, reads);
    }

    #[test]
    fn write_only_registers_are_not_read_along() {
        static MAP: RegisterMap = RegisterMap {
            registers: &[
                reg("a", 10, U16, Access::Read, ""),
                reg("reset", 11, U16, Access::Write, ""),
                reg("b", 12, U16, Access::ReadWrite, ""),
                reg("c", 13, U16, Access::Read, ""),
            ],
        };
        let reads = [
            Read::holding(10, 1),
            Read::holding(12, 1),
            Read::holding(13, 1),
        ];
        let plan = ReadPlan::new(&reads, Merge::AcrossMap, 125, &MAP);
        assert_eq!(
            plan.requests,
            vec![Read::holding(10, 1), Read::holding(12, 2)]
        );
    }

    #[test]
    fn every_driver_and_definition_is_planned_within_the_limits() {
        for t in DeviceType::all() {
            let Some(modbus) = t.modbus() else { continue };
            for merge in [Merge::AcrossGaps, Merge::AcrossMap, Merge::None] {
                let plan = ReadPlan::new(modbus.reads, merge, modbus.max_read(), modbus.map);
                check(modbus.reads, &plan, modbus.max_read())
                    .unwrap_or_else(|e| panic!("{t:?} {merge:?}: {e}"));
                assert!(plan.requests.len() <= modbus.reads.len(), "{t:?} {merge:?}");
            }
        }
    }
}
