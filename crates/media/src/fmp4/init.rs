//! The init segment: `ftyp` + `moov` describing one video track, no samples (they come in
//! fragments).

use super::boxes::BoxWriter;
use super::{TIMESCALE, TRACK_ID};
use crate::VideoCodec;
use crate::codec::VideoParams;
use bytes::Bytes;

/// Builds `ftyp` + `moov` for a video track with these parameters.
pub fn init_segment(params: &VideoParams) -> Bytes {
    let mut out = Vec::with_capacity(700 + params.decoder_config.len());
    let mut w = BoxWriter::new(&mut out);

    let ftyp = w.begin(b"ftyp");
    w.bytes(b"iso5");
    w.u32(512);
    for brand in [b"iso5", b"iso6", b"mp41"] {
        w.bytes(brand);
    }
    w.end(ftyp);

    let moov = w.begin(b"moov");
    let mvhd = w.begin_full(b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(TIMESCALE);
    w.u32(0); // duration: unknown, the fragments carry it
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.unity_matrix();
    w.zeros(24); // pre_defined
    w.u32(TRACK_ID + 1); // next_track_ID
    w.end(mvhd);

    let trak = w.begin(b"trak");
    let tkhd = w.begin_full(b"tkhd", 0, 0x000003); // enabled, in movie
    w.u32(0);
    w.u32(0);
    w.u32(TRACK_ID);
    w.u32(0); // reserved
    w.u32(0); // duration
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(0); // volume: video
    w.u16(0);
    w.unity_matrix();
    w.u32(params.width << 16);
    w.u32(params.height << 16);
    w.end(tkhd);

    let mdia = w.begin(b"mdia");
    let mdhd = w.begin_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(TIMESCALE);
    w.u32(0);
    w.u16(0x55C4); // language "und"
    w.u16(0);
    w.end(mdhd);
    let hdlr = w.begin_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(b"vide");
    w.zeros(12);
    w.bytes(b"VideoHandler\0");
    w.end(hdlr);

    let minf = w.begin(b"minf");
    let vmhd = w.begin_full(b"vmhd", 0, 1);
    w.zeros(8); // graphicsmode, opcolor
    w.end(vmhd);
    let dinf = w.begin(b"dinf");
    let dref = w.begin_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.begin_full(b"url ", 0, 1); // media is in this file
    w.end(url);
    w.end(dref);
    w.end(dinf);

    let stbl = w.begin(b"stbl");
    let stsd = w.begin_full(b"stsd", 0, 0);
    w.u32(1);
    let (entry, config) = match params.codec {
        VideoCodec::H264 => (b"avc1", b"avcC"),
        VideoCodec::H265 => (b"hvc1", b"hvcC"),
    };
    let se = w.begin(entry);
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved
    w.u16(params.width as u16);
    w.u16(params.height as u16);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xFFFF); // pre_defined -1
    let cfg = w.begin(config);
    w.bytes(&params.decoder_config);
    w.end(cfg);
    w.end(se);
    w.end(stsd);
    for empty in [b"stts", b"stsc", b"stco"] {
        let b = w.begin_full(empty, 0, 0);
        w.u32(0);
        w.end(b);
    }
    let stsz = w.begin_full(b"stsz", 0, 0);
    w.u32(0); // sample_size
    w.u32(0); // sample_count
    w.end(stsz);
    w.end(stbl);
    w.end(minf);
    w.end(mdia);
    w.end(trak);

    let mvex = w.begin(b"mvex");
    let trex = w.begin_full(b"trex", 0, 0);
    w.u32(TRACK_ID);
    w.u32(1); // default_sample_description_index
    w.u32(0);
    w.u32(0);
    w.u32(0);
    w.end(trex);
    w.end(mvex);
    w.end(moov);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::boxes::walk;

    const INIT_OVERHEAD: usize = 619;

    fn clip_params(codec: VideoCodec) -> VideoParams {
        use crate::clip::{AnnexBReader, testdata};
        let data = match codec {
            VideoCodec::H264 => testdata::H264_640X360_25FPS,
            VideoCodec::H265 => testdata::H265_640X360_25FPS,
        };
        let mut t = crate::codec::ParameterSetTracker::new(codec);
        let first = AnnexBReader::new(codec, Bytes::from_static(data))
            .next()
            .unwrap();
        t.observe(&first.data).unwrap();
        t.params().unwrap().clone()
    }

    #[test]
    fn init_segment_box_tree() {
        let p = clip_params(VideoCodec::H264);
        let init = init_segment(&p);
        let mut boxes = Vec::new();
        walk(&init, 0, &mut boxes);
        let tree: Vec<String> = boxes
            .iter()
            .map(|(d, n, _)| format!("{}{n}", " ".repeat(*d)))
            .collect();
        assert_eq!(
            tree,
            [
                "ftyp",
                "moov",
                " mvhd",
                " trak",
                "  tkhd",
                "  mdia",
                "   mdhd",
                "   hdlr",
                "   minf",
                "    vmhd",
                "    dinf",
                "     dref",
                "      url ",
                "    stbl",
                "     stsd",
                "      avc1",
                "       avcC",
                "     stts",
                "     stsc",
                "     stco",
                "     stsz",
                " mvex",
                "  trex"
            ]
        );
        let body = |name: &str| boxes.iter().find(|(_, n, _)| n == name).unwrap().2.clone();
        assert_eq!(body("ftyp"), b"iso5\0\0\x02\0iso5iso6mp41");
        assert_eq!(&body("mdhd")[12..16], &90_000u32.to_be_bytes());
        // tkhd width/height in 16.16 at the end.
        let tkhd = body("tkhd");
        assert_eq!(
            &tkhd[tkhd.len() - 8..],
            &[0x02, 0x80, 0, 0, 0x01, 0x68, 0, 0]
        );
        assert_eq!(&body("avc1")[24..28], &[0x02, 0x80, 0x01, 0x68]);
        assert_eq!(body("avcC"), p.decoder_config.to_vec());
        assert_eq!(
            body("trex"),
            [
                0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        // Everything but the avcC body is fixed-size.
        assert_eq!(init.len(), INIT_OVERHEAD + p.decoder_config.len());
    }

    #[test]
    fn hevc_init_uses_hvc1_and_hvcc() {
        let init = init_segment(&clip_params(VideoCodec::H265));
        let mut boxes = Vec::new();
        walk(&init, 0, &mut boxes);
        assert!(boxes.iter().any(|(d, n, _)| *d == 6 && n == "hvc1"));
        assert!(boxes.iter().any(|(d, n, _)| *d == 7 && n == "hvcC"));
    }
}
