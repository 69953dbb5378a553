//! Reading a device's SDP answer into what the RTP ingest needs: the transport (following
//! the answer where it differs from the offer, since devices get TCP roles wrong), the
//! device's address for TCP active, payload types and the SSRC it announces.

use std::net::{IpAddr, SocketAddr};

use vigil_gb::sdp::{MediaTransport, Sdp, Setup};

use crate::platform::media::{IngestTransport, Payload};

/// How to receive the stream the answer describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestPlan {
    pub transport: IngestTransport,
    /// `y=` of the answer (some devices answer a different one than offered).
    pub ssrc: Option<u32>,
    /// From `a=rtpmap`, the encodings the ingest plays.
    pub payload_types: Vec<(u8, Payload)>,
}

/// The plan for `answer` to our offer of `offered`. `device_ip` is where the device's SIP
/// comes from: the address to connect to when the answer names none usable (`0.0.0.0`, a
/// host name) for TCP active.
pub fn plan(
    offered: MediaTransport,
    answer: &Sdp,
    device_ip: IpAddr,
) -> Result<IngestPlan, String> {
    let video = answer
        .video()
        .ok_or_else(|| "the SDP answer has no m=video line".to_owned())?;
    let we_connect = if !video.proto.is_tcp() {
        None
    } else {
        // The answer's a=setup is the device's role; without one (or with actpass) the
        // device takes the role our offer left it.
        Some(match video.setup {
            Some(Setup::Passive) => true,
            Some(Setup::Active) => false,
            _ => offered == MediaTransport::TcpActive,
        })
    };
    let transport = match we_connect {
        None => IngestTransport::Udp,
        Some(false) => IngestTransport::TcpPassive,
        Some(true) => {
            if video.port == 0 {
                return Err("the SDP answer asks us to connect but gives port 0".to_owned());
            }
            let ip = answer
                .video_address()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .filter(|ip| !ip.is_unspecified())
                .unwrap_or(device_ip);
            IngestTransport::TcpActive {
                remote: SocketAddr::new(ip, video.port),
            }
        }
    };
    let payload_types = video
        .rtpmaps
        .iter()
        .filter_map(|m| Payload::from_encoding(&m.encoding).map(|p| (m.payload_type, p)))
        .collect();
    Ok(IngestPlan {
        transport,
        ssrc: answer.ssrc().map(|s| s.value()),
        payload_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 64));

    fn sdp(text: &str) -> Sdp {
        text.replace('\n', "\r\n").parse().unwrap()
    }

    #[test]
    fn udp_answer_with_ssrc_and_ps() {
        let a = sdp(include_str!(
            "../../../crates/gb/testdata/sdp_answer_hikvision.txt"
        ));
        let p = plan(MediaTransport::Udp, &a, DEVICE).unwrap();
        assert_eq!(p.transport, IngestTransport::Udp);
        assert!(p.ssrc.is_some());
        assert!(p.payload_types.contains(&(96, Payload::Ps)), "{p:?}");
    }

    #[test]
    fn tcp_answers_follow_the_devices_role() {
        let passive_device = sdp(
            "v=0\no=34020000001310000001 0 0 IN IP4 192.168.1.64\ns=Play\nc=IN IP4 192.168.1.64\nt=0 0\nm=video 15060 TCP/RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\na=setup:passive\na=connection:new\ny=0200000001\n",
        );
        // We offered passive (we listen) but the device also listens: we connect.
        let p = plan(MediaTransport::TcpPassive, &passive_device, DEVICE).unwrap();
        assert_eq!(
            p.transport,
            IngestTransport::TcpActive {
                remote: "192.168.1.64:15060".parse().unwrap()
            }
        );
        let active_device = sdp(
            "v=0\no=34020000001310000001 0 0 IN IP4 192.168.1.64\ns=Play\nc=IN IP4 192.168.1.64\nt=0 0\nm=video 9 TCP/RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\na=setup:active\n",
        );
        let p = plan(MediaTransport::TcpActive, &active_device, DEVICE).unwrap();
        assert_eq!(p.transport, IngestTransport::TcpPassive);
        assert_eq!(p.ssrc, None, "a missing y= is fine");
    }

    #[test]
    fn tcp_answer_without_setup_keeps_the_offered_roles() {
        let a = sdp(
            "v=0\no=x 0 0 IN IP4 0.0.0.0\ns=Play\nc=IN IP4 0.0.0.0\nt=0 0\nm=video 6000 RTP/AVP/TCP 98\na=rtpmap:98 H264/90000\n",
        );
        assert_eq!(
            plan(MediaTransport::TcpPassive, &a, DEVICE)
                .unwrap()
                .transport,
            IngestTransport::TcpPassive
        );
        let p = plan(MediaTransport::TcpActive, &a, DEVICE).unwrap();
        assert_eq!(
            p.transport,
            IngestTransport::TcpActive {
                remote: SocketAddr::new(DEVICE, 6000)
            },
            "an unspecified address means the device's own"
        );
        assert_eq!(p.payload_types, vec![(98, Payload::H264)]);
    }

    #[test]
    fn vendor_answers_plan() {
        for text in [
            include_str!("../../../crates/gb/testdata/sdp_answer_dahua_tcp.txt"),
            include_str!("../../../crates/gb/testdata/sdp_answer_uniview.txt"),
        ] {
            let a = Sdp::parse_bytes(text.as_bytes()).unwrap();
            let p = plan(MediaTransport::TcpPassive, &a, DEVICE).unwrap();
            assert!(!p.payload_types.is_empty(), "{text}");
        }
    }

    #[test]
    fn an_answer_without_video_is_refused() {
        let a = sdp("v=0\no=x 0 0 IN IP4 1.2.3.4\ns=Play\nt=0 0\nm=audio 6000 RTP/AVP 8\n");
        assert!(plan(MediaTransport::Udp, &a, DEVICE).is_err());
    }
}
