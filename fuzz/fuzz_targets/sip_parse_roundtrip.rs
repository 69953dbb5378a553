//! Parse arbitrary bytes as a SIP datagram; whatever is accepted must print and parse back to the
//! same message (Content-Length aside: the printer always writes its own). Typed accessors must not
//! panic either. Run: `cargo +nightly fuzz run sip_parse_roundtrip`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_sip::{HeaderName, MAX_MESSAGE_SIZE, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(mut first) = parse(data) else { return };
    let h = first.headers();
    let _ = (
        h.via(),
        h.from(),
        h.to(),
        h.contacts(),
        h.cseq(),
        h.authorization(),
        h.www_authenticate(),
    );
    let printed = first.to_bytes();
    if printed.len() > MAX_MESSAGE_SIZE {
        return; // compact header names grow when printed in full
    }
    let mut again = parse(&printed).expect("printed message must parse");
    assert_eq!(again.to_bytes(), printed, "printing must be stable");
    first.headers_mut().remove(HeaderName::ContentLength);
    again.headers_mut().remove(HeaderName::ContentLength);
    assert_eq!(first, again);
});
