//! Property tests run in CI: the parser never panics, whatever it accepts prints and parses back
//! to the same message, and the stream framer gives the same frames however the stream is cut.
//! The cargo-fuzz targets in /fuzz check the same properties on coverage-guided input.

use proptest::prelude::*;
use vigil_sip::stream::{Frame, StreamFramer};
use vigil_sip::{HeaderName, Message, parse};

const SEED: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1491280923\r\n\
From: <sip:34020000001320000001@3402000000>;tag=1876443237\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1390289454\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Authorization: Digest username=\"34020000001320000001\", realm=\"3402000000\", nonce=\"abc\", uri=\"sip:34020000002000000001@3402000000\", response=\"00112233445566778899aabbccddeeff\", algorithm=MD5\r\n\
Max-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 4\r\n\r\nbody";

/// Parse, print, parse again and compare (Content-Length aside: the printer always writes its own).
fn check_round_trip(input: &[u8]) -> Result<(), TestCaseError> {
    let Ok(mut first) = parse(input) else {
        return Ok(());
    };
    // Exercise the typed accessors too: they must not panic on whatever got through.
    let h = first.headers();
    let _ = (
        h.via(),
        h.from(),
        h.to(),
        h.contacts(),
        h.cseq(),
        h.authorization(),
        h.content_type(),
    );
    let printed = first.to_bytes();
    if printed.len() > vigil_sip::MAX_MESSAGE_SIZE {
        return Ok(()); // compact names grow when printed long; nothing to compare
    }
    let mut again = parse(&printed).map_err(|e| TestCaseError::fail(format!("reparse: {e}")))?;
    prop_assert_eq!(again.to_bytes(), printed.clone(), "printing is not stable");
    first.headers_mut().remove(HeaderName::ContentLength);
    again.headers_mut().remove(HeaderName::ContentLength);
    prop_assert_eq!(first, again);
    Ok(())
}

fn frames(data: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut f = StreamFramer::new();
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        let c = c.clamp(prev, data.len());
        f.push(&data[prev..c]);
        prev = c;
        while let Some(r) = f.next() {
            out.push(match r {
                Ok(Frame::Message(m)) => format!("{m:?}"),
                Ok(Frame::KeepAlive(k)) => format!("{k:?}"),
                Err(e) => format!("error {e}"),
            });
        }
    }
    out
}

/// A token the grammar allows, for header names and values.
fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

/// A well-formed request or response built from random pieces.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("REGISTER".to_owned()),
        Just("MESSAGE".to_owned()),
        Just("INVITE".to_owned()),
        "[A-Z]{1,10}",
    ];
    (
        any::<bool>(),
        method,
        "[0-9]{1,20}",
        prop_oneof![
            Just("3402000000".to_owned()),
            Just("192.168.1.64".to_owned()),
            Just("[2001:db8::1]".to_owned())
        ],
        proptest::option::of(1u16..),
        proptest::collection::vec((word(), "[ -~]{0,30}"), 0..6),
        proptest::collection::vec(any::<u8>(), 0..64),
        100u16..700,
    )
        .prop_map(|(is_req, method, user, host, port, extra, body, code)| {
            let mut s = String::new();
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            if is_req {
                s += &format!("{method} sip:{user}@{host}{port} SIP/2.0\r\n");
            } else {
                s += &format!("SIP/2.0 {code} Something\r\n");
            }
            s += &format!("Via: SIP/2.0/UDP {host}{port};rport;branch=z9hG4bK{user}\r\n");
            s += &format!("From: <sip:{user}@{host}>;tag={user}\r\nTo: <sip:{user}@{host}>\r\n");
            s += &format!("Call-ID: {user}\r\nCSeq: 7 {method}\r\n");
            for (name, value) in &extra {
                s += &format!("X-{name}: {value}\r\n");
            }
            s += &format!("Content-Length: {}\r\n\r\n", body.len());
            let mut v = s.into_bytes();
            v.extend_from_slice(&body);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_round_trip_if_accepted(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        check_round_trip(&bytes)?;
    }

    #[test]
    fn mutated_register_round_trips_if_accepted(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut m = SEED.to_vec();
        for (at, byte, op) in edits {
            let i = at.index(m.len() + 1);
            match op {
                0 if i < m.len() => m[i] = byte,
                1 => m.insert(i, byte),
                _ if i < m.len() => { m.remove(i); }
                _ => {}
            }
        }
        check_round_trip(&m)?;
    }

    #[test]
    fn generated_messages_parse_and_round_trip(m in message()) {
        let parsed = parse(&m);
        prop_assert!(parsed.is_ok(), "{:?} for {}", parsed.err(), String::from_utf8_lossy(&m));
        check_round_trip(&m)?;
    }

    #[test]
    fn framer_output_does_not_depend_on_the_cuts(
        parts in proptest::collection::vec(prop_oneof![message(), Just(b"\r\n\r\n".to_vec()), Just(b"\r\n".to_vec())], 1..6),
        mut cuts in proptest::collection::vec(0usize..2048, 0..8),
    ) {
        let data: Vec<u8> = parts.concat();
        cuts.sort_unstable();
        prop_assert_eq!(frames(&data, &cuts), frames(&data, &[]));
    }
}

#[test]
fn seed_message_round_trips() {
    check_round_trip(SEED).unwrap();
    assert!(matches!(parse(SEED), Ok(Message::Request(_))));
}
