//! Feed arbitrary bytes to the TCP framer whole, then split at a fuzzer-chosen offset, then one
//! byte at a time: the frames (messages, keep-alives, errors) must be the same every time.
//! Run: `cargo +nightly fuzz run sip_stream_split`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_sip::stream::{Frame, StreamFramer};

fn frames(chunks: &mut dyn Iterator<Item = &[u8]>) -> Vec<String> {
    let mut f = StreamFramer::new();
    let mut out = Vec::new();
    for chunk in chunks {
        f.push(chunk);
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

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let whole = frames(&mut std::iter::once(data));
    let at = usize::from(cut) * data.len() / 255;
    let (a, b) = data.split_at(at.min(data.len()));
    assert_eq!(frames(&mut [a, b].into_iter()), whole, "split at {at}");
    if data.len() <= 4096 {
        assert_eq!(frames(&mut data.chunks(1)), whole, "byte by byte");
    }
});
