//! Which IDs a simulation uses: device IDs from a prefix and a serial, channel IDs (type
//! 131) derived from them so that every channel of every device is distinct.

use vigil_gb::DeviceId;

/// Device and channel numbering of one simulation.
#[derive(Debug, Clone)]
pub struct IdPlan {
    prefix: String,
    channel_prefix: String,
    first_serial: u64,
    channels: usize,
}

/// Why a prefix or count cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "id prefix {0:?} must be 13 to 19 digits: the 10-digit domain, the 3-digit type, then any fixed digits"
    )]
    BadPrefix(String),
    #[error(
        "{devices} devices x {channels} channels from serial {first} do not fit in the {width} digits prefix {prefix:?} leaves"
    )]
    TooMany {
        prefix: String,
        devices: usize,
        channels: usize,
        first: u64,
        width: usize,
    },
}

impl IdPlan {
    /// Device `i` gets `prefix` + serial `first_serial + i` zero-padded to 20 digits; its
    /// channel `j` gets the same with type 131 and serial `(first_serial + i - 1) * channels + j + 1`.
    pub fn new(
        prefix: &str,
        first_serial: u64,
        devices: usize,
        channels: usize,
    ) -> Result<IdPlan, PlanError> {
        if !(13..=19).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PlanError::BadPrefix(prefix.to_owned()));
        }
        let width = 20 - prefix.len();
        let limit = 10u64.pow(width as u32);
        let last_device = first_serial + devices.max(1) as u64 - 1;
        let last_channel = last_device.saturating_mul(channels.max(1) as u64);
        if first_serial == 0 || last_device >= limit || last_channel >= limit {
            return Err(PlanError::TooMany {
                prefix: prefix.to_owned(),
                devices,
                channels,
                first: first_serial,
                width,
            });
        }
        Ok(IdPlan {
            prefix: prefix.to_owned(),
            channel_prefix: format!("{}131{}", &prefix[..10], &prefix[13..]),
            first_serial,
            channels,
        })
    }

    /// The ID of device `i` (0-based).
    pub fn device(&self, i: usize) -> DeviceId {
        make(&self.prefix, self.first_serial + i as u64)
    }

    /// The ID of channel `j` of device `i`.
    pub fn channel(&self, i: usize, j: usize) -> DeviceId {
        let serial = (self.first_serial + i as u64 - 1) * self.channels as u64 + j as u64 + 1;
        make(&self.channel_prefix, serial)
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
}

fn make(prefix: &str, serial: u64) -> DeviceId {
    let width = 20 - prefix.len();
    let s = format!("{prefix}{serial:0width$}");
    // `new` checked that every serial fits and the prefix is digits.
    DeviceId::from_bytes(s.as_bytes()).unwrap_or_else(|_| unreachable_id())
}

#[cold]
fn unreachable_id() -> DeviceId {
    // Only reachable if `IdPlan::new`'s checks were wrong; a visible bogus ID beats a panic
    // inside a driver that serves thousands of devices.
    DeviceId::from_bytes(b"00000000000000000000").expect("20 digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefix_gives_type_132_devices_and_131_channels() {
        let p = IdPlan::new("3402000000132", 1, 10_000, 4).unwrap();
        assert_eq!(p.device(0).as_str(), "34020000001320000001");
        assert_eq!(p.device(9_999).as_str(), "34020000001320010000");
        assert_eq!(p.channel(0, 0).as_str(), "34020000001310000001");
        assert_eq!(p.channel(0, 3).as_str(), "34020000001310000004");
        assert_eq!(p.channel(1, 0).as_str(), "34020000001310000005");
        assert_eq!(p.device(0).type_code(), 132);
        assert_eq!(p.channel(5, 2).type_code(), 131);
    }

    #[test]
    fn longer_prefixes_keep_their_fixed_digits_in_channel_ids() {
        let p = IdPlan::new("340200000013277", 1, 3, 2).unwrap();
        assert_eq!(p.device(2).as_str(), "34020000001327700003");
        assert_eq!(p.channel(2, 1).as_str(), "34020000001317700006");
    }

    #[test]
    fn bad_prefixes_and_overflow_are_refused() {
        assert!(matches!(
            IdPlan::new("34020000", 1, 1, 1),
            Err(PlanError::BadPrefix(_))
        ));
        assert!(matches!(
            IdPlan::new("34020000001x2", 1, 1, 1),
            Err(PlanError::BadPrefix(_))
        ));
        assert!(IdPlan::new("3402000000132000", 1, 9_999, 1).is_ok());
        assert!(matches!(
            IdPlan::new("3402000000132000", 1, 10_000, 1),
            Err(PlanError::TooMany { .. })
        ));
        assert!(matches!(
            IdPlan::new("3402000000132000", 1, 5_000, 2),
            Err(PlanError::TooMany { .. })
        ));
    }
}
