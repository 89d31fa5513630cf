//! Register maps as data: which registers a device type has, their raw type,
//! access and unit. Each driver declares its own map; `cmd=modbus` reads
//! and checks writes against it, and the simulated devices answer by it.
//! Pure code, no I/O.

use crate::codec::RegType;

/// Who may read or write a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub fn writable(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// One register (or run of registers holding one value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register {
    pub name: &'static str,
    pub addr: u16,
    pub ty: RegType,
    pub access: Access,
    /// Unit and scale of the raw value, e.g. "0.1 A".
    pub unit: &'static str,
}

impl Register {
    /// The key of this register in a `read=all` answer, e.g. `8062d`.
    pub fn key(&self) -> String {
        format!("{}{}", self.addr, self.ty.suffix())
    }

    fn end(&self) -> u32 {
        u32::from(self.addr) + u32::from(self.ty.width())
    }
}

/// The registers of one device type, sorted by address, non-overlapping.
#[derive(Debug)]
pub struct RegisterMap {
    pub registers: &'static [Register],
}

/// A run of adjacent registers that can be read in one Modbus request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    pub start: u16,
    pub count: u16,
    pub registers: Vec<Register>,
}

/// The most registers one Modbus read may ask for.
pub const MAX_READ_COUNT: u16 = 125;

impl RegisterMap {
    /// The register that starts at `addr`.
    pub fn get(&self, addr: u16) -> Option<&Register> {
        self.registers.iter().find(|r| r.addr == addr)
    }

    /// The register that covers `addr` (starts at it or spans it).
    pub fn covering(&self, addr: u16) -> Option<&Register> {
        self.registers
            .iter()
            .find(|r| r.addr <= addr && u32::from(addr) < r.end())
    }

    /// Groups the whole map into as few reads as possible: adjacent registers
    /// share a request, gaps start a new one, no request exceeds 125 registers.
    pub fn read_blocks(&self) -> Vec<ReadBlock> {
        let mut blocks: Vec<ReadBlock> = Vec::new();
        for reg in self.registers {
            match blocks.last_mut() {
                Some(b)
                    if u32::from(b.start) + u32::from(b.count) == u32::from(reg.addr)
                        && b.count + reg.ty.width() <= MAX_READ_COUNT =>
                {
                    b.count += reg.ty.width();
                    b.registers.push(*reg);
                }
                _ => blocks.push(ReadBlock {
                    start: reg.addr,
                    count: reg.ty.width(),
                    registers: vec![*reg],
                }),
            }
        }
        blocks
    }
}

/// One register, for a map.
pub const fn reg(
    name: &'static str,
    addr: u16,
    ty: RegType,
    access: Access,
    unit: &'static str,
) -> Register {
    Register {
        name,
        addr,
        ty,
        access,
        unit,
    }
}

/// Two runs of registers as one map (shared registers and a device's own).
pub const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [Register; A],
    b: [Register; B],
) -> [Register; N] {
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::drivers::{evse_powerbrain, meter_powerbrain};

    #[test]
    fn read_blocks_join_adjacent_registers_only() {
        let map = &meter_powerbrain::MAP;
        let blocks = map.read_blocks();
        let spans: Vec<(u16, u16)> = blocks.iter().map(|b| (b.start, b.count)).collect();
        assert_eq!(spans, vec![(8000, 32), (8040, 8), (8050, 22), (8120, 2)]);
        let total: usize = blocks.iter().map(|b| b.registers.len()).sum();
        assert_eq!(total, map.registers.len());
    }

    #[test]
    fn covering_finds_the_register_spanning_an_address() {
        let map = &meter_powerbrain::MAP;
        assert_eq!(map.covering(8005).map(|r| r.name), Some("product_version"));
        assert_eq!(map.covering(8031).map(|r| r.name), Some("name"));
        assert_eq!(map.covering(8032), None);
        assert_eq!(
            evse_powerbrain::MAP.get(8093).map(|r| r.unit),
            Some("0.1 A")
        );
    }
}
