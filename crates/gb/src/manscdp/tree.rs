//! A small tolerant XML element tree built from quick-xml events: names kept as written
//! (lookups are case-insensitive), text trimmed and unescaped, attributes kept, depth and
//! element count bounded. The typed MANSCDP readers walk this tree.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use super::error::XmlError;

/// Deepest nesting accepted; MANSCDP needs 4-5 levels.
pub(crate) const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document (a large catalog packet has a few thousand).
pub(crate) const MAX_ELEMENTS: usize = 100_000;

/// One element: its name as written, attributes, trimmed text and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Name comparison that ignores ASCII case, as some firmware writes lowercase tags.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The first child called `name` (any case).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(name))
    }

    /// Text of the first child called `name`, or `None` when absent or empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// True when the element has no children (a field rather than a container).
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// Reads the root element of `xml`.
///
/// Tolerates what devices send: no declaration, comments, processing instructions, a
/// mismatched end-tag case (`<DeviceID>..</DeviceId>`), an end tag that closes several open
/// elements at once, a bare `&`, and anything after the root element. A document that
/// ends with elements still open is an error: it is most likely cut short.
pub(crate) fn read_root(xml: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(xml);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
        cfg.allow_dangling_amp = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError::Syntax {
            pos: reader.error_position(),
            detail: short(&e.to_string()),
        })?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep { pos });
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements { max: MAX_ELEMENTS });
                }
                stack.push(element_from(&start));
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements { max: MAX_ELEMENTS });
                }
                let el = element_from(&start);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(end) => {
                let name = end.name();
                let local = name.local_name();
                let local: &str = local.as_ref();
                // Close up to the innermost open element of that name; an end tag that
                // matches nothing open is ignored.
                let Some(depth) = stack.iter().rposition(|e| e.is(local)) else {
                    continue;
                };
                while stack.len() > depth {
                    let Some(mut done) = stack.pop() else { break };
                    finish_text(&mut done);
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    push_reference(&mut top.text, &r);
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => {
                return Err(match stack.first() {
                    Some(open) => XmlError::Unclosed {
                        name: short(&open.name),
                    },
                    None => XmlError::NoRoot,
                });
            }
        }
    }
}

fn element_from(start: &BytesStart<'_>) -> Element {
    let name = start.name();
    let local = name.local_name();
    let local: &str = local.as_ref();
    let mut attrs = Vec::new();
    let mut iter = start.attributes();
    iter.with_checks(false);
    // A malformed attribute (unquoted value, ...) ends attribute reading for this element
    // rather than the whole document; MANSCDP uses attributes only for list counts.
    for attr in iter.flatten() {
        let key = attr.key.local_name();
        let key: &str = key.as_ref();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| attr.value.clone().into_owned());
        attrs.push((key.to_owned(), value.trim().to_owned()));
    }
    Element {
        name: local.to_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
    }
}

fn finish_text(el: &mut Element) {
    let trimmed = el.text.trim();
    if trimmed.len() != el.text.len() {
        el.text = trimmed.to_owned();
    }
}

/// Appends the character an entity or character reference stands for; unknown entities
/// stay as written.
fn push_reference(out: &mut String, r: &BytesRef<'_>) {
    if let Ok(Some(ch)) = r.resolve_char_ref() {
        out.push(ch);
        return;
    }
    let name: &str = r;
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            out.push('&');
            out.push_str(name);
            out.push(';');
            return;
        }
    };
    out.push(ch);
}

/// Bounds text taken from untrusted input before it goes into an error message.
pub(crate) fn short(s: &str) -> String {
    const MAX: usize = 48;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_tree_with_trimmed_text_and_attributes() {
        let root = read_root(
            "<?xml version=\"1.0\"?>\r\n<Response>\r\n <SN> 7 </SN>\r\n<DeviceList Num=\"2\">\
             <Item/><Item><Name>a &amp; b &#x4E2D;</Name></Item></DeviceList></Response>",
        )
        .unwrap();
        assert_eq!(root.name, "Response");
        assert_eq!(root.child_text("sn"), Some("7"));
        let list = root.child("DEVICELIST").unwrap();
        assert_eq!(list.attrs, vec![("Num".to_owned(), "2".to_owned())]);
        assert_eq!(list.children.len(), 2);
        assert_eq!(list.children[1].child_text("Name"), Some("a & b 中"));
        assert_eq!(root.text, "");
    }

    #[test]
    fn tolerates_mismatched_end_case_and_bare_ampersand() {
        let root = read_root("<Notify><DeviceID>1</DeviceId><Name>A&B</Name></notify>").unwrap();
        assert_eq!(root.child_text("DeviceID"), Some("1"));
        assert_eq!(root.child_text("Name"), Some("A&B"));
    }

    #[test]
    fn end_tag_closes_unclosed_children() {
        let root = read_root("<Notify><A><B>x</A><C>y</C></Notify>").unwrap();
        assert_eq!(root.child("A").unwrap().child_text("B"), Some("x"));
        assert_eq!(root.child_text("C"), Some("y"));
    }

    #[test]
    fn ignores_stray_end_tags_and_trailing_content() {
        let root = read_root("<Notify></Stray><A>1</A></Notify>garbage<x>").unwrap();
        assert_eq!(root.child_text("A"), Some("1"));
    }

    #[test]
    fn cut_document_is_unclosed() {
        assert_eq!(
            read_root("<Response><DeviceList><Item>"),
            Err(XmlError::Unclosed {
                name: "Response".into()
            })
        );
        assert_eq!(read_root("  "), Err(XmlError::NoRoot));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(read_root(&deep), Err(XmlError::TooDeep { .. })));
    }

    #[test]
    fn element_count_is_bounded() {
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(
            read_root(&many),
            Err(XmlError::TooManyElements { max: MAX_ELEMENTS })
        );
    }

    #[test]
    fn syntax_error_reports_position() {
        match read_root("<a><b attr=\"1></a>") {
            Err(XmlError::Syntax { pos, .. }) => assert!(pos <= 18, "pos {pos}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn short_cuts_on_char_boundary() {
        let s = "中".repeat(40);
        let cut = short(&s);
        assert!(cut.ends_with("..."));
        assert!(cut.len() <= 51);
    }
}
