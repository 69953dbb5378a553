//! vigil-media: RTP, MPEG-PS demux/mux, H.264/H.265 access units, fMP4 muxing. Sans-IO.
