//! The one error type of MANSCDP reading: what went wrong and where, short enough to be a
//! SIP 400 reason phrase.

/// Why a MANSCDP body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The body is larger than the decoder accepts.
    #[error("body too large: {len} bytes")]
    TooLarge {
        /// Length of the body.
        len: usize,
    },
    /// quick-xml could not read the document; `pos` is a byte offset into the text.
    #[error("malformed XML at byte {pos}: {detail}")]
    Syntax {
        /// Byte offset of the problem.
        pos: u64,
        /// quick-xml's description, shortened.
        detail: String,
    },
    /// Elements nested deeper than any MANSCDP message needs.
    #[error("XML nested too deep at byte {pos}")]
    TooDeep {
        /// Byte offset of the element that was one too deep.
        pos: u64,
    },
    /// More elements than any MANSCDP message needs.
    #[error("more than {max} XML elements")]
    TooManyElements {
        /// The limit.
        max: usize,
    },
    /// The body has no element at all.
    #[error("no root element")]
    NoRoot,
    /// The document ended with this element still open (probably cut short).
    #[error("unclosed element <{name}>")]
    Unclosed {
        /// Name of the outermost open element.
        name: String,
    },
    /// The root is not Query, Response, Notify or Control.
    #[error("unknown root element <{name}>")]
    UnknownRoot {
        /// The root element's name as sent (shortened).
        name: String,
    },
    /// A required element is absent or empty; `path` is like `Notify/SN`.
    #[error("missing {path}")]
    Missing {
        /// Where the element was expected.
        path: String,
    },
    /// An element's text is not what the field allows.
    #[error("invalid {path}: {reason}")]
    Invalid {
        /// Which element, like `Response/DeviceList/Item[3]/DeviceID`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl XmlError {
    /// The message as a SIP reason phrase: printable ASCII only, at most 100 characters.
    pub fn reason_phrase(&self) -> String {
        let mut out: String = self
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(100)
            .collect();
        out.truncate(out.trim_end().len());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrase_is_printable_ascii() {
        let e = XmlError::UnknownRoot {
            name: "根\r\n".into(),
        };
        assert_eq!(e.reason_phrase(), "unknown root element <???>");
        let e = XmlError::Missing {
            path: "Notify/SN".into(),
        };
        assert_eq!(e.reason_phrase(), "missing Notify/SN");
    }
}
