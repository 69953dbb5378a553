//! Reading typed fields out of the element tree, with errors that name the element path.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::error::XmlError;
use super::tree::{Element, short};
use crate::id::DeviceId;

/// Text of a required child; absent or empty is `Missing`.
pub(crate) fn req_text<'a>(el: &'a Element, name: &str, at: &str) -> Result<&'a str, XmlError> {
    el.child_text(name).ok_or_else(|| XmlError::Missing {
        path: format!("{at}/{name}"),
    })
}

/// A required 20-digit ID.
pub(crate) fn req_id(el: &Element, name: &str, at: &str) -> Result<DeviceId, XmlError> {
    let text = req_text(el, name, at)?;
    text.parse()
        .map_err(|e: crate::id::IdError| XmlError::Invalid {
            path: format!("{at}/{name}"),
            reason: e.to_string(),
        })
}

/// A required number.
pub(crate) fn req_num<T: FromStr>(el: &Element, name: &str, at: &str) -> Result<T, XmlError> {
    let text = req_text(el, name, at)?;
    parse_num(text, name, at)
}

/// Optional text, owned; absent or empty is `None`.
pub(crate) fn opt_text(el: &Element, name: &str) -> Option<String> {
    el.child_text(name).map(str::to_owned)
}

fn parse_num<T: FromStr>(text: &str, name: &str, at: &str) -> Result<T, XmlError> {
    text.parse().map_err(|_| XmlError::Invalid {
        path: format!("{at}/{name}"),
        reason: format!("not a number: {:?}", short(text)),
    })
}

/// A finite float, as coordinates must be (`NaN` would break equality and print badly).
pub(crate) fn finite_f64(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Keeps a leaf child that no typed field took, by its name as sent.
pub(crate) fn keep_extra(extra: &mut BTreeMap<String, String>, child: &Element) {
    if child.is_leaf() {
        extra.insert(child.name.clone(), child.text.clone());
    }
}

/// Sets an optional text field; empty text is `None`.
pub(crate) fn set_text(field: &mut Option<String>, text: &str) -> bool {
    *field = (!text.is_empty()).then(|| text.to_owned());
    true
}

/// Sets an optional parsed field; empty text is `None`; text that does not parse leaves
/// the field alone and returns false so the caller keeps it as raw text.
pub(crate) fn set_parsed<T: FromStr>(field: &mut Option<T>, text: &str) -> bool {
    if text.is_empty() {
        *field = None;
        return true;
    }
    match text.parse() {
        Ok(v) => {
            *field = Some(v);
            true
        }
        Err(_) => false,
    }
}

/// Sets an optional finite float; like [`set_parsed`].
pub(crate) fn set_f64(field: &mut Option<f64>, text: &str) -> bool {
    if text.is_empty() {
        *field = None;
        return true;
    }
    match finite_f64(text) {
        Some(v) => {
            *field = Some(v);
            true
        }
        None => false,
    }
}
