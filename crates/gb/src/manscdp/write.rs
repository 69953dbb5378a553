//! Printing MANSCDP documents: one element per line with CRLF line ends, as devices and
//! other platforms write them, text escaped, no XML declaration (the charset layer adds it).

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};

use quick_xml::escape::{escape, partial_escape};

use super::Root;
use crate::id::DeviceId;

/// Accumulates one document. Writing to a `String` cannot fail, so `write!` results are
/// ignored on purpose.
#[derive(Debug)]
pub(crate) struct XmlWriter {
    out: String,
    root: Root,
}

impl XmlWriter {
    /// Starts `<Root>` with the CmdType/SN/DeviceID header every message carries.
    pub fn new(root: Root, cmd_type: &str, sn: u32, device_id: &DeviceId) -> Self {
        let mut w = Self {
            out: String::with_capacity(256),
            root,
        };
        w.out.push('<');
        w.out.push_str(root.as_str());
        w.out.push_str(">\r\n");
        w.leaf("CmdType", cmd_type);
        w.leaf("SN", sn);
        w.leaf("DeviceID", device_id);
        w
    }

    pub fn start(&mut self, name: &str) {
        let _ = write!(self.out, "<{name}>\r\n");
    }

    /// `<Name Num="n">`, the form of every list in MANSCDP.
    pub fn start_list(&mut self, name: &str, num: usize) {
        let _ = write!(self.out, "<{name} Num=\"{num}\">\r\n");
    }

    pub fn end(&mut self, name: &str) {
        let _ = write!(self.out, "</{name}>\r\n");
    }

    pub fn leaf(&mut self, name: &str, value: impl Display) {
        let text = value.to_string();
        let _ = write!(
            self.out,
            "<{name}>{}</{name}>\r\n",
            partial_escape(text.as_str())
        );
    }

    pub fn opt<T: Display>(&mut self, name: &str, value: Option<T>) {
        if let Some(v) = value {
            self.leaf(name, v);
        }
    }

    /// Unknown fields kept from a parse. Keys that are not plain XML names (they may have
    /// come back from JSON) are skipped rather than producing broken XML.
    pub fn extras(&mut self, extra: &BTreeMap<String, String>) {
        for (k, v) in extra {
            if is_plain_name(k) {
                self.leaf(k, v);
            }
        }
    }

    /// `<Name attr="value"/>`, used for empty lists.
    #[allow(dead_code)]
    pub fn empty_with_attr(&mut self, name: &str, attr: &str, value: &str) {
        let _ = write!(self.out, "<{name} {attr}=\"{}\"/>\r\n", escape(value));
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</");
        self.out.push_str(self.root.as_str());
        self.out.push_str(">\r\n");
        self.out
    }
}

/// A name we can print as an element: letters, digits, `_`, `-`, `.`, not starting with a
/// digit, `-` or `.`, no namespace colon.
pub(crate) fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_and_escapes_text() {
        let id: DeviceId = "34020000001320000001".parse().unwrap();
        let mut w = XmlWriter::new(Root::Notify, "Keepalive", 43, &id);
        w.leaf("Name", "a<b & c>");
        let mut extra = BTreeMap::new();
        extra.insert("Custom".to_owned(), "1".to_owned());
        extra.insert("bad name".to_owned(), "x".to_owned());
        extra.insert("xml:lang".to_owned(), "x".to_owned());
        w.extras(&extra);
        assert_eq!(
            w.finish(),
            "<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>43</SN>\r\n\
             <DeviceID>34020000001320000001</DeviceID>\r\n<Name>a&lt;b &amp; c&gt;</Name>\r\n\
             <Custom>1</Custom>\r\n</Notify>\r\n"
        );
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name("PTZType"));
        assert!(is_plain_name("_x-1.2"));
        assert!(is_plain_name("名称"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name("1abc"));
        assert!(!is_plain_name("a b"));
        assert!(!is_plain_name("a:b"));
        assert!(!is_plain_name("a<b"));
    }
}
