//! SSRCs for live sessions: `0` + five digits of the SIP domain + a four-digit sequence.
//! A sequence is never handed out twice while a session holds it; the cursor moves on
//! round-robin and wraps, so a long uptime never runs out (only 9,999 sessions at once do).

use std::collections::HashSet;

use vigil_gb::sdp::{Ssrc, StreamKind};

/// Highest sequence: four digits. 0 is left out (`y=0000000000` confuses some devices).
const LAST: u16 = 9_999;

/// The live SSRCs in use and where the next search starts.
#[derive(Debug)]
pub struct SsrcPool {
    domain: String,
    in_use: HashSet<u16>,
    next: u16,
}

impl SsrcPool {
    /// SSRCs for `domain` (the 10-digit SIP domain or the server ID; its digits 4-8 are
    /// used). A domain without them gets `00000`.
    pub fn new(domain: &str) -> Self {
        let domain = if Ssrc::new(StreamKind::Live, domain, 1).is_some() {
            domain.to_owned()
        } else {
            "0000000000".to_owned()
        };
        Self {
            domain,
            in_use: HashSet::new(),
            next: 1,
        }
    }

    /// The next free SSRC, or `None` when all 9,999 are held.
    pub fn allocate(&mut self) -> Option<Ssrc> {
        for _ in 0..LAST {
            let seq = self.next;
            self.next = if seq >= LAST { 1 } else { seq + 1 };
            if self.in_use.insert(seq) {
                return Ssrc::new(StreamKind::Live, &self.domain, seq);
            }
        }
        None
    }

    /// Gives `ssrc` back (a no-op for one not held).
    pub fn release(&mut self, ssrc: Ssrc) {
        self.in_use.remove(&ssrc.sequence());
    }

    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_ssrcs_carry_the_domain_and_a_sequence() {
        let mut p = SsrcPool::new("3402000000");
        let a = p.allocate().unwrap();
        assert_eq!(a.to_string(), "0200000001");
        assert!(a.is_live());
        assert_eq!(p.allocate().unwrap().to_string(), "0200000002");
        assert_eq!(p.in_use(), 2);
    }

    #[test]
    fn a_released_ssrc_is_reused_only_after_the_cursor_wraps() {
        let mut p = SsrcPool::new("3402000000");
        let first = p.allocate().unwrap();
        p.release(first);
        assert_ne!(p.allocate().unwrap(), first);
    }

    #[test]
    fn the_sequence_wraps_and_skips_ssrcs_still_held() {
        let mut p = SsrcPool::new("3402000000");
        let held = p.allocate().unwrap(); // sequence 1, held throughout
        for _ in 0..20_000 {
            let s = p.allocate().unwrap();
            assert_ne!(s, held, "a held SSRC is never handed out again");
            assert!((1..=LAST).contains(&s.sequence()));
            p.release(s);
        }
        assert_eq!(p.in_use(), 1);
    }

    #[test]
    fn exhaustion_is_reported_and_recovers() {
        let mut p = SsrcPool::new("3402000000");
        let all: Vec<Ssrc> = (0..LAST).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(p.allocate(), None);
        p.release(all[1234]);
        assert_eq!(p.allocate(), Some(all[1234]));
    }

    #[test]
    fn a_domain_without_digits_still_gives_live_ssrcs() {
        let mut p = SsrcPool::new("example.org");
        assert_eq!(p.allocate().unwrap().to_string(), "0000000001");
    }
}
