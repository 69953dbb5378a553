//! RTP (RFC 3550) packets, a reorder buffer with loss accounting, RFC 4571 TCP framing and the
//! RFC 6184 H.264 depacketizer for devices that send raw H.264 instead of PS.

mod h264;
mod packet;
mod reorder;
mod tcp;

pub use h264::{H264Depacketizer, H264DepacketizerError, H264Frame};
pub use packet::{RtpError, RtpHeader, RtpPacket, RtpPacketRef, write_rtp};
pub use reorder::{ReorderBuffer, ReorderOutput, RtpStats};
pub use tcp::{MAX_RFC4571_FRAME, Rfc4571Deframer, Rfc4571Error, frame_rfc4571};

/// Returns true if sequence number `a` comes after `b` (RFC 1982 serial arithmetic).
pub fn seq_after(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) > 0
}
