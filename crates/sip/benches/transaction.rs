//! The server transaction layer on a registrar's hot path: a REGISTER in, its response out,
//! the completed transaction kept for Timer J. Measures the time per REGISTER through the
//! layer, and the heap a completed transaction holds (live bytes counted by a global
//! allocator over 10,000 transactions). Run: `cargo bench -p vigil-sip --bench transaction`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_sip::transaction::{Config, TransactionLayer, TxEvent};
use vigil_sip::{Bytes, Response, parse_bytes};

/// Tracks the bytes currently allocated through the global allocator.
struct Live;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only adds a counter.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

/// A REGISTER with Authorization as a camera sends it; `n` makes the branch, tag and
/// Call-ID unique.
fn register(n: u64) -> Bytes {
    Bytes::copy_from_slice(
        format!(
        "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport=5060;received=192.168.1.64;branch=z9hG4bK{n}\r\n\
From: <sip:34020000001320000001@3402000000>;tag={n}\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: {n}\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Authorization: Digest username=\"34020000001320000001\", realm=\"3402000000\", \
nonce=\"0000019abf2e3c4b9f1c2a3b4c5d6e7f8091a2b3c4d5e6f7\", uri=\"sip:34020000002000000001@3402000000\", \
response=\"5ab4f4e5c5ae1d8e0e8c4f4c7a2f0d11\", algorithm=MD5\r\n\
Max-Forwards: 70\r\n\
User-Agent: IP Camera\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
}

/// One REGISTER through the layer: in, answered 200 with the headers a registrar adds, out.
fn one(layer: &mut TransactionLayer<u32>, now: Instant, datagram: Bytes) {
    let msg = parse_bytes(datagram).expect("valid REGISTER");
    layer.handle_message(now, msg, 1, false);
    while let Some(ev) = layer.poll_event() {
        if let TxEvent::NewRequest { key, request, .. } = ev {
            let mut ok = Response::for_request(&request, 200, "OK").with_to_tag("a1b2c3");
            ok.headers
                .push("Contact", "<sip:34020000001320000001@192.168.1.64:5060>");
            ok.headers.push("Expires", "3600");
            ok.headers.push("Date", "2026-11-26T12:00:00.000");
            layer.send_response(now, key, ok).expect("live transaction");
        }
    }
    while let Some(t) = layer.poll_transmit() {
        black_box(t);
    }
}

fn layer() -> TransactionLayer<u32> {
    TransactionLayer::with_config(Config {
        max_server_transactions: usize::MAX,
        ..Config::default()
    })
}

/// Heap held per completed transaction. Datagrams are made first; each one's buffer is
/// counted as held by the transaction unless the layer lets it go.
fn held_per_transaction() -> isize {
    const N: u64 = 10_000;
    let datagrams: Vec<Bytes> = (0..N).map(register).collect();
    let datagram_bytes: usize = datagrams.iter().map(Bytes::len).sum();
    let now = Instant::now();
    let mut layer = layer();
    let before = LIVE.load(Ordering::Relaxed);
    for d in datagrams {
        one(&mut layer, now, d);
    }
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(layer.server_len(), N as usize, "every transaction lingers");
    // The Vec of datagrams itself was freed too.
    let freed = datagram_bytes + N as usize * std::mem::size_of::<Bytes>();
    (after - before + freed as isize) / N as isize
}

fn bench(c: &mut Criterion) {
    let held = held_per_transaction();
    println!("completed REGISTER server transaction (UDP, Timer J): {held} bytes held each");

    let mut g = c.benchmark_group("server transaction");
    g.throughput(Throughput::Elements(1));
    g.bench_function("REGISTER in, 200 out, kept for Timer J", |b| {
        let mut layer = layer();
        let start = Instant::now();
        let mut n = 0u64;
        b.iter_batched(
            || {
                n += 1;
                (n, register(n))
            },
            |(n, d)| {
                // Time moves on so lingering transactions end and the table stays steady.
                let now = start + Duration::from_micros(n * 100);
                layer.handle_timeout(now);
                one(&mut layer, now, d);
            },
            criterion::BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
