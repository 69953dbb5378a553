//! ffprobe's view of an MP4 file and ffmpeg playing a URL as a player would, shared by the
//! media and live-session tests.

#[derive(Debug)]
pub struct Probe {
    pub codec: String,
    pub width: u64,
    pub height: u64,
    pub frames: u64,
}

/// ffprobe's view of an MP4 file: the first video stream, frames counted by decoding.
pub fn ffprobe(data: &[u8]) -> Probe {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.mp4");
    std::fs::write(&path, data).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_streams", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    Probe {
        codec: s["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: s["width"].as_u64().unwrap_or(0),
        height: s["height"].as_u64().unwrap_or(0),
        frames: s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

/// What ffplay does with `url`, without a window: opens it, demuxes and decodes `seconds`
/// of video. Returns the frames decoded and what ffmpeg said on stderr; panics when ffmpeg
/// fails or takes longer than `seconds` + 6 s.
pub async fn ffmpeg_play(url: &str, seconds: u32) -> (usize, String) {
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i", url])
        .args(["-t", &seconds.to_string(), "-f", "framemd5", "-"])
        .kill_on_drop(true)
        .output();
    let limit = std::time::Duration::from_secs(u64::from(seconds) + 6);
    let out = tokio::time::timeout(limit, out)
        .await
        .unwrap_or_else(|_| panic!("ffmpeg finishes {url} within {limit:?}"))
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ffmpeg {url}: {stderr}");
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    (frames, stderr)
}
