//! The GB/T 28181 `f=` line: the stream's video and audio parameters, written as
//! `v/codec/resolution/fps/ratectl/bitrate` then `a/codec/bitrate/samplerate`
//! (e.g. `f=v/2/5/25/1/4096a/1/8/1`). Devices fill it in partly or not at all, so it is
//! kept raw and read loosely.

use serde::{Deserialize, Serialize};

/// An `f=` value, kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MediaFormat {
    /// The text after `f=`.
    pub raw: String,
}

/// The video half of `f=`. Every field is optional: devices leave them empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoFormat {
    /// 1 MPEG-4, 2 H.264, 3 SVAC, 4 3GP, 5 H.265.
    pub codec: Option<u8>,
    /// 1 QCIF, 2 CIF, 3 4CIF, 4 D1, 5 720P, 6 1080P/I; some devices write `WxH`.
    pub resolution: Option<String>,
    /// Frames per second.
    pub frame_rate: Option<u32>,
    /// 1 constant, 2 variable bit rate.
    pub rate_control: Option<u8>,
    /// kbit/s.
    pub bitrate: Option<u32>,
}

/// The audio half of `f=`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioFormat {
    /// 1 G.711, 2 G.723.1, 3 G.729, 4 G.722.1.
    pub codec: Option<u8>,
    /// Bit rate code (1 = 5.3 kbit/s ... 8 = 64 kbit/s for G.711).
    pub bitrate: Option<u32>,
    /// Sample rate code: 1 8 kHz, 2 14 kHz, 3 16 kHz, 4 32 kHz.
    pub sample_rate: Option<u32>,
}

impl MediaFormat {
    /// Wraps a raw `f=` value.
    pub fn new(raw: impl Into<String>) -> Self {
        Self { raw: raw.into() }
    }

    /// Builds the value from parts (what a device puts in its answer).
    pub fn from_parts(video: &VideoFormat, audio: Option<&AudioFormat>) -> Self {
        fn opt<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        let mut raw = format!(
            "v/{}/{}/{}/{}/{}",
            opt(video.codec),
            video.resolution.as_deref().unwrap_or(""),
            opt(video.frame_rate),
            opt(video.rate_control),
            opt(video.bitrate)
        );
        if let Some(a) = audio {
            raw.push_str(&format!(
                "a/{}/{}/{}",
                opt(a.codec),
                opt(a.bitrate),
                opt(a.sample_rate)
            ));
        }
        Self { raw }
    }

    /// The `v/...` part, when present.
    pub fn video(&self) -> Option<VideoFormat> {
        let (v, _) = self.split();
        let mut fields = v?.split('/').map(str::trim);
        Some(VideoFormat {
            codec: fields.next().and_then(|s| s.parse().ok()),
            resolution: fields.next().filter(|s| !s.is_empty()).map(str::to_owned),
            frame_rate: fields.next().and_then(|s| s.parse().ok()),
            rate_control: fields.next().and_then(|s| s.parse().ok()),
            bitrate: fields.next().and_then(|s| s.parse().ok()),
        })
    }

    /// The `a/...` part, when present.
    pub fn audio(&self) -> Option<AudioFormat> {
        let (_, a) = self.split();
        let mut fields = a?.split('/').map(str::trim);
        Some(AudioFormat {
            codec: fields.next().and_then(|s| s.parse().ok()),
            bitrate: fields.next().and_then(|s| s.parse().ok()),
            sample_rate: fields.next().and_then(|s| s.parse().ok()),
        })
    }

    /// Splits into the fields after `v/` and after `a/`.
    fn split(&self) -> (Option<&str>, Option<&str>) {
        let raw = self.raw.trim();
        let (video, audio) = match raw.find("a/") {
            Some(i) => (&raw[..i], Some(&raw[i + 2..])),
            None => (raw, None),
        };
        (video.strip_prefix("v/"), audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_full_value() {
        let f = MediaFormat::new("v/2/5/25/1/4096a/1/8/1");
        assert_eq!(
            f.video(),
            Some(VideoFormat {
                codec: Some(2),
                resolution: Some("5".into()),
                frame_rate: Some(25),
                rate_control: Some(1),
                bitrate: Some(4096),
            })
        );
        assert_eq!(
            f.audio(),
            Some(AudioFormat {
                codec: Some(1),
                bitrate: Some(8),
                sample_rate: Some(1)
            })
        );
    }

    #[test]
    fn reads_empty_fields_loosely() {
        let f = MediaFormat::new("v/////a///");
        assert_eq!(f.video(), Some(VideoFormat::default()));
        assert_eq!(f.audio(), Some(AudioFormat::default()));
        let f = MediaFormat::new("v/5/1920x1080/");
        let v = f.video().unwrap();
        assert_eq!(
            (v.codec, v.resolution.as_deref(), v.frame_rate),
            (Some(5), Some("1920x1080"), None)
        );
        assert_eq!(f.audio(), None);
        assert_eq!(MediaFormat::new("").video(), None);
        assert_eq!(MediaFormat::new("garbage").audio(), None);
    }

    #[test]
    fn builds_from_parts() {
        let v = VideoFormat {
            codec: Some(2),
            resolution: Some("5".into()),
            frame_rate: Some(25),
            rate_control: Some(1),
            bitrate: Some(4096),
        };
        let a = AudioFormat {
            codec: Some(1),
            bitrate: Some(8),
            sample_rate: Some(1),
        };
        assert_eq!(
            MediaFormat::from_parts(&v, Some(&a)).raw,
            "v/2/5/25/1/4096a/1/8/1"
        );
        assert_eq!(
            MediaFormat::from_parts(&VideoFormat::default(), None).raw,
            "v/////"
        );
    }
}
