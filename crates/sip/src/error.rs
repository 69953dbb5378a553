//! Errors of the message parser and of the typed header parsers. Each says what failed and where,
//! short enough to be a 400 reason phrase.

use std::fmt;

use crate::header::Headers;
use crate::message::{Response, StatusCode};

/// Why a message was rejected. The `Display` text is a short reason fit for a reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("empty message")]
    Empty,
    #[error("no blank line after headers")]
    Incomplete,
    #[error("message too large")]
    TooLarge,
    #[error("bad request line: {0}")]
    RequestLine(&'static str),
    #[error("bad status line: {0}")]
    StatusLine(&'static str),
    #[error("unsupported SIP version")]
    Version,
    #[error("bad Request-URI: {0}")]
    RequestUri(&'static str),
    #[error("bad header line: {0}")]
    HeaderLine(&'static str),
    #[error("too many headers")]
    TooManyHeaders,
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("bad {name} header: {why}")]
    BadHeader {
        name: &'static str,
        why: &'static str,
    },
    #[error("body shorter than Content-Length ({declared} declared, {actual} present)")]
    BodyTruncated { declared: usize, actual: usize },
    #[error("Content-Length required on a stream")]
    MissingContentLength,
}

/// A rejected message: what failed, the byte offset in the input where it was noticed, and, when the
/// message was a request whose Via/From/To/Call-ID/CSeq could be read, those headers so the caller
/// can answer 400 (see [`ParseError::bad_request`]).
#[derive(Clone)]
pub struct ParseError {
    kind: ErrorKind,
    offset: usize,
    answerable: Option<Box<Headers>>,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        ParseError {
            kind,
            offset,
            answerable: None,
        }
    }

    pub(crate) fn with_answerable(mut self, headers: Option<Headers>) -> Self {
        self.answerable = headers.map(Box::new);
        self
    }

    /// What failed.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Byte offset in the input where the problem was noticed.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// A short reason (no offset), for a SIP reason phrase.
    pub fn reason(&self) -> String {
        self.kind.to_string()
    }

    /// The request headers that a 400 response would copy, when the input was a request (not ACK)
    /// with readable Via, From, To, Call-ID and CSeq.
    pub fn answerable_headers(&self) -> Option<&Headers> {
        self.answerable.as_deref()
    }

    /// The status code to answer with: 505 for another SIP version, 513 for an oversized message,
    /// 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::Version => StatusCode::VERSION_NOT_SUPPORTED,
            ErrorKind::TooLarge => StatusCode::MESSAGE_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error response (`400 <reason>`, or 505/513, see [`ParseError::status`]) for a malformed
    /// but answerable request, copying Via/From/To/Call-ID/CSeq as RFC 3261 §8.2.6 asks.
    /// RFC 3261 §8.2.6.2 wants a To tag on it: `err.bad_request().map(|r| r.with_to_tag(&tag))`.
    pub fn bad_request(&self) -> Option<Response> {
        let headers = self.answerable.as_deref()?;
        Some(Response::answering(
            headers,
            self.status(),
            &self.reason(),
            None,
        ))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.kind, self.offset)
    }
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("kind", &self.kind)
            .field("offset", &self.offset)
            .field("answerable", &self.answerable.is_some())
            .finish()
    }
}

impl std::error::Error for ParseError {}

/// A typed header that could not be read: which header, why, and the byte offset inside its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {name} header: {why}")]
pub struct HeaderError {
    pub name: &'static str,
    pub why: &'static str,
    pub offset: usize,
}

impl HeaderError {
    pub(crate) fn new(name: &'static str, why: &'static str, offset: usize) -> Self {
        HeaderError { name, why, offset }
    }
    pub(crate) fn missing(name: &'static str) -> Self {
        HeaderError {
            name,
            why: "missing",
            offset: 0,
        }
    }
}

/// Build the 400 response for `err` if the request was answerable. Same as [`ParseError::bad_request`].
pub fn bad_request_response(err: &ParseError) -> Option<Response> {
    err.bad_request()
}
