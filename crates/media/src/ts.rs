//! Extends wrapping media timestamps (32-bit RTP, 33-bit MPEG PTS/DTS) to a monotonic-ish i64.

/// Turns a stream of `bits`-wide wrapping timestamps into an `i64` timeline.
///
/// Each new value is taken as the nearest one (forward or backward, within half the wrap
/// period) to the previous value, so both wrap-around and small reordering work.
#[derive(Debug, Clone)]
pub struct TimestampUnwrapper {
    bits: u32,
    last: Option<i64>,
}

impl TimestampUnwrapper {
    /// `bits` is 32 for RTP timestamps and 33 for PES PTS/DTS.
    pub fn new(bits: u32) -> Self {
        assert!((1..=62).contains(&bits), "timestamp width out of range");
        Self { bits, last: None }
    }

    /// Returns the extended value of `raw` (only its low `bits` bits are used).
    pub fn unwrap(&mut self, raw: u64) -> i64 {
        let modulus = 1i64 << self.bits;
        let raw = (raw & (modulus as u64 - 1)) as i64;
        let extended = match self.last {
            None => raw,
            Some(last) => {
                let mut delta = (raw - last).rem_euclid(modulus);
                if delta >= modulus / 2 {
                    delta -= modulus;
                }
                last + delta
            }
        };
        self.last = Some(extended);
        extended
    }

    /// Forgets history; the next value starts a new timeline at its raw value.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_timestamp_wraps_forward() {
        let mut u = TimestampUnwrapper::new(32);
        assert_eq!(u.unwrap(0xFFFF_F000), 0xFFFF_F000);
        assert_eq!(u.unwrap(0x0000_0E10), 0x1_0000_0E10);
    }

    #[test]
    fn pts_33_bit_wraps_and_steps_back() {
        let mut u = TimestampUnwrapper::new(33);
        let top = (1u64 << 33) - 100;
        assert_eq!(u.unwrap(top), top as i64);
        assert_eq!(u.unwrap(3500), (1i64 << 33) + 3500);
        // A B-frame style step back across the wrap stays before it.
        assert_eq!(u.unwrap(top + 50), (top + 50) as i64);
    }
}
