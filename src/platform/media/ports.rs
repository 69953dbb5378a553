//! RTP port allocation over `media.rtp_ports`: a port handed out is bound (UDP and TCP) until
//! its [`RtpPort`] is dropped, so it is never handed out twice, and a port another process
//! holds is skipped instead of failing later. Ports go out in pairs, as RFC 3550 has it: an
//! even RTP port and the next one for RTCP (UDP), so a range of N ports serves N/2 sessions
//! (the last port of an odd-sized range goes out alone, without RTCP).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// No port of the range is free.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("all {capacity} RTP port pairs in {first}..={last} are in use")]
pub struct PortsExhausted {
    pub first: u16,
    pub last: u16,
    pub capacity: usize,
}

/// The allocator; clones share one pool.
#[derive(Debug, Clone)]
pub struct RtpPorts {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    bind_ip: IpAddr,
    first: u16,
    last: u16,
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    in_use: Vec<bool>,
    used: usize,
    /// Round-robin cursor: a port just released is the last to be reused, so late packets of
    /// an ended stream do not land in a new session.
    cursor: usize,
}

impl RtpPorts {
    /// Ports `range[0]..=range[1]` (swapped if given backwards) on `bind_ip`.
    pub fn new(bind_ip: IpAddr, range: [u16; 2]) -> Self {
        let (first, last) = (range[0].min(range[1]), range[0].max(range[1]));
        let n = (usize::from(last - first) + 2) / 2;
        Self {
            inner: Arc::new(Pool {
                bind_ip,
                first,
                last,
                state: Mutex::new(PoolState {
                    in_use: vec![false; n],
                    used: 0,
                    cursor: 0,
                }),
            }),
        }
    }

    /// From the `[media]` section.
    pub fn from_config(media: &crate::config::MediaConfig) -> Self {
        Self::new(media.bind_ip, media.rtp_ports)
    }

    /// Number of sessions the range serves at once (ports in pairs).
    pub fn capacity(&self) -> usize {
        self.inner.slots()
    }

    /// Ports currently handed out.
    pub fn in_use(&self) -> usize {
        self.inner.lock().used
    }

    /// Hands out the next free port, bound for UDP and listening for TCP on `bind_ip`, so it
    /// is ready for any transport the SDP offer names. Ports that another process holds are
    /// skipped.
    /// The RTCP port (RTP port + 1, UDP) is bound with it when the range has it.
    pub fn allocate(&self) -> Result<RtpPort, PortsExhausted> {
        let cap = self.capacity();
        let mut st = self.inner.lock();
        for _ in 0..cap {
            let i = st.cursor;
            st.cursor = (st.cursor + 1) % cap;
            if st.in_use[i] {
                continue;
            }
            let port = self.inner.first + 2 * i as u16;
            let addr = SocketAddr::new(self.inner.bind_ip, port);
            let Ok(udp) = bind_udp(addr) else { continue };
            let Ok(tcp) = bind_tcp(addr) else { continue };
            let rtcp = if port < self.inner.last {
                match bind_udp(SocketAddr::new(self.inner.bind_ip, port + 1)) {
                    Ok(s) => Some(s),
                    Err(_) => continue,
                }
            } else {
                None
            };
            st.in_use[i] = true;
            st.used += 1;
            return Ok(RtpPort {
                port,
                bind_ip: self.inner.bind_ip,
                udp: Some(udp),
                tcp: Some(tcp),
                rtcp,
                pool: self.inner.clone(),
            });
        }
        Err(PortsExhausted {
            first: self.inner.first,
            last: self.inner.last,
            capacity: cap,
        })
    }
}

impl Pool {
    /// Pairs in the range, plus a lone last port.
    fn slots(&self) -> usize {
        (usize::from(self.last - self.first) + 2) / 2
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One allocated port with its bound sockets; dropping it frees the port.
#[derive(Debug)]
pub struct RtpPort {
    port: u16,
    bind_ip: IpAddr,
    udp: Option<std::net::UdpSocket>,
    tcp: Option<std::net::TcpListener>,
    /// Port + 1; kept bound while the port is held (no ICMP unreachable for RTCP).
    rtcp: Option<std::net::UdpSocket>,
    pool: Arc<Pool>,
}

impl RtpPort {
    /// The port number to put into the SDP offer.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_ip, self.port)
    }

    /// The bound UDP socket (once; `None` after it was taken).
    pub(crate) fn take_udp(&mut self) -> Option<std::net::UdpSocket> {
        self.udp.take()
    }

    /// The listening TCP socket (once).
    pub(crate) fn take_tcp(&mut self) -> Option<std::net::TcpListener> {
        self.tcp.take()
    }

    /// The RTCP socket on port + 1 (once; `None` for the lone last port of a range).
    pub(crate) fn take_rtcp(&mut self) -> Option<std::net::UdpSocket> {
        self.rtcp.take()
    }
}

impl Drop for RtpPort {
    fn drop(&mut self) {
        let i = usize::from(self.port - self.pool.first) / 2;
        let mut st = self.pool.lock();
        if st.in_use[i] {
            st.in_use[i] = false;
            st.used -= 1;
        }
    }
}

fn domain(addr: SocketAddr) -> socket2::Domain {
    if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    }
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = socket2::Socket::new(
        domain(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // A 2 Mbit/s stream bursts a key frame of ~100 packets at once; the kernel may cap this
    // (net.core.rmem_max), which is fine.
    let _ = s.set_recv_buffer_size(1 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = socket2::Socket::new(
        domain(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // A listener of an ended session may leave connections in TIME_WAIT on this port.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(4)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn localhost() -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    /// A free range of `n` ports: probe from a spot derived from the process id.
    fn range(n: u16) -> [u16; 2] {
        let base = 20_000 + (std::process::id() % 2000) as u16 * 10;
        [base, base + n - 1]
    }

    #[test]
    fn ports_are_unique_until_dropped_and_then_reused() {
        let ports = RtpPorts::new(localhost(), range(4));
        let mut held = Vec::new();
        while let Ok(p) = ports.allocate() {
            held.push(p);
        }
        assert!(!held.is_empty(), "some port of the range is free");
        let mut numbers: Vec<u16> = held.iter().map(RtpPort::port).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), held.len(), "no port handed out twice");
        assert_eq!(ports.in_use(), held.len());
        let freed = held.remove(0).port();
        assert_eq!(ports.in_use(), held.len());
        let again = ports.allocate().unwrap();
        assert_eq!(again.port(), freed);
    }

    #[test]
    fn a_port_held_elsewhere_is_skipped() {
        let r = range(2);
        let other = std::net::UdpSocket::bind((localhost(), r[0] + 100)).unwrap();
        let busy = other.local_addr().unwrap().port();
        // The pair (busy - 1, busy) cannot have its RTCP port; (busy + 1, busy + 2) can.
        let ports = RtpPorts::new(localhost(), [busy - 1, busy + 2]);
        assert_eq!(ports.capacity(), 2);
        match ports.allocate() {
            Ok(p) => assert_eq!(p.port(), busy + 1),
            Err(e) => assert_eq!(e.capacity, 2),
        }
        assert!(matches!(
            RtpPorts::new(localhost(), [busy, busy]).allocate(),
            Err(PortsExhausted { capacity: 1, .. })
        ));
    }

    #[test]
    fn allocated_port_has_bound_sockets_and_rtcp_on_the_next_port() {
        let ports = RtpPorts::new(localhost(), range(4));
        assert_eq!(ports.capacity(), 2);
        let mut p = ports.allocate().unwrap();
        let udp = p.take_udp().unwrap();
        assert_eq!(udp.local_addr().unwrap().port(), p.port());
        assert!(p.take_udp().is_none());
        let tcp = p.take_tcp().unwrap();
        assert_eq!(tcp.local_addr().unwrap().port(), p.port());
        let rtcp = p.take_rtcp().unwrap();
        assert_eq!(rtcp.local_addr().unwrap().port(), p.port() + 1);
    }

    #[test]
    fn the_lone_last_port_of_an_odd_range_has_no_rtcp() {
        let r = range(3);
        let ports = RtpPorts::new(localhost(), r);
        assert_eq!(ports.capacity(), 2);
        let mut held: Vec<RtpPort> = std::iter::from_fn(|| ports.allocate().ok()).collect();
        held.sort_by_key(RtpPort::port);
        if let Some(last) = held.iter_mut().find(|p| p.port() == r[1]) {
            assert!(last.take_rtcp().is_none());
        }
        assert!(held.iter().all(|p| (p.port() - r[0]).is_multiple_of(2)));
    }
}
