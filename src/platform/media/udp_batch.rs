//! Batched UDP receive for RTP ingest: on Linux one `recvmmsg(2)` takes everything queued on
//! a socket (up to [`BATCH`] datagrams) in one system call; elsewhere it falls back to one
//! `recvfrom` per datagram. The buffers belong to the worker thread, not to the session, so
//! a thousand sessions share a few of them.

use std::io;
use std::net::SocketAddr;

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Largest datagram kept whole. RTP from cameras fits one Ethernet frame (≤ 1,500 bytes);
/// this allows for jumbo frames and IP-fragmented packets, and bounds what one datagram
/// holds in the reorder buffer. Larger ones are cut short by the kernel and dropped.
pub const MAX_DATAGRAM: usize = 16 * 1024;

/// One thread's receive buffers and what the last call got.
pub struct RecvBatch {
    /// `BATCH` slots of `MAX_DATAGRAM` bytes. Zero-filled on creation, so pages nobody
    /// wrote to are never made resident.
    buf: Vec<u8>,
    got: Vec<Received>,
    #[cfg(target_os = "linux")]
    sys: linux::Headers,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("got", &self.got.len())
            .finish_non_exhaustive()
    }
}

/// One received datagram: its length in its slot, where it came from, and whether the
/// kernel cut it short (it was larger than [`MAX_DATAGRAM`]).
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub truncated: bool,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    pub fn new() -> Self {
        Self {
            buf: vec![0; BATCH * MAX_DATAGRAM],
            got: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            sys: linux::Headers::new(),
        }
    }

    /// Reads what is queued on `sock` (non-blocking); at least one datagram, or
    /// `WouldBlock`. Fewer than [`BATCH`] means the queue was empty at the time of the call.
    pub fn recv(&mut self, sock: &tokio::net::UdpSocket) -> io::Result<usize> {
        self.got.clear();
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            self.sys
                .recv(sock.as_raw_fd(), &mut self.buf, &mut self.got)?;
        }
        #[cfg(not(target_os = "linux"))]
        {
            for slot in self.buf.chunks_mut(MAX_DATAGRAM) {
                match sock.try_recv_from(slot) {
                    Ok((len, from)) => self.got.push(Received {
                        len,
                        from: Some(from),
                        truncated: false,
                    }),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.got.is_empty() => {
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(self.got.len())
    }

    /// Datagram `i` of the last call.
    pub fn datagram(&self, i: usize) -> (&[u8], Received) {
        let r = self.got[i];
        let start = i * MAX_DATAGRAM;
        (&self.buf[start..start + r.len.min(MAX_DATAGRAM)], r)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::RawFd;

    use super::{BATCH, MAX_DATAGRAM, Received};

    /// The `mmsghdr`/`iovec`/address arrays `recvmmsg` fills. The pointers inside them are
    /// set right before each call, from the buffers borrowed for that call, so nothing
    /// dangles between calls however the struct moves.
    pub struct Headers {
        msgs: Vec<libc::mmsghdr>,
        iovs: Vec<libc::iovec>,
        addrs: Vec<libc::sockaddr_storage>,
    }

    impl Headers {
        pub fn new() -> Self {
            // SAFETY: these are plain C structs for which all-zero bytes are a valid value
            // (null pointers, zero lengths, AF_UNSPEC).
            let (msg, iov, addr) = unsafe {
                (
                    std::mem::zeroed::<libc::mmsghdr>(),
                    std::mem::zeroed::<libc::iovec>(),
                    std::mem::zeroed::<libc::sockaddr_storage>(),
                )
            };
            Self {
                msgs: vec![msg; BATCH],
                iovs: vec![iov; BATCH],
                addrs: vec![addr; BATCH],
            }
        }

        pub fn recv(
            &mut self,
            fd: RawFd,
            buf: &mut [u8],
            got: &mut Vec<Received>,
        ) -> io::Result<()> {
            assert!(buf.len() >= BATCH * MAX_DATAGRAM);
            for (i, slot) in buf.chunks_mut(MAX_DATAGRAM).take(BATCH).enumerate() {
                self.iovs[i] = libc::iovec {
                    iov_base: slot.as_mut_ptr().cast(),
                    iov_len: slot.len(),
                };
                let h = &mut self.msgs[i].msg_hdr;
                h.msg_name = (&raw mut self.addrs[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &raw mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
                self.msgs[i].msg_len = 0;
            }
            // SAFETY: `msgs` holds BATCH headers, each pointing at its own `iovec` (which
            // points at a distinct MAX_DATAGRAM-byte slot of `buf`) and its own
            // `sockaddr_storage` with its size; all of them outlive the call, which writes
            // only within those lengths. MSG_DONTWAIT: the call never blocks, and no
            // timeout pointer is passed.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.msgs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            for i in 0..n as usize {
                let m = &self.msgs[i];
                got.push(Received {
                    len: m.msg_len as usize,
                    from: socket_addr(&self.addrs[i], m.msg_hdr.msg_namelen),
                    truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                });
            }
            Ok(())
        }
    }

    /// The sender's address as the kernel wrote it.
    fn socket_addr(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match i32::from(s.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a `sockaddr_in`, which is
                // smaller than `sockaddr_storage` and has no stricter alignment.
                let a =
                    unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for `sockaddr_in6`.
                let a =
                    unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_reads_every_queued_datagram_with_its_sender() {
        let rx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        for i in 0..(BATCH + 3) as u8 {
            tx.send_to(&vec![i; 100 + usize::from(i)], to).unwrap();
        }
        tx.send_to(&vec![7; MAX_DATAGRAM + 10], to).unwrap();
        let mut b = RecvBatch::new();
        rx.readable().await.unwrap();
        assert_eq!(b.recv(&rx).unwrap(), BATCH, "a full batch first");
        for i in 0..BATCH {
            let (d, r) = b.datagram(i);
            assert_eq!(d, &vec![i as u8; 100 + i][..]);
            assert_eq!(r.from, Some(tx.local_addr().unwrap()));
            assert!(!r.truncated);
        }
        assert_eq!(
            b.recv(&rx).unwrap(),
            4,
            "then the rest: fewer means drained"
        );
        let (d, r) = b.datagram(3);
        assert!(r.truncated, "an oversized datagram is flagged");
        assert_eq!(d.len(), MAX_DATAGRAM);
        assert_eq!(b.recv(&rx).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }
}
