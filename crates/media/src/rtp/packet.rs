//! RTP fixed header, CSRC list, header extension and padding: zero-copy parsing and writing.

use bytes::{BufMut, Bytes};
use std::ops::Range;

/// Why an RTP packet was rejected. Offsets are byte positions in the datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet too short: {len} bytes, need {need}")]
    TooShort { len: usize, need: usize },
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("RTP padding length {padding} larger than the {available} bytes after the header")]
    BadPadding { padding: usize, available: usize },
}

/// The fields of an RTP header that callers act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacketRef<'a> {
    pub header: RtpHeader,
    /// CSRC identifiers as raw big-endian bytes (4 per entry).
    pub csrcs: &'a [u8],
    /// Header extension `(profile, data)` if the X bit was set.
    pub extension: Option<(u16, &'a [u8])>,
    pub payload: &'a [u8],
    /// Number of padding bytes removed from the end (including the count byte).
    pub padding: u8,
}

/// Byte ranges of a packet's parts inside the datagram.
struct Layout {
    header: RtpHeader,
    csrcs: Range<usize>,
    extension: Option<(u16, Range<usize>)>,
    payload: Range<usize>,
    padding: u8,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn layout(buf: &[u8]) -> Result<Layout, RtpError> {
    if buf.len() < 12 {
        return Err(RtpError::TooShort {
            len: buf.len(),
            need: 12,
        });
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let has_padding = buf[0] & 0x20 != 0;
    let has_extension = buf[0] & 0x10 != 0;
    let csrc_count = usize::from(buf[0] & 0x0F);
    let header = RtpHeader {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7F,
        sequence: be16(buf, 2),
        timestamp: be32(buf, 4),
        ssrc: be32(buf, 8),
    };
    let csrcs = 12..12 + 4 * csrc_count;
    let mut pos = csrcs.end;
    if buf.len() < pos {
        return Err(RtpError::TooShort {
            len: buf.len(),
            need: pos,
        });
    }
    let extension = if has_extension {
        if buf.len() < pos + 4 {
            return Err(RtpError::TooShort {
                len: buf.len(),
                need: pos + 4,
            });
        }
        let profile = be16(buf, pos);
        let words = usize::from(be16(buf, pos + 2));
        let data = pos + 4..pos + 4 + 4 * words;
        if buf.len() < data.end {
            return Err(RtpError::TooShort {
                len: buf.len(),
                need: data.end,
            });
        }
        pos = data.end;
        Some((profile, data))
    } else {
        None
    };
    let mut end = buf.len();
    let mut padding = 0u8;
    if has_padding {
        // The last byte counts the padding bytes, itself included (RFC 3550 5.1).
        let count = buf[end - 1];
        let available = end - pos;
        if count == 0 || usize::from(count) > available {
            return Err(RtpError::BadPadding {
                padding: usize::from(count),
                available,
            });
        }
        padding = count;
        end -= usize::from(count);
    }
    Ok(Layout {
        header,
        csrcs,
        extension,
        payload: pos..end,
        padding,
    })
}

impl<'a> RtpPacketRef<'a> {
    /// Parses a datagram without copying.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let l = layout(buf)?;
        Ok(Self {
            header: l.header,
            csrcs: &buf[l.csrcs],
            extension: l.extension.map(|(p, r)| (p, &buf[r])),
            payload: &buf[l.payload],
            padding: l.padding,
        })
    }

    /// CSRC identifiers.
    pub fn csrc_iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.csrcs.chunks_exact(4).map(|c| be32(c, 0))
    }
}

/// An owned packet: header plus a zero-copy slice of the datagram's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub header: RtpHeader,
    pub payload: Bytes,
}

impl RtpPacket {
    /// Parses a datagram; the payload shares the datagram's allocation.
    pub fn parse(datagram: Bytes) -> Result<Self, RtpError> {
        let l = layout(&datagram)?;
        Ok(Self {
            header: l.header,
            payload: datagram.slice(l.payload),
        })
    }

    /// Serializes the packet (no CSRCs, extension or padding).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        write_rtp(&mut out, &self.header, &self.payload);
        out.into()
    }
}

/// Writes a version 2 RTP packet without CSRCs, extension or padding.
pub fn write_rtp(out: &mut impl BufMut, header: &RtpHeader, payload: &[u8]) {
    out.put_u8(0x80);
    out.put_u8((u8::from(header.marker) << 7) | (header.payload_type & 0x7F));
    out.put_u16(header.sequence);
    out.put_u32(header.timestamp);
    out.put_u32(header.ssrc);
    out.put_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_packet_with_marker() {
        let b = [
            0x80, 0xE0, 0x12, 0x34, 0x00, 0x01, 0x5F, 0x90, 0x05, 0xF5, 0xE1, 0x01, 0xAA, 0xBB,
        ];
        let p = RtpPacketRef::parse(&b).unwrap();
        assert_eq!(
            p.header,
            RtpHeader {
                marker: true,
                payload_type: 96,
                sequence: 0x1234,
                timestamp: 90_000,
                ssrc: 100_000_001
            }
        );
        assert_eq!(p.payload, &[0xAA, 0xBB]);
        assert_eq!(p.extension, None);
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let b = [
            0xB2, 0x60, 0x00, 0x07, 0, 0, 0, 9, 0, 0, 0, 1, // V=2 P X CC=2
            0, 0, 0, 0x11, 0, 0, 0, 0x22, // CSRCs
            0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4, // one-word extension
            0x55, 0x66, // payload
            0, 0, 3, // 3 bytes padding
        ];
        let p = RtpPacketRef::parse(&b).unwrap();
        assert_eq!(p.csrc_iter().collect::<Vec<_>>(), vec![0x11, 0x22]);
        assert_eq!(p.extension, Some((0xBEDE, &[1u8, 2, 3, 4][..])));
        assert_eq!(p.payload, &[0x55, 0x66]);
        assert_eq!(p.padding, 3);
        let owned = RtpPacket::parse(Bytes::copy_from_slice(&b)).unwrap();
        assert_eq!(&owned.payload[..], &[0x55, 0x66]);
    }

    #[test]
    fn rejects_wrong_version_and_truncation() {
        assert_eq!(
            RtpPacketRef::parse(&[0x40; 12]),
            Err(RtpError::BadVersion(1))
        );
        assert_eq!(
            RtpPacketRef::parse(&[0x80; 11]),
            Err(RtpError::TooShort { len: 11, need: 12 })
        );
        // CC=15 claims 60 bytes of CSRC.
        assert_eq!(
            RtpPacketRef::parse(&[0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::TooShort { len: 12, need: 72 })
        );
        // Extension length past the end.
        let mut b = vec![0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        b.extend_from_slice(&[0; 4]);
        assert!(matches!(
            RtpPacketRef::parse(&b),
            Err(RtpError::TooShort { .. })
        ));
    }

    #[test]
    fn rejects_padding_larger_than_payload_or_zero() {
        let mut b = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4];
        assert_eq!(
            RtpPacketRef::parse(&b),
            Err(RtpError::BadPadding {
                padding: 4,
                available: 2
            })
        );
        *b.last_mut().unwrap() = 0;
        assert!(matches!(
            RtpPacketRef::parse(&b),
            Err(RtpError::BadPadding { .. })
        ));
    }

    #[test]
    fn writer_output_is_byte_exact_and_parses_back() {
        let h = RtpHeader {
            marker: true,
            payload_type: 96,
            sequence: 65535,
            timestamp: 3600,
            ssrc: 0x0102_0304,
        };
        let mut out = Vec::new();
        write_rtp(&mut out, &h, &[9, 8]);
        assert_eq!(
            out,
            [0x80, 0xE0, 0xFF, 0xFF, 0, 0, 0x0E, 0x10, 1, 2, 3, 4, 9, 8]
        );
        assert_eq!(RtpPacketRef::parse(&out).unwrap().header, h);
    }
}
