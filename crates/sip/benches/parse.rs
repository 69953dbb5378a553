//! Parse throughput and allocations per message for typical GB28181 traffic: a REGISTER with
//! Authorization and a MESSAGE carrying a MANSCDP keepalive. Allocations are counted with a
//! counting global allocator. Run: `cargo bench -p vigil-sip --bench parse`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_sip::digest::{Credential, DigestServer};
use vigil_sip::stream::StreamFramer;
use vigil_sip::{Bytes, Message, parse, parse_bytes};

/// Counts every allocation (and reallocation) made through the global allocator.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REGISTER: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1491280923\r\n\
From: <sip:34020000001320000001@3402000000>;tag=1876443237\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1390289454\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Authorization: Digest username=\"34020000001320000001\", realm=\"3402000000\", nonce=\"0000019abf2e3c4b9f1c2a3b4c5d6e7f8091a2b3c4d5e6f7\", uri=\"sip:34020000002000000001@3402000000\", response=\"5ab4f4e5c5ae1d8e0e8c4f4c7a2f0d11\", algorithm=MD5\r\n\
Max-Forwards: 70\r\n\
User-Agent: IP Camera\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

const KEEPALIVE_BODY: &str = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>43</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n";

fn keepalive() -> Vec<u8> {
    let mut m = format!(
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1072381811\r\n\
From: <sip:34020000001320000001@3402000000>;tag=1297829421\r\n\
To: <sip:34020000002000000001@3402000000>\r\n\
Call-ID: 1837382013\r\n\
CSeq: 20 MESSAGE\r\n\
Content-Type: Application/MANSCDP+xml\r\n\
Max-Forwards: 70\r\n\
User-Agent: IP Camera\r\n\
Content-Length: {}\r\n\r\n",
        KEEPALIVE_BODY.len()
    )
    .into_bytes();
    m.extend_from_slice(KEEPALIVE_BODY.as_bytes());
    m
}

/// Allocations made by one call of `f` (after a warm-up call).
fn allocs<T>(mut f: impl FnMut() -> T) -> usize {
    drop(black_box(f()));
    let before = ALLOCS.load(Ordering::Relaxed);
    let out = black_box(f());
    let n = ALLOCS.load(Ordering::Relaxed) - before;
    drop(out);
    n
}

fn report_allocations() {
    let ka = keepalive();
    let reg_bytes = Bytes::from_static(REGISTER);
    let Ok(Message::Request(req)) = parse(REGISTER) else {
        panic!("fixture must parse")
    };
    println!("allocations per message:");
    println!(
        "  parse(REGISTER)                      {}",
        allocs(|| parse(REGISTER).unwrap())
    );
    println!(
        "  parse_bytes(REGISTER)                {}",
        allocs(|| parse_bytes(reg_bytes.clone()).unwrap())
    );
    println!(
        "  parse(MESSAGE keepalive)             {}",
        allocs(|| parse(&ka).unwrap())
    );
    println!(
        "  REGISTER typed: top_via+from+cseq+authorization {}",
        allocs(|| {
            let h = &req.headers;
            (
                h.top_via().unwrap(),
                h.from().unwrap(),
                h.cseq().unwrap(),
                h.authorization().unwrap(),
            )
        })
    );
    println!(
        "  to_bytes(REGISTER)                   {}",
        allocs(|| req.to_bytes())
    );
}

fn benches(c: &mut Criterion) {
    report_allocations();
    let ka = keepalive();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("register_with_authorization", |b| {
        b.iter(|| parse(black_box(REGISTER)).unwrap())
    });
    let reg_bytes = Bytes::from_static(REGISTER);
    g.bench_function("register_parse_bytes_no_copy", |b| {
        b.iter(|| parse_bytes(black_box(reg_bytes.clone())).unwrap())
    });
    g.bench_function("message_keepalive", |b| {
        b.iter(|| parse(black_box(&ka)).unwrap())
    });
    g.bench_function("register_parse_and_typed_access", |b| {
        b.iter(|| {
            let Ok(Message::Request(r)) = parse(black_box(REGISTER)) else {
                unreachable!()
            };
            let h = &r.headers;
            black_box((
                h.top_via().unwrap(),
                h.from().unwrap(),
                h.cseq().unwrap(),
                h.authorization().unwrap(),
            ));
        })
    });
    g.finish();

    let Ok(Message::Request(req)) = parse(REGISTER) else {
        panic!()
    };
    let mut g = c.benchmark_group("other");
    g.throughput(Throughput::Elements(1));
    g.bench_function("print_register", |b| b.iter(|| black_box(&req).to_bytes()));
    let mut stream = Vec::new();
    for _ in 0..10 {
        stream.extend_from_slice(REGISTER);
        stream.extend_from_slice(&ka);
    }
    g.throughput(Throughput::Elements(20));
    g.bench_function("framer_20_messages_in_1400_byte_reads", |b| {
        b.iter(|| {
            let mut f = StreamFramer::new();
            let mut n = 0;
            for chunk in stream.chunks(1400) {
                f.push(chunk);
                while let Some(fr) = f.next() {
                    black_box(fr.unwrap());
                    n += 1;
                }
            }
            assert_eq!(n, 20);
        })
    });
    g.throughput(Throughput::Elements(1));
    // Without qop, so verification can repeat without tripping replay detection.
    let mut server =
        DigestServer::new(b"bench secret", "3402000000", Duration::from_secs(3600)).with_qop(false);
    let challenge = vigil_sip::Challenge::parse(&server.challenge(1_000, false)).unwrap();
    let value = vigil_sip::digest::authorize(
        &challenge,
        "REGISTER",
        "sip:34020000002000000001@3402000000",
        "34020000001320000001",
        &vigil_sip::digest::Secret::new("12345678"),
        "0a4f113b",
        1,
    )
    .unwrap();
    let auth = vigil_sip::Authorization::parse(&value).unwrap();
    g.bench_function("digest_verify_md5_no_qop", |b| {
        b.iter(|| {
            server.verify(
                black_box(&auth),
                "REGISTER",
                Credential::Password("12345678"),
                1_000,
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! { name = group; config = config(); targets = benches }
criterion_main!(group);
