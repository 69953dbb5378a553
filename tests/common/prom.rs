//! A strict reader of the Prometheus text exposition format 0.0.4 for tests: every line
//! must be a HELP/TYPE comment or a well-formed sample of a family declared by TYPE before
//! it, a family's samples are contiguous, and no series repeats. Include it with
//! `#[path = "common/prom.rs"] mod prom;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Scrape {
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// The value of the series `name` whose labels include `labels`; panics when several
    /// match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
        found.first().map(|s| s.value)
    }

    /// The sum over the series of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|e| format!("value {s:?}: {e}")),
    }
}

/// Parses `text`; the error names the line and what is wrong with it.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape::default();
    let mut help_seen = HashSet::new();
    let mut finished_families = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    if !text.ends_with('\n') {
        return Err("the exposition must end with a line feed".into());
    }
    for (i, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut parts = rest.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _)
                    if !is_metric_name(name) || !help_seen.insert(name.to_owned()) =>
                {
                    return Err(err("bad or repeated HELP".into()));
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_metric_name(name) {
                        return Err(err("bad metric name".into()));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(err(format!("unknown type {kind}")));
                    }
                    if scrape
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(err("TYPE repeated".into()));
                    }
                    if let Some(prev) = current.replace(name.to_owned()) {
                        finished_families.insert(prev);
                    }
                }
                _ => {} // other comments are allowed
            }
            continue;
        }
        let (name_end, rest) = match line.find(['{', ' ']) {
            Some(p) => (p, &line[p..]),
            None => return Err(err("sample without a value".into())),
        };
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(err("bad metric name".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|f| {
                    matches!(
                        scrape.types.get(*f).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                })
            })
            .unwrap_or(name);
        if !scrape.types.contains_key(family) {
            return Err(err(format!("sample of {family} before its TYPE")));
        }
        if current.as_deref() != Some(family) || finished_families.contains(family) {
            return Err(err(format!("samples of {family} are not together")));
        }
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(after) = rest.strip_prefix('{') {
            let mut chars = after.char_indices().peekable();
            let mut end = None;
            loop {
                // label name
                let start = match chars.peek() {
                    Some((_, '}')) => {
                        end = chars.next().map(|(p, _)| p);
                        break;
                    }
                    Some((p, _)) => *p,
                    None => break,
                };
                let mut eq = None;
                for (p, c) in chars.by_ref() {
                    if c == '=' {
                        eq = Some(p);
                        break;
                    }
                }
                let eq = eq.ok_or_else(|| err("label without =".into()))?;
                let lname = &after[start..eq];
                if !is_label_name(lname) {
                    return Err(err(format!("bad label name {lname:?}")));
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(err("label value is not quoted".into()));
                }
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => return Err(err(format!("bad escape {other:?}"))),
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => return Err(err("raw line feed in a label value".into())),
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(err("unterminated label value".into()));
                }
                if labels.insert(lname.to_owned(), value).is_some() {
                    return Err(err(format!("label {lname} repeated")));
                }
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((p, '}')) => {
                        end = Some(p);
                        break;
                    }
                    _ => return Err(err("expected , or } after a label".into())),
                }
            }
            let end = end.ok_or_else(|| err("labels not closed".into()))?;
            rest = &after[end + 1..];
        }
        let mut fields = rest.split(' ').filter(|f| !f.is_empty());
        let value =
            parse_value(fields.next().ok_or_else(|| err("no value".into()))?).map_err(err)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|e| err(format!("timestamp: {e}")))?;
        }
        if fields.next().is_some() {
            return Err(err("trailing fields".into()));
        }
        if !series.insert(format!("{name}{labels:?}")) {
            return Err(err("series repeated".into()));
        }
        scrape.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(scrape)
}

#[test]
fn the_reader_refuses_what_prometheus_refuses() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\",y=\"\"} 3\n# TYPE b gauge\nb 1.5 1700000000000\n";
    let s = parse(ok).unwrap();
    assert_eq!(s.value("a_total", &[("x", "q\"\\\n")]), Some(3.0));
    for bad in [
        "a 1\n",                                      // no TYPE
        "# TYPE a gauge\na{x=1} 1\n",                 // unquoted
        "# TYPE a gauge\na 1\na 2\n",                 // repeated series
        "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n", // not contiguous
        "# TYPE a gauge\na one\n",                    // bad value
        "# TYPE a gauge\na 1",                        // no final line feed
        "# TYPE a-b gauge\n",                         // bad name
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}
