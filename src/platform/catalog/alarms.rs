//! Device notifications that are read, not only logged: alarms (`Notify/Alarm`) and media
//! status (`Notify/MediaStatus`; `121`: a playback or download reached the end of its file).
//! Each is published once on the event bus, so it reaches `GET /api/v1/events` and the
//! webhooks; nothing is stored. An alarm is also acknowledged to the device with a
//! `Response/Alarm` MESSAGE (GB/T 28181-2016 §9.4.2: after the 200 OK the platform answers
//! the notification), which some devices wait for before they stop repeating the alarm.

use std::sync::Arc;

use tokio::sync::Semaphore;
use vigil_gb::manscdp::{Alarm, MediaStatus, ResultResponse};
use vigil_gb::{Charset, DeviceId, Manscdp};

use super::QueryError;
use super::worker::Ctx;
use crate::platform::events::EventKind;
use crate::platform::unix_ms;

/// Acknowledgements in flight at once: a device flooding alarms gets its events published
/// but not one outgoing MESSAGE per alarm beyond this.
const MAX_ACKS_IN_FLIGHT: usize = 256;

/// Alarm and media status handling, owned by the catalog task (the MANSCDP consumer).
#[derive(Debug)]
pub(super) struct Alarms {
    acks: Arc<Semaphore>,
}

impl Alarms {
    pub fn new() -> Alarms {
        Alarms {
            acks: Arc::new(Semaphore::new(MAX_ACKS_IN_FLIGHT)),
        }
    }

    /// Publishes `alarm` from device `sender` and acknowledges it in the background.
    pub fn on_alarm(&self, ctx: &Arc<Ctx>, sender: DeviceId, alarm: Alarm, charset: Charset) {
        tracing::info!(
            device_id = %sender,
            channel_id = %alarm.device_id,
            sn = alarm.sn,
            priority = ?alarm.priority,
            method = ?alarm.method,
            alarm_type = ?alarm.alarm_type,
            "alarm"
        );
        let (sn, about) = (alarm.sn, alarm.device_id);
        ctx.events.publish(unix_ms(), alarm_event(sender, alarm));
        let Ok(permit) = self.acks.clone().try_acquire_owned() else {
            tracing::warn!(device_id = %sender, sn, "alarm not acknowledged: too many acknowledgements in flight");
            return;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = acknowledge(&ctx, sender, sn, about, charset).await {
                tracing::info!(device_id = %sender, sn, error = %e, "alarm acknowledgement not delivered");
            }
        });
    }

    /// Publishes a MediaStatus notification of device `sender`.
    pub fn on_media_status(&self, ctx: &Ctx, sender: DeviceId, status: &MediaStatus) {
        tracing::info!(
            device_id = %sender,
            channel_id = %status.device_id,
            notify_type = ?status.notify_type,
            "media status"
        );
        ctx.events
            .publish(unix_ms(), media_status_event(sender, status));
    }
}

/// The `alarm` event for `alarm` sent by `sender`.
fn alarm_event(sender: DeviceId, alarm: Alarm) -> EventKind {
    EventKind::Alarm {
        device_id: sender.to_string(),
        channel_id: alarm.device_id.to_string(),
        sn: alarm.sn,
        priority: alarm.priority,
        method: alarm.method,
        alarm_type: alarm.alarm_type,
        event_type: alarm.event_type,
        time: alarm.time,
        description: alarm.description,
        longitude: alarm.longitude,
        latitude: alarm.latitude,
        extra: alarm.extra,
    }
}

fn media_status_event(sender: DeviceId, status: &MediaStatus) -> EventKind {
    EventKind::MediaStatus {
        device_id: sender.to_string(),
        channel_id: status.device_id.to_string(),
        notify_type: status.notify_type.clone(),
        end_of_file: status.is_end_of_file(),
    }
}

/// `Response/Alarm` with `Result` OK for alarm `sn` about `about`, in the device's charset.
fn acknowledgement(sn: u32, about: DeviceId) -> Manscdp {
    Manscdp::AlarmResponse(ResultResponse {
        sn,
        device_id: about,
        result: Some("OK".into()),
    })
}

async fn acknowledge(
    ctx: &Ctx,
    sender: DeviceId,
    sn: u32,
    about: DeviceId,
    charset: Charset,
) -> Result<(), QueryError> {
    let route = ctx
        .registry
        .route(sender)
        .await
        .ok_or(QueryError::Offline)?;
    ctx.query(&route, &sender, &acknowledgement(sn, about), charset)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::events::Event;

    const NVR: &str = "34020000001180000001";

    /// An alarm as a Hikvision-style NVR sends it for video loss on channel 2, GB2312.
    fn video_loss_body() -> Vec<u8> {
        let xml = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n\
                   <CmdType>Alarm</CmdType>\r\n<SN>208</SN>\r\n<DeviceID>34020000001310000002</DeviceID>\r\n\
                   <AlarmPriority>1</AlarmPriority>\r\n<AlarmMethod>2</AlarmMethod>\r\n\
                   <AlarmTime>2026-11-26T10:15:30</AlarmTime>\r\n<AlarmDescription>视频丢失</AlarmDescription>\r\n\
                   <Info>\r\n<AlarmType>1</AlarmType>\r\n</Info>\r\n<Extra>x</Extra>\r\n</Notify>\r\n";
        vigil_gb::charset::encode_body(xml, Charset::Gb2312)
    }

    #[test]
    fn alarm_event_carries_the_parsed_fields() {
        let body = video_loss_body();
        // 视 in GB2312 is CA D3: the body really is GB2312.
        assert!(body.windows(2).any(|w| w == [0xCA, 0xD3]));
        let (msg, cs) = vigil_gb::parse_body(&body).unwrap();
        assert_eq!(cs, Charset::Gb2312);
        let Manscdp::AlarmNotify(alarm) = msg else {
            panic!("{msg:?}")
        };
        let ev = Event {
            at: 7,
            kind: alarm_event(NVR.parse().unwrap(), alarm),
        };
        assert_eq!(ev.kind.name(), "alarm");
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"at":7,"type":"alarm","device_id":"34020000001180000001","channel_id":"34020000001310000002","sn":208,"priority":1,"method":2,"alarm_type":"1","event_type":null,"time":"2026-11-26T10:15:30","description":"视频丢失","longitude":null,"latitude":null,"extra":{"Extra":"x"}}"#
        );
    }

    #[test]
    fn media_status_event_says_end_of_file() {
        let (msg, _) = vigil_gb::parse_body(
            b"<Notify><CmdType>MediaStatus</CmdType><SN>3</SN><DeviceID>34020000001310000001</DeviceID>\
              <NotifyType>121</NotifyType></Notify>",
        )
        .unwrap();
        let Manscdp::MediaStatusNotify(st) = msg else {
            panic!("{msg:?}")
        };
        let ev = Event {
            at: 1,
            kind: media_status_event(NVR.parse().unwrap(), &st),
        };
        assert_eq!(ev.kind.name(), "media_status");
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"at":1,"type":"media_status","device_id":"34020000001180000001","channel_id":"34020000001310000001","notify_type":"121","end_of_file":true}"#
        );
    }

    #[test]
    fn acknowledgement_is_a_response_alarm_with_the_alarm_sn() {
        let ack = acknowledgement(208, "34020000001310000002".parse().unwrap());
        assert_eq!(
            ack.to_xml(),
            "<Response>\r\n<CmdType>Alarm</CmdType>\r\n<SN>208</SN>\r\n\
             <DeviceID>34020000001310000002</DeviceID>\r\n<Result>OK</Result>\r\n</Response>\r\n"
        );
    }
}
