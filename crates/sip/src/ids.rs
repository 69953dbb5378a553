//! Identifiers a UA mints: Via branches, From/To tags, Call-IDs. Randomness is an argument
//! (pass `rand::random()`), so tests are repeatable and this crate needs no RNG.

/// RFC 3261 magic cookie that starts every branch of an RFC 3261 client.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// A Via branch: `z9hG4bK` + 16 hex digits.
pub fn new_branch(random: u64) -> String {
    format!("{BRANCH_COOKIE}{random:016x}")
}

/// A From/To tag: 16 hex digits.
pub fn new_tag(random: u64) -> String {
    format!("{random:016x}")
}

/// A Call-ID: 32 hex digits, `@host` when a host is given.
pub fn new_call_id(random: u128, host: Option<&str>) -> String {
    match host {
        Some(h) => format!("{random:032x}@{h}"),
        None => format!("{random:032x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_expected_shape() {
        assert_eq!(new_branch(0xab), "z9hG4bK00000000000000ab");
        assert_eq!(new_tag(1), "0000000000000001");
        assert_eq!(
            new_call_id(2, Some("10.0.0.1")),
            "00000000000000000000000000000002@10.0.0.1"
        );
        assert_eq!(new_call_id(2, None).len(), 32);
    }
}
