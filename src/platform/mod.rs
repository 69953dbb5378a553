//! The domain: device registry and online state, events; later catalog sync and live sessions.

pub mod events;

/// Unix time in milliseconds, the unit every stored and published time uses.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
