//! Every parser gets arbitrary bytes: errors are fine, panics are bugs.

use bytes::Bytes;
use proptest::prelude::*;
use vigil_media::VideoCodec;
use vigil_media::codec::{AccessUnitSplitter, ParameterSetTracker, h264, h265, nal_units};
use vigil_media::fmp4::{FragmentSample, write_fragment};
use vigil_media::rtp::{H264Depacketizer, Rfc4571Deframer, RtpPacket, RtpPacketRef};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    // Bias towards zeros and ones so start codes and small fields show up.
    proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..600)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rtp_parsers(b in bytes()) {
        let a = RtpPacketRef::parse(&b).map(|p| p.payload.len());
        let o = RtpPacket::parse(Bytes::from(b)).map(|p| p.payload.len());
        prop_assert_eq!(a, o);
    }

    #[test]
    fn rfc4571_deframer(b in bytes(), cut in 0usize..600) {
        let mut d = Rfc4571Deframer::new();
        let cut = cut.min(b.len());
        d.push(&b[..cut]);
        while d.pull().is_some() {}
        d.push(&b[cut..]);
        while d.pull().is_some() {}
    }

    #[test]
    fn h264_depacketizer(packets in proptest::collection::vec(bytes(), 0..12)) {
        let mut d = H264Depacketizer::new().with_max_frame_size(2000);
        for (i, p) in packets.iter().enumerate() {
            d.push(i as u16, (i / 3) as u32, i % 4 == 3, p);
            if i % 5 == 4 { d.lost(); }
            while d.pull().is_some() {}
        }
    }

    #[test]
    fn parameter_sets_and_access_units(b in bytes()) {
        let _ = h264::Sps::parse(&b);
        let _ = h265::Sps::parse(&b);
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            let mut t = ParameterSetTracker::new(codec);
            let _ = t.observe(&b);
            let _ = codec.is_key_frame(&b);
            let total: usize = AccessUnitSplitter::new(codec, Bytes::from(b.clone())).map(|a| a.len()).sum();
            prop_assert!(total <= b.len());
        }
        let sample = FragmentSample { annexb: &b, duration: 3600, composition_offset: 0, key: false };
        let mut out = Vec::new();
        write_fragment(&mut out, 1, 0, &[sample]);
        let nal_bytes: usize = nal_units(&b).map(|n| n.len() + 4).sum();
        prop_assert_eq!(out.len(), 108 + nal_bytes);
    }
}
