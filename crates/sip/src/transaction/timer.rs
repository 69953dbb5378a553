//! One ordered table of every transaction's deadlines, so the next wake-up is the first entry
//! and cancelling is exact (no stale heap entries, no task per timer).

use std::collections::BTreeSet;
use std::time::Instant;

/// The timers one transaction can have armed at once. Which RFC timer a slot stands for depends
/// on the transaction's kind and state (see `machine.rs`). Declared in firing order for timers
/// due at the same instant: a timeout beats a last, useless retransmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Slot {
    /// B, C, F, H, and the wait for the application's final response.
    Timeout = 0,
    /// D, I, J, K, L, M: how long a finished transaction lingers to absorb retransmissions.
    Linger = 1,
    /// A, E, G, and the 2xx retransmission of a server INVITE.
    Retransmit = 2,
    /// When to send 100 Trying for an unanswered INVITE.
    Trying = 3,
}

pub(super) const SLOTS: usize = 4;

/// The armed deadlines of one transaction, indexed by [`Slot`].
pub(super) type Armed = [Option<Instant>; SLOTS];

#[derive(Debug, Default)]
pub(super) struct TimerTable {
    queue: BTreeSet<(Instant, u64, Slot)>,
}

impl TimerTable {
    pub(super) fn set(&mut self, id: u64, armed: &mut Armed, slot: Slot, at: Instant) {
        self.cancel(id, armed, slot);
        armed[slot as usize] = Some(at);
        self.queue.insert((at, id, slot));
    }

    pub(super) fn cancel(&mut self, id: u64, armed: &mut Armed, slot: Slot) {
        if let Some(old) = armed[slot as usize].take() {
            self.queue.remove(&(old, id, slot));
        }
    }

    pub(super) fn cancel_all(&mut self, id: u64, armed: &mut Armed) {
        for slot in [Slot::Timeout, Slot::Linger, Slot::Retransmit, Slot::Trying] {
            self.cancel(id, armed, slot);
        }
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.queue.first().map(|e| e.0)
    }

    /// Every entry due at `now`, in deadline order. Timers armed while handling these wait for
    /// the next call, so a zero interval cannot spin.
    pub(super) fn due(&self, now: Instant) -> Vec<(Instant, u64, Slot)> {
        self.queue
            .range(..=(now, u64::MAX, Slot::Trying))
            .copied()
            .collect()
    }
}
