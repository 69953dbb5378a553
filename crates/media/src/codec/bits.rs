//! Bit reader for RBSP syntax (fixed-width fields and exp-Golomb codes).

/// Ran off the end of a parameter set, or a field had an impossible value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BitsError(pub &'static str);

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`) from a NAL unit.
pub(crate) fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

const END: BitsError = BitsError("parameter set ends early");

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, BitsError> {
        let byte = self.data.get(self.pos / 8).ok_or(END)?;
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, BitsError> {
        self.bit()
    }

    /// Reads `n` ≤ 32 bits, most significant first.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, BitsError> {
        debug_assert!(n <= 32);
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), BitsError> {
        if self.pos + n > self.data.len() * 8 {
            return Err(END);
        }
        self.pos += n;
        Ok(())
    }

    /// Unsigned exp-Golomb; values beyond 32 bits are rejected.
    pub(crate) fn ue(&mut self) -> Result<u32, BitsError> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(BitsError("exp-Golomb code too long"));
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// Signed exp-Golomb.
    pub(crate) fn se(&mut self) -> Result<i32, BitsError> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 → ue 0,1,2,3,4 ; then se from 010 (1) and 011 (-1)
        let data = [0b1010_0110, 0b0100_0010, 0b1010_0110];
        let mut r = BitReader::new(&data);
        let ues: Vec<u32> = (0..5).map(|_| r.ue().unwrap()).collect();
        assert_eq!(ues, vec![0, 1, 2, 3, 4]);
        assert_eq!(r.se().unwrap(), 1);
        assert_eq!(r.se().unwrap(), -1);
        assert_eq!(r.ue(), Err(END));
    }

    #[test]
    fn rbsp_removes_emulation_prevention() {
        assert_eq!(
            rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0x67, 0, 0, 1, 0, 0, 0, 3]
        );
    }
}
