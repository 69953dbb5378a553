//! Framing SIP messages on a byte stream (TCP, TLS; RFC 3261 §18.3): feed bytes, take whole
//! messages. Content-Length is mandatory, messages are capped at [`MAX_MESSAGE_SIZE`], and
//! RFC 5626 keep-alives between messages are reported (CRLFCRLF ping, CRLF pong).
//! The same frames come out however the stream is split.

use bytes::BytesMut;

use crate::error::ParseError;
use crate::message::Message;
use crate::parser::{Framing, MAX_MESSAGE_SIZE, find_head_end, parse_message, scan_content_length};

/// A keep-alive seen between messages (RFC 5626 §3.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// Double CRLF: a client's ping; answer with a single CRLF if you support RFC 5626.
    Ping,
    /// Single CRLF: a pong (reported once the next byte shows it is not the start of a ping).
    Pong,
}

/// One item from the stream.
// Keep-alives are rare and frames short-lived: boxing the message would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    KeepAlive(KeepAlive),
    Message(Message),
}

/// A framing failure. [`FrameError::Parse`] is per message and the stream goes on; the others
/// lose the message boundaries, so the framer stops and the connection should be closed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FrameError {
    #[error("message larger than {MAX_MESSAGE_SIZE} bytes")]
    TooLarge,
    #[error("Content-Length required on a stream")]
    MissingContentLength,
    #[error("bad Content-Length header: {0}")]
    BadContentLength(&'static str),
    /// A well-framed message that did not parse; see [`ParseError::bad_request`] to answer it.
    #[error(transparent)]
    Parse(ParseError),
}

impl FrameError {
    /// True when the framer stopped and the connection should be closed.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FrameError::Parse(_))
    }
}

/// Push/pull framer for one connection.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: BytesMut,
    /// Where to resume looking for the end of the header section (avoids rescanning).
    scanned: usize,
    failed: bool,
}

impl StreamFramer {
    pub fn new() -> StreamFramer {
        StreamFramer::default()
    }

    /// Append bytes read from the connection. Ignored after a fatal error.
    pub fn push(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes held that are not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True once a fatal error was returned.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    fn fail(&mut self, e: FrameError) -> Option<Result<Frame, FrameError>> {
        self.failed = true;
        self.buf = BytesMut::new();
        Some(Err(e))
    }

    /// The next whole frame, or `None` until more bytes are pushed.
    #[allow(clippy::should_implement_trait)] // not an Iterator: `None` means "push more", not "done"
    pub fn next(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.failed {
            return None;
        }
        // Keep-alives and stray line feeds between messages.
        loop {
            match self.buf.first()? {
                b'\n' => {
                    let _ = self.buf.split_to(1);
                }
                b'\r' => match (self.buf.get(1), self.buf.get(2), self.buf.get(3)) {
                    (None, _, _) | (Some(b'\n'), None, _) | (Some(b'\n'), Some(b'\r'), None) => {
                        return None;
                    }
                    (Some(b'\n'), Some(b'\r'), Some(b'\n')) => {
                        let _ = self.buf.split_to(4);
                        self.scanned = 0;
                        return Some(Ok(Frame::KeepAlive(KeepAlive::Ping)));
                    }
                    (Some(b'\n'), _, _) => {
                        let _ = self.buf.split_to(2);
                        self.scanned = 0;
                        return Some(Ok(Frame::KeepAlive(KeepAlive::Pong)));
                    }
                    // A lone CR: let the message parser reject what follows.
                    _ => break,
                },
                _ => break,
            }
        }
        let Some((head_end, body_start)) = find_head_end(&self.buf, self.scanned) else {
            if self.buf.len() > MAX_MESSAGE_SIZE {
                return self.fail(FrameError::TooLarge);
            }
            self.scanned = self.buf.len().saturating_sub(3);
            return None;
        };
        let content_length = match scan_content_length(&self.buf[..head_end]) {
            Ok(Some(n)) => n,
            Ok(None) => return self.fail(FrameError::MissingContentLength),
            Err("too large") => return self.fail(FrameError::TooLarge),
            Err(why) => return self.fail(FrameError::BadContentLength(why)),
        };
        let total = body_start + content_length;
        if total > MAX_MESSAGE_SIZE {
            return self.fail(FrameError::TooLarge);
        }
        if self.buf.len() < total {
            // Header end stays known; resume from there, not from zero.
            self.scanned = head_end;
            return None;
        }
        let frame = self.buf.split_to(total).freeze();
        self.scanned = 0;
        Some(match parse_message(frame, Framing::Stream) {
            Ok(m) => Ok(Frame::Message(m)),
            Err(e) => Err(FrameError::Parse(e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG1: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.168.1.64:5060;rport;branch=z9hG4bK1\r\n\
From: <sip:34020000001320000001@3402000000>;tag=1\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1\r\nCSeq: 1 REGISTER\r\nl: 0\r\n\r\n";
    const MSG2: &[u8] = b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.168.1.64:5060;rport;branch=z9hG4bK2\r\n\
From: <sip:34020000001320000001@3402000000>;tag=2\r\n\
To: <sip:34020000002000000001@3402000000>\r\n\
Call-ID: 2\r\nCSeq: 2 MESSAGE\r\nContent-Type: Application/MANSCDP+xml\r\nContent-Length: 12\r\n\r\n<Notify>\r\n\r\n";
    const BAD_CSEQ: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK3\r\nFrom: <sip:c@d>;tag=3\r\n\
To: <sip:a@b>\r\nCall-ID: 3\r\nCSeq: 3 INVITE\r\nContent-Length: 0\r\n\r\n";

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(b"\r\n\r\n");
        s.extend_from_slice(MSG1);
        s.extend_from_slice(b"\r\n");
        s.extend_from_slice(MSG2);
        s.extend_from_slice(BAD_CSEQ);
        s.extend_from_slice(b"\r\n\r\n");
        s.extend_from_slice(MSG1);
        s
    }

    fn drain(f: &mut StreamFramer, out: &mut Vec<String>) {
        while let Some(r) = f.next() {
            out.push(match r {
                Ok(Frame::Message(m)) => format!("msg {m:?}"),
                Ok(Frame::KeepAlive(k)) => format!("{k:?}"),
                Err(e) => format!("err {e}"),
            });
        }
    }

    fn frames_with_splits(data: &[u8], cuts: &[usize]) -> Vec<String> {
        let mut f = StreamFramer::new();
        let mut out = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            f.push(&data[prev..c]);
            drain(&mut f, &mut out);
            prev = c;
        }
        out
    }

    #[test]
    fn frames_messages_keepalives_and_bad_messages() {
        let out = frames_with_splits(&stream(), &[]);
        assert_eq!(out.len(), 7, "{out:#?}");
        assert_eq!(out[0], "Ping");
        assert!(out[1].starts_with("msg Request"));
        assert_eq!(out[2], "Pong");
        assert!(out[3].contains("<Notify>"));
        assert_eq!(out[4], "err bad CSeq header: method mismatch (at byte 117)");
        assert_eq!(out[5], "Ping");
        assert!(out[6].starts_with("msg Request"));
    }

    #[test]
    fn same_frames_for_a_split_at_every_offset() {
        let data = stream();
        let whole = frames_with_splits(&data, &[]);
        for i in 0..=data.len() {
            assert_eq!(frames_with_splits(&data, &[i]), whole, "split at {i}");
        }
    }

    #[test]
    fn same_frames_when_fed_one_byte_at_a_time() {
        let data = stream();
        let cuts: Vec<usize> = (1..data.len()).collect();
        assert_eq!(
            frames_with_splits(&data, &cuts),
            frames_with_splits(&data, &[])
        );
    }

    #[test]
    fn body_is_exactly_content_length_and_rest_stays_buffered() {
        let mut f = StreamFramer::new();
        f.push(MSG2);
        f.push(b"INVITE");
        match f.next() {
            Some(Ok(Frame::Message(m))) => assert_eq!(&m.body()[..], b"<Notify>\r\n\r\n"),
            other => panic!("{other:?}"),
        }
        assert!(f.next().is_none());
        assert_eq!(f.buffered(), 6);
    }

    #[test]
    fn missing_content_length_is_fatal() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n");
        let e = f.next().unwrap().unwrap_err();
        assert!(matches!(e, FrameError::MissingContentLength) && e.is_fatal());
        f.push(MSG1);
        assert!(f.next().is_none());
        assert!(f.has_failed());
    }

    #[test]
    fn oversized_messages_are_rejected() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 65536\r\n\r\n");
        assert!(matches!(f.next(), Some(Err(FrameError::TooLarge))));

        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nX: ");
        f.push(&vec![b'a'; MAX_MESSAGE_SIZE]);
        assert!(matches!(f.next(), Some(Err(FrameError::TooLarge))));

        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n");
        assert!(matches!(f.next(), Some(Err(FrameError::TooLarge))));
    }

    #[test]
    fn negative_content_length_is_fatal() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert!(matches!(
            f.next(),
            Some(Err(FrameError::BadContentLength("not a number")))
        ));
    }

    #[test]
    fn lone_crlf_waits_for_the_next_byte() {
        let mut f = StreamFramer::new();
        f.push(b"\r\n");
        assert!(f.next().is_none());
        f.push(b"\r");
        assert!(f.next().is_none());
        f.push(b"\n");
        assert_eq!(
            f.next().unwrap().unwrap(),
            Frame::KeepAlive(KeepAlive::Ping)
        );
    }
}
