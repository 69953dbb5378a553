//! Fragmented MP4 (ISO/IEC 14496-12, 14496-15) for Media Source Extensions: one init segment
//! per parameter set, then one `moof`+`mdat` per frame, video track at 90 kHz.

mod boxes;
mod fragment;
mod init;

pub use fragment::{Fragment, FragmentSample, Fragmenter, VideoFrame, write_fragment};
pub use init::init_segment;

/// Track timescale: the RTP/PES 90 kHz clock, so no rescaling is needed.
pub const TIMESCALE: u32 = 90_000;
/// The one track's id.
pub const TRACK_ID: u32 = 1;
