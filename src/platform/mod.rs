//! The domain: device registry and online state, events; later catalog sync and live sessions.

pub mod events;

/// Unix time in milliseconds, the unit every stored and published time uses.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub mod catalog;
pub mod endpoint;
pub mod live;
pub mod media;
pub mod registry;
pub mod webhooks;

static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

/// Records the local UTC offset. Call before any thread is started (the `time` crate can
/// only read it safely then); without it, `Date` headers are in UTC.
pub fn init_local_offset() {
    let off = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(off);
}

/// The GB28181 `Date` header value, local time: `2026-11-26T10:15:30.123`. Devices set
/// their clocks from it, and they expect the platform's wall-clock time, not UTC.
pub fn gb_date(unix_ms: i64) -> String {
    let off = LOCAL_OFFSET.get().copied().unwrap_or(time::UtcOffset::UTC);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(unix_ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(off);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn gb_date_has_the_gb28181_shape() {
        // 2026-11-26T10:15:30.123Z; LOCAL_OFFSET is not set in tests, so UTC.
        assert_eq!(super::gb_date(1_795_688_130_123), "2026-11-26T10:15:30.123");
    }
}
