//! vigil-media: RTP, MPEG-PS demux/mux, H.264/H.265 access units, fMP4 muxing. Sans-IO.
//!
//! Nothing here opens a socket or reads a clock: bytes and time are arguments, so the
//! application drives these machines from tokio and tests drive them from fixtures.
//!
//! Ingest path: [`rtp::RtpPacket`] → [`rtp::ReorderBuffer`] → [`ps::PsDemuxer`] (or
//! [`rtp::H264Depacketizer`] for raw PT 98) → [`codec::ParameterSetTracker`] →
//! [`fmp4::Fragmenter`]. Simulator path: [`clip::AnnexBReader`] → [`clip::ClipStreamer`]
//! (a [`ps::PsMuxer`] plus a [`ps::PsRtpPacketizer`]).
#![forbid(unsafe_code)]

pub mod clip;
pub mod codec;
pub mod fmp4;
pub mod ps;
pub mod rtp;
mod ts;

pub use codec::VideoCodec;
pub use ts::TimestampUnwrapper;
