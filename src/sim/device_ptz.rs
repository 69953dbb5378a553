//! PTZ of a simulated device's channels (sans-IO, part of [`Device`]): a `DeviceControl`
//! MESSAGE with a `PTZCmd` for one of its channels (the MANSCDP reader has checked the
//! checksum; a bad one got 400 before this) is answered 200 OK and moves that channel: pan,
//! tilt and zoom run at the commanded speeds until a stop, focus and iris likewise, presets
//! store and recall a position. Every command obeyed is reported with the channel's new
//! state ([`PtzView`]), so a test sees what reached the camera. PTZ gets no result MESSAGE
//! (GB/T 28181 9.3: PTZ control has no response). A test hook refuses PTZ or leaves it
//! unanswered.

use std::collections::{BTreeMap, HashMap};

use vigil_gb::ptz::{Focus, Iris, Pan, PresetOp, PtzCmd, PtzInstruction, Tilt, Zoom};

use super::*;

/// How a device answers PTZ controls (a test hook; obeys by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PtzAnswer {
    /// 200 OK, and the channel moves.
    #[default]
    Obey,
    /// A final refusal with this status; nothing moves.
    Refuse(u16),
    /// No answer at all (the platform's MESSAGE times out); nothing moves.
    Ignore,
}

/// Where a channel points. Each axis is the integral of its signed speed over time, in
/// speed x milliseconds (pan right, tilt up, zoom in, focus far and iris open count up);
/// a simulated camera has no end stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PtzPosition {
    pub pan: i64,
    pub tilt: i64,
    pub zoom: i64,
    pub focus: i64,
    pub iris: i64,
}

/// Signed speeds in effect: pan and tilt 0-255, zoom 0-15, focus and iris 0-255; the sign
/// as in [`PtzPosition`]. All zero: still.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PtzMotion {
    pub pan: i16,
    pub tilt: i16,
    pub zoom: i16,
    pub focus: i16,
    pub iris: i16,
}

impl PtzMotion {
    pub fn is_still(&self) -> bool {
        *self == PtzMotion::default()
    }
}

/// One channel's PTZ as the simulated camera sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PtzView {
    /// PTZ commands obeyed (answered 200 OK).
    pub commands: u32,
    /// The last command obeyed, as it arrived.
    pub last: Option<PtzCmd>,
    /// What the channel is doing since that command.
    pub motion: PtzMotion,
    /// Where it pointed when that command arrived (after a preset call: the preset).
    pub position: PtzPosition,
    /// Stored presets (1-255).
    pub presets: BTreeMap<u8, PtzPosition>,
    /// Commands refused through [`PtzAnswer::Refuse`], and left unanswered through
    /// [`PtzAnswer::Ignore`] (UDP retransmissions included).
    pub refused: u32,
    pub ignored: u32,
}

impl PtzView {
    /// The channel's motion and position after `cmd` arrives at `now`; `since` is when
    /// the motion in effect started.
    fn obey(&mut self, cmd: PtzCmd, since: Instant, now: Instant) {
        let ms = now.saturating_duration_since(since).as_millis() as i64;
        let p = &mut self.position;
        let m = self.motion;
        p.pan += i64::from(m.pan) * ms;
        p.tilt += i64::from(m.tilt) * ms;
        p.zoom += i64::from(m.zoom) * ms;
        p.focus += i64::from(m.focus) * ms;
        p.iris += i64::from(m.iris) * ms;
        let signed = |positive: bool, speed: u8| {
            let s = i16::from(speed);
            if positive { s } else { -s }
        };
        match cmd.instruction() {
            PtzInstruction::Ptz {
                pan,
                tilt,
                zoom,
                pan_speed,
                tilt_speed,
                zoom_speed,
            } => {
                self.motion.pan = pan.map_or(0, |d| signed(d == Pan::Right, pan_speed));
                self.motion.tilt = tilt.map_or(0, |d| signed(d == Tilt::Up, tilt_speed));
                self.motion.zoom = zoom.map_or(0, |d| signed(d == Zoom::In, zoom_speed));
            }
            PtzInstruction::FocusIris {
                focus,
                iris,
                focus_speed,
                iris_speed,
            } => {
                self.motion.focus = focus.map_or(0, |d| signed(d == Focus::Far, focus_speed));
                self.motion.iris = iris.map_or(0, |d| signed(d == Iris::Open, iris_speed));
            }
            // Preset 0 does not exist (A.3.4: 1-255); cameras ignore it.
            PtzInstruction::Preset { index: 0, .. } => {}
            PtzInstruction::Preset { op, index } => match op {
                PresetOp::Set => {
                    self.presets.insert(index, self.position);
                }
                PresetOp::Goto => {
                    // An unknown preset leaves the camera where it is.
                    if let Some(at) = self.presets.get(&index) {
                        self.position = *at;
                        self.motion = PtzMotion::default();
                    }
                }
                PresetOp::Delete => {
                    self.presets.remove(&index);
                }
            },
            // Cruise, scan, auxiliary switches: accepted, not simulated.
            _ => {}
        }
        self.commands += 1;
        self.last = Some(cmd);
    }
}

/// Per-device PTZ state and the answer hook.
#[derive(Debug, Default)]
pub(super) struct PtzSide {
    answer: PtzAnswer,
    /// Per channel: its view and when its current motion started.
    channels: HashMap<DeviceId, (PtzView, Instant)>,
}

impl Device {
    /// How PTZ controls are answered from now on.
    pub(crate) fn set_ptz_answer(&mut self, answer: PtzAnswer) {
        self.ptz.answer = answer;
    }

    /// A `DeviceControl` with `cmd` for `channel` (this device or one of its channels).
    pub(super) fn on_ptz(
        &mut self,
        now: Instant,
        req: &Request,
        to: SocketAddr,
        branch: String,
        channel: DeviceId,
        cmd: PtzCmd,
    ) {
        let (view, since) = self
            .ptz
            .channels
            .entry(channel)
            .or_insert_with(|| (PtzView::default(), now));
        match self.ptz.answer {
            PtzAnswer::Obey => {
                view.obey(cmd, *since, now);
                *since = now;
            }
            PtzAnswer::Refuse(_) => view.refused += 1,
            PtzAnswer::Ignore => view.ignored += 1,
        }
        let view = Box::new(view.clone());
        match self.ptz.answer {
            PtzAnswer::Obey => {
                self.respond(now, req, 200, "", to, branch);
                self.event(Event::MessageReceived {
                    root: Root::Control,
                    cmd_type: "DeviceControl".into(),
                });
            }
            PtzAnswer::Refuse(code) => self.respond(now, req, code, "", to, branch),
            PtzAnswer::Ignore => {}
        }
        self.event(Event::Ptz { channel, view });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sim::plan::IdPlan;

    const SERVER: &str = "127.0.0.1:5060";
    const CHANNEL: &str = "34020000001310000002";

    fn device() -> Device {
        let profile = Profile::new(
            SERVER.parse().unwrap(),
            "34020000002000000001",
            "3402000000",
            SimTransport::Udp,
            Duration::from_secs(60),
            3600,
            Charset::Gb2312,
            2,
            Duration::from_secs(10),
        )
        .unwrap();
        let plan = IdPlan::new("3402000000132", 1, 1, 2).unwrap();
        Device::new(
            Arc::new(profile),
            DeviceSetup {
                id: plan.device(0),
                channels: vec![plan.channel(0, 0), plan.channel(0, 1)],
                password: "12345678".into(),
                local: "127.0.0.1:40000".parse().unwrap(),
                seed: 3,
            },
        )
    }

    /// A DeviceControl MESSAGE as the platform sends it: to the device, the channel in
    /// the body, `ptz` as the PTZCmd text.
    fn control(ptz: &str, branch: &str) -> Message {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Control>\r\n<CmdType>DeviceControl</CmdType>\r\n\
             <SN>7</SN>\r\n<DeviceID>{CHANNEL}</DeviceID>\r\n<PTZCmd>{ptz}</PTZCmd>\r\n\
             <Info>\r\n<ControlPriority>5</ControlPriority>\r\n</Info>\r\n</Control>\r\n"
        );
        let text = format!(
            "MESSAGE sip:34020000001320000001@127.0.0.1:40000 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch={branch}\r\n\
             From: <sip:34020000002000000001@3402000000>;tag=p1\r\nTo: <sip:34020000001320000001@3402000000>\r\n\
             Call-ID: c-{branch}\r\nCSeq: 1 MESSAGE\r\nContent-Type: Application/MANSCDP+xml\r\n\
             Max-Forwards: 70\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        vigil_sip::parse(text.as_bytes()).unwrap()
    }

    /// Feeds `msg` at `now`: the status answered (if any) and the channel's view reported.
    fn feed(d: &mut Device, now: Instant, msg: Message) -> (Option<u16>, Option<PtzView>) {
        d.handle_message(now, 0, msg, SERVER.parse().unwrap());
        let (mut status, mut view) = (None, None);
        while let Some(o) = d.poll_output() {
            match o {
                Output::Transmit { bytes, .. } => match vigil_sip::parse(&bytes).unwrap() {
                    Message::Response(r) => status = Some(r.status.code()),
                    Message::Request(r) => panic!("PTZ gets no result MESSAGE: {r:?}"),
                },
                Output::Event(Event::Ptz { channel, view: v }) => {
                    assert_eq!(channel.as_str(), CHANNEL);
                    view = Some(*v);
                }
                _ => {}
            }
        }
        (status, view)
    }

    fn cmd(i: PtzInstruction) -> String {
        PtzCmd::new(1, i).to_hex()
    }

    fn pan_tilt(pan: Option<Pan>, tilt: Option<Tilt>, speed: u8) -> String {
        cmd(PtzInstruction::Ptz {
            pan,
            tilt,
            zoom: None,
            pan_speed: speed,
            tilt_speed: speed,
            zoom_speed: 0,
        })
    }

    fn preset(op: PresetOp, index: u8) -> String {
        cmd(PtzInstruction::Preset { op, index })
    }

    #[test]
    fn motion_runs_until_stop_and_presets_recall_the_position() {
        let mut d = device();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let (status, v) = feed(
            &mut d,
            t0,
            control(&pan_tilt(Some(Pan::Left), Some(Tilt::Up), 100), "z9hG4bK1"),
        );
        let v = v.unwrap();
        assert_eq!(status, Some(200));
        assert_eq!(
            (v.motion.pan, v.motion.tilt, v.position),
            (-100, 100, PtzPosition::default())
        );
        // 250 ms later: stop. Left/up at 100 for 250 ms.
        let (_, v) = feed(&mut d, ms(250), control("A50F0100000000B5", "z9hG4bK2"));
        let v = v.unwrap();
        assert!(v.motion.is_still());
        assert_eq!((v.position.pan, v.position.tilt), (-25_000, 25_000));
        assert_eq!(v.last.unwrap().to_hex(), "A50F0100000000B5");
        feed(
            &mut d,
            ms(300),
            control(&preset(PresetOp::Set, 3), "z9hG4bK3"),
        );
        // Away to the right, and back with preset 3.
        feed(
            &mut d,
            ms(400),
            control(&pan_tilt(Some(Pan::Right), None, 200), "z9hG4bK4"),
        );
        let (_, v) = feed(
            &mut d,
            ms(500),
            control(&preset(PresetOp::Goto, 3), "z9hG4bK5"),
        );
        let v = v.unwrap();
        assert_eq!((v.position.pan, v.position.tilt), (-25_000, 25_000));
        assert!(v.motion.is_still(), "a preset call ends the motion");
        assert_eq!(v.commands, 5);
        let (_, v) = feed(
            &mut d,
            ms(600),
            control(&preset(PresetOp::Delete, 3), "z9hG4bK6"),
        );
        assert!(v.unwrap().presets.is_empty());
    }

    #[test]
    fn zoom_focus_and_iris_move_their_own_axes() {
        let mut d = device();
        let t0 = Instant::now();
        let zoom_in = cmd(PtzInstruction::Ptz {
            pan: None,
            tilt: None,
            zoom: Some(Zoom::In),
            pan_speed: 0,
            tilt_speed: 0,
            zoom_speed: 8,
        });
        feed(&mut d, t0, control(&zoom_in, "z9hG4bK1"));
        let near = cmd(PtzInstruction::FocusIris {
            focus: Some(Focus::Near),
            iris: None,
            focus_speed: 50,
            iris_speed: 0,
        });
        let (_, v) = feed(
            &mut d,
            t0 + Duration::from_millis(100),
            control(&near, "z9hG4bK2"),
        );
        let v = v.unwrap();
        // Focus does not stop the zoom.
        assert_eq!((v.motion.zoom, v.motion.focus), (8, -50));
        assert_eq!(v.position.zoom, 800);
        // The lens stop ends focus and iris only.
        let (_, v) = feed(
            &mut d,
            t0 + Duration::from_millis(200),
            control("A50F0140000000F5", "z9hG4bK3"),
        );
        let v = v.unwrap();
        assert_eq!((v.motion.zoom, v.motion.focus), (8, 0));
        assert_eq!(v.position.focus, -5_000);
    }

    #[test]
    fn bad_checksum_gets_400_and_moves_nothing() {
        let mut d = device();
        let (status, v) = feed(
            &mut d,
            Instant::now(),
            control("A50F01021F0000D7", "z9hG4bK1"),
        );
        assert_eq!(status, Some(400));
        assert_eq!(v, None);
    }

    #[test]
    fn refusing_and_ignoring_hooks() {
        let mut d = device();
        let t0 = Instant::now();
        let left = pan_tilt(Some(Pan::Left), None, 9);
        d.set_ptz_answer(PtzAnswer::Refuse(488));
        let (status, v) = feed(&mut d, t0, control(&left, "z9hG4bK1"));
        assert_eq!(status, Some(488));
        let v = v.unwrap();
        assert_eq!((v.refused, v.commands), (1, 0));
        assert!(v.motion.is_still());
        d.set_ptz_answer(PtzAnswer::Ignore);
        let (status, v) = feed(&mut d, t0, control(&left, "z9hG4bK2"));
        assert_eq!(status, None);
        assert_eq!(v.unwrap().ignored, 1);
        d.set_ptz_answer(PtzAnswer::Obey);
        let (status, v) = feed(&mut d, t0, control(&left, "z9hG4bK3"));
        assert_eq!(status, Some(200));
        assert_eq!(v.unwrap().motion.pan, -9);
    }

    #[test]
    fn a_retransmitted_command_is_answered_again_but_obeyed_once() {
        let mut d = device();
        let t0 = Instant::now();
        let set = preset(PresetOp::Set, 1);
        assert_eq!(feed(&mut d, t0, control(&set, "z9hG4bK1")).0, Some(200));
        let (status, v) = feed(&mut d, t0, control(&set, "z9hG4bK1"));
        assert_eq!((status, v), (Some(200), None));
    }
}
