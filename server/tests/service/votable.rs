//! A minimal VOTable reader for assertions: FIELD attributes, TD cells and INFO elements.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) fields: Vec<HashMap<String, String>>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
    /// (name, value, content) of every INFO, in order, with whether it followed the TABLE.
    pub(crate) infos: Vec<(String, String, String, bool)>,
}

impl Parsed {
    pub(crate) fn status(&self) -> Vec<(&str, bool)> {
        self.infos
            .iter()
            .filter(|i| i.0 == "QUERY_STATUS")
            .map(|i| (i.1.as_str(), i.3))
            .collect()
    }

    pub(crate) fn column(&self, name: &str) -> Vec<Option<String>> {
        let i = self
            .fields
            .iter()
            .position(|f| f.get("name").map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no FIELD {name}"));
        self.rows.iter().map(|r| r[i].clone()).collect()
    }
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .filter_map(Result::ok)
        .map(|a| {
            (
                String::from_utf8_lossy(a.key.as_ref()).to_string(),
                a.unescape_value()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Parses a TABLEDATA VOTable; panics on malformed XML.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut r = Reader::from_str(text);
    let mut out = Parsed::default();
    let mut row: Option<Vec<Option<String>>> = None;
    let mut cell: Option<String> = None;
    let mut info: Option<(String, String, String, bool)> = None;
    let mut after_table = false;
    loop {
        match r.read_event().expect("well-formed VOTable") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"FIELD" => {
                out.fields.push(attrs(&e));
            }
            Event::Start(e) if e.name().as_ref() == b"TR" => row = Some(Vec::new()),
            Event::End(e) if e.name().as_ref() == b"TR" => {
                out.rows.extend(row.take());
            }
            Event::Start(e) if e.name().as_ref() == b"TD" => cell = Some(String::new()),
            Event::Empty(e) if e.name().as_ref() == b"TD" => {
                if let Some(r) = row.as_mut() {
                    r.push(None);
                }
            }
            Event::Text(t) => {
                let s = t.decode().map(|s| s.to_string()).unwrap_or_default();
                let s = quick_xml::escape::unescape(&s)
                    .map(|c| c.to_string())
                    .unwrap_or(s);
                if let Some(c) = cell.as_mut() {
                    c.push_str(&s);
                }
                if let Some(i) = info.as_mut() {
                    i.2.push_str(&s);
                }
            }
            Event::GeneralRef(g) => {
                let name: &[u8] = &g;
                let s = match name {
                    b"lt" => "<",
                    b"gt" => ">",
                    b"amp" => "&",
                    b"quot" => "\"",
                    b"apos" => "'",
                    _ => "",
                };
                if let Some(c) = cell.as_mut() {
                    c.push_str(s);
                }
                if let Some(i) = info.as_mut() {
                    i.2.push_str(s);
                }
            }
            Event::End(e) if e.name().as_ref() == b"TD" => {
                let c = cell.take().unwrap_or_default();
                if let Some(r) = row.as_mut() {
                    r.push(if c.is_empty() { None } else { Some(c) });
                }
            }
            Event::Start(e) if e.name().as_ref() == b"INFO" => {
                let a = attrs(&e);
                info = Some((
                    a.get("name").cloned().unwrap_or_default(),
                    a.get("value").cloned().unwrap_or_default(),
                    String::new(),
                    after_table,
                ));
            }
            Event::Empty(e) if e.name().as_ref() == b"INFO" => {
                let a = attrs(&e);
                out.infos.push((
                    a.get("name").cloned().unwrap_or_default(),
                    a.get("value").cloned().unwrap_or_default(),
                    String::new(),
                    after_table,
                ));
            }
            Event::End(e) if e.name().as_ref() == b"INFO" => out.infos.extend(info.take()),
            Event::End(e) if e.name().as_ref() == b"TABLE" => after_table = true,
            Event::Eof => break,
            _ => {}
        }
    }
    out
}
