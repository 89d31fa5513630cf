//! A register bank: the memory of a simulated device. Pure code.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use crate::codec::{encode_int, encode_str, RegType};
use crate::drivers::map::RegisterMap;

/// Why the bank refused a request; answered as Modbus exception 02.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalAddress(pub u16);

/// The words of a simulated device, checked against its register map:
/// reading an address outside the map (and outside the block the device
/// answers whole, if it has one) or writing a read-only register is
/// refused, as the real device does.
#[derive(Debug, Clone)]
pub struct RegisterBank {
    map: &'static RegisterMap,
    /// The address spans a read may cover, `[start, end)`, sorted and
    /// merged: the map's registers (write-only ones read as 0), and the
    /// block the device answers whole, if it has one. Checking a read
    /// against a few spans instead of looking up every address keeps the
    /// simulator as cheap as a plain Modbus server (the lookup was a
    /// quarter of the 100-wallbox poll benchmark's time).
    readable: Vec<(u32, u32)>,
    words: BTreeMap<u16, u16>,
}

impl RegisterBank {
    /// All registers zero; only the map's registers can be read.
    pub fn new(map: &'static RegisterMap) -> Self {
        let spans = map.registers.iter().map(|r| {
            let start = u32::from(r.addr);
            (start, start + u32::from(r.ty.width()))
        });
        RegisterBank {
            map,
            readable: merged(spans),
            words: BTreeMap::new(),
        }
    }

    /// The same bank, also answering reads anywhere in `block` (0 where
    /// the map lists nothing): a device that answers its whole register
    /// block, reserved words too. Writes there are still refused.
    pub fn answering_all_of(mut self, block: RangeInclusive<u16>) -> Self {
        let span = (u32::from(*block.start()), u32::from(*block.end()) + 1);
        self.readable = merged(self.readable.iter().copied().chain([span]));
        self
    }

    /// Reads `count` words from `addr`; every one must lie in the map or
    /// the block the device answers whole.
    pub fn read(&self, addr: u16, count: u16) -> Result<Vec<u16>, IllegalAddress> {
        let (start, stop) = (u32::from(addr), u32::from(addr) + u32::from(count));
        let mut at = start;
        for &(from, to) in &self.readable {
            if at >= stop || from > at {
                break;
            }
            at = at.max(to);
        }
        if at < stop {
            // Past the last address: refused at the first one.
            return Err(IllegalAddress(u16::try_from(at).unwrap_or(addr)));
        }
        let mut words = vec![0; usize::from(count)];
        for (&a, &v) in self.words.range(addr..) {
            match words.get_mut(usize::from(a - addr)) {
                Some(w) => *w = v,
                None => break,
            }
        }
        Ok(words)
    }

    /// Writes words from `addr`; every one must belong to a writable
    /// register. Nothing is written unless all are.
    pub fn write(&mut self, addr: u16, values: &[u16]) -> Result<(), IllegalAddress> {
        let addrs: Vec<u16> = (0..values.len())
            .map(|i| {
                let a = u16::try_from(i)
                    .ok()
                    .and_then(|i| addr.checked_add(i))
                    .ok_or(IllegalAddress(addr))?;
                match self.map.covering(a) {
                    Some(r) if r.access.writable() => Ok(a),
                    _ => Err(IllegalAddress(a)),
                }
            })
            .collect::<Result<_, _>>()?;
        for (a, v) in addrs.into_iter().zip(values) {
            self.words.insert(a, *v);
        }
        Ok(())
    }

    /// Sets words directly, ignoring access rights (the device's own view).
    pub fn set_words(&mut self, addr: u16, values: &[u16]) {
        for (a, v) in (addr..).zip(values) {
            self.words.insert(a, *v);
        }
    }

    /// Sets the integer value of the register at `addr` (its declared type).
    pub fn set_int(&mut self, addr: u16, value: i64) {
        if let Some(reg) = self.map.get(addr) {
            if let Ok(words) = encode_int(reg.ty, i128::from(value)) {
                self.set_words(addr, &words);
            }
        }
    }

    /// Sets the string register at `addr`.
    pub fn set_str(&mut self, addr: u16, text: &str) {
        if let Some(reg) = self.map.get(addr) {
            if let RegType::Str(len) = reg.ty {
                self.set_words(addr, &encode_str(len, text));
            }
        }
    }

    /// The raw words of the register at `addr`, for checks.
    pub fn words_of(&self, addr: u16) -> Option<Vec<u16>> {
        let reg = self.map.get(addr)?;
        self.read(addr, reg.ty.width()).ok()
    }
}

/// `spans` sorted, with overlapping and adjacent ones joined.
fn merged(spans: impl Iterator<Item = (u32, u32)>) -> Vec<(u32, u32)> {
    let mut sorted: Vec<(u32, u32)> = spans.collect();
    sorted.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(sorted.len());
    for (from, to) in sorted {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::meter_powerbrain::MAP as POWER_BRAIN_METER;

    #[test]
    fn refuses_addresses_outside_the_map_and_read_only_writes() {
        let mut bank = RegisterBank::new(&POWER_BRAIN_METER);
        assert_eq!(bank.read(8032, 1), Err(IllegalAddress(8032)));
        assert_eq!(bank.read(8030, 4), Err(IllegalAddress(8032)));
        assert_eq!(bank.write(8002, &[5]), Err(IllegalAddress(8002)));
        // A write that runs into a read-only register changes nothing.
        assert_eq!(bank.write(8047, &[1, 2, 3]), Err(IllegalAddress(8048)));
        assert_eq!(bank.read(8047, 1), Ok(vec![0]));
        assert_eq!(bank.write(8044, &[7, 230, 230, 230]), Ok(()));
        assert_eq!(bank.read(8044, 4), Ok(vec![7, 230, 230, 230]));
        assert_eq!(bank.read(65535, 2), Err(IllegalAddress(65535)));
    }

    #[test]
    fn a_device_answering_its_whole_block_reads_unlisted_words_as_zero() {
        let mut bank = RegisterBank::new(&POWER_BRAIN_METER).answering_all_of(8000..=8121);
        bank.set_int(8045, 230);
        bank.set_int(8057, 1);
        // 8048–8049 are no register of the meter: read along as 0.
        let words = bank.read(8045, 13).expect("inside the block");
        assert_eq!(words[..4], [230, 0, 0, 0]);
        assert_eq!(words[12], 1);
        assert_eq!(bank.read(8032, 8), Ok(vec![0; 8]));
        // Beyond the block, and writes to unlisted words, are still refused.
        assert_eq!(bank.read(8120, 3), Err(IllegalAddress(8122)));
        assert_eq!(bank.read(7999, 1), Err(IllegalAddress(7999)));
        assert_eq!(bank.write(8048, &[1]), Err(IllegalAddress(8048)));
    }

    proptest::proptest! {
        /// Checking spans answers as looking up every address would: the
        /// words, or a refusal at the first address nothing covers.
        #[test]
        fn a_read_answers_as_an_address_by_address_lookup(
            addr in 7990u16..8130,
            count in 1u16..=125,
            whole_block in proptest::bool::ANY,
        ) {
            let block = 8000..=8121;
            let mut bank = RegisterBank::new(&POWER_BRAIN_METER);
            if whole_block {
                bank = bank.answering_all_of(block.clone());
            }
            bank.set_int(8045, 231);
            bank.set_int(8062, -1);
            let readable = |a: u16| {
                POWER_BRAIN_METER.covering(a).is_some() || (whole_block && block.contains(&a))
            };
            let expected = match (addr..addr + count).find(|&a| !readable(a)) {
                Some(a) => Err(IllegalAddress(a)),
                None => Ok((addr..addr + count)
                    .map(|a| match a {
                        8045 => 231,
                        8062 | 8063 => 0xffff,
                        _ => 0,
                    })
                    .collect()),
            };
            proptest::prop_assert_eq!(bank.read(addr, count), expected);
        }
    }

    #[test]
    fn typed_setters_use_the_declared_width() {
        let mut bank = RegisterBank::new(&POWER_BRAIN_METER);
        bank.set_int(8062, -1);
        assert_eq!(bank.words_of(8062), Some(vec![0xffff, 0xffff]));
        bank.set_str(8016, "cFos");
        assert_eq!(bank.read(8016, 3), Ok(vec![0x6346, 0x6f73, 0]));
    }
}
