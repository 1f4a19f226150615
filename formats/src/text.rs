//! Cell formatting shared by the text writers (TABLEDATA, CSV, TSV, JSON).
//!
//! A column of a row range is formatted into one [`ColumnText`] (a byte buffer plus cell end
//! offsets) by a loop specialised for the column's type; the writers then interleave the
//! columns row by row. Numbers use `itoa`/`ryu` (shortest round-trip floats).

use std::ops::Range;

use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::TimeUnit;

use crate::columns::{Bins, Column, Leaf, Strs, View};

/// Which text dialect a cell is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// VOTable TABLEDATA: XML-escaped, booleans T/F, NaN/+Inf/-Inf.
    Xml,
    /// RFC 4180 CSV: quoted when needed.
    Csv,
    /// TSV: tabs and line breaks inside values become spaces.
    Tsv,
    /// JSON: quoted strings, `null` for NULL/NaN/Inf, arrays as JSON arrays.
    Json,
}

/// Formatted cells of one column for a range of rows.
#[derive(Default)]
pub(crate) struct ColumnText {
    pub(crate) buf: Vec<u8>,
    pub(crate) ends: Vec<usize>,
}

impl ColumnText {
    #[inline]
    pub(crate) fn cell(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

/// Numbers and booleans written as text.
pub(crate) trait TextValue: Copy {
    fn put(self, style: Style, out: &mut Vec<u8>);
}

macro_rules! int_text {
    ($($t:ty),*) => {$(
        impl TextValue for $t {
            #[inline]
            fn put(self, _: Style, out: &mut Vec<u8>) {
                out.extend_from_slice(itoa::Buffer::new().format(self).as_bytes());
            }
        }
    )*};
}
int_text!(i16, i32, i64, u8);

macro_rules! float_text {
    ($($t:ty),*) => {$(
        impl TextValue for $t {
            #[inline]
            fn put(self, style: Style, out: &mut Vec<u8>) {
                if self.is_finite() {
                    out.extend_from_slice(ryu::Buffer::new().format_finite(self).as_bytes());
                } else if style == Style::Json {
                    out.extend_from_slice(b"null");
                } else if self.is_nan() {
                    out.extend_from_slice(b"NaN");
                } else if self > 0.0 {
                    out.extend_from_slice(b"+Inf");
                } else {
                    out.extend_from_slice(b"-Inf");
                }
            }
        }
    )*};
}
float_text!(f32, f64);

impl TextValue for bool {
    #[inline]
    fn put(self, style: Style, out: &mut Vec<u8>) {
        let s: &[u8] = match (style, self) {
            (Style::Xml, true) => b"T",
            (Style::Xml, false) => b"F",
            (_, true) => b"true",
            (_, false) => b"false",
        };
        out.extend_from_slice(s);
    }
}

/// Format rows `rows` of `col` into `ct` (cleared first).
pub(crate) fn format_column(
    col: &Column<'_>,
    rows: Range<usize>,
    style: Style,
    ct: &mut ColumnText,
) {
    ct.buf.clear();
    ct.ends.clear();
    match col.view {
        View::Scalar(leaf) => match leaf {
            Leaf::Bool(a) => cells(col, rows, style, ct, |r, o| a.value(r).put(style, o)),
            Leaf::I16(v) => cells(col, rows, style, ct, |r, o| v[r].put(style, o)),
            Leaf::I32(v) => cells(col, rows, style, ct, |r, o| v[r].put(style, o)),
            Leaf::I64(v) => cells(col, rows, style, ct, |r, o| v[r].put(style, o)),
            Leaf::F32(v) => cells(col, rows, style, ct, |r, o| v[r].put(style, o)),
            Leaf::F64(v) => cells(col, rows, style, ct, |r, o| v[r].put(style, o)),
        },
        View::Str(s) => match s {
            Strs::Utf8(a) => cells(col, rows, style, ct, |r, o| put_str(a.value(r), style, o)),
            Strs::Large(a) => cells(col, rows, style, ct, |r, o| put_str(a.value(r), style, o)),
            Strs::View(a) => cells(col, rows, style, ct, |r, o| put_str(a.value(r), style, o)),
        },
        View::Bytes(b) => cells(col, rows, style, ct, |r, o| put_bytes(b, r, style, o)),
        View::Date(d) => cells(col, rows, style, ct, |r, o| {
            quoted(style, o, |o| put_date(i64::from(d[r]), o))
        }),
        View::Timestamp(v, unit) => cells(col, rows, style, ct, |r, o| {
            quoted(style, o, |o| put_timestamp(v[r], unit, o))
        }),
        View::FixedList(leaf, inner, n) => cells(col, rows, style, ct, |r, o| {
            put_elems(leaf, inner, r * n..r * n + n, style, o)
        }),
        View::List(leaf, inner, offs) => cells(col, rows, style, ct, |r, o| {
            let (s, e) = offs.range(r);
            put_elems(leaf, inner, s..e, style, o)
        }),
    }
}

#[inline(always)]
fn cells(
    col: &Column<'_>,
    rows: Range<usize>,
    style: Style,
    ct: &mut ColumnText,
    mut f: impl FnMut(usize, &mut Vec<u8>),
) {
    let null_text: &[u8] = if style == Style::Json { b"null" } else { b"" };
    let buf = &mut ct.buf;
    if col.has_nulls() {
        for r in rows {
            if col.is_null(r) {
                buf.extend_from_slice(null_text);
            } else {
                f(r, buf);
            }
            ct.ends.push(buf.len());
        }
    } else {
        for r in rows {
            f(r, buf);
            ct.ends.push(buf.len());
        }
    }
}

#[inline]
fn quoted(style: Style, out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    if style == Style::Json {
        out.push(b'"');
        f(out);
        out.push(b'"');
    } else {
        f(out);
    }
}

/// Array cells: space-separated (DALI §3.2), or a JSON array. Text formats write NULL
/// float elements as NaN and NULL integer elements as their stored value.
fn put_elems(
    leaf: Leaf<'_>,
    nulls: Option<&NullBuffer>,
    idx: Range<usize>,
    style: Style,
    o: &mut Vec<u8>,
) {
    fn run<T: TextValue>(
        idx: Range<usize>,
        nulls: Option<&NullBuffer>,
        style: Style,
        o: &mut Vec<u8>,
        get: impl Fn(usize) -> T,
        null: Option<T>,
    ) {
        let json = style == Style::Json;
        if json {
            o.push(b'[');
        }
        let first = idx.start;
        for i in idx {
            if i != first {
                o.push(if json { b',' } else { b' ' });
            }
            if nulls.is_some_and(|n| n.is_null(i)) {
                match (json, null) {
                    (true, _) => o.extend_from_slice(b"null"),
                    (false, Some(v)) => v.put(style, o),
                    (false, None) => get(i).put(style, o),
                }
            } else {
                get(i).put(style, o);
            }
        }
        if json {
            o.push(b']');
        }
    }
    match leaf {
        Leaf::Bool(a) => run(idx, nulls, style, o, |i| a.value(i), None),
        Leaf::I16(v) => run(idx, nulls, style, o, |i| v[i], None),
        Leaf::I32(v) => run(idx, nulls, style, o, |i| v[i], None),
        Leaf::I64(v) => run(idx, nulls, style, o, |i| v[i], None),
        Leaf::F32(v) => run(idx, nulls, style, o, |i| v[i], Some(f32::NAN)),
        Leaf::F64(v) => run(idx, nulls, style, o, |i| v[i], Some(f64::NAN)),
    }
}

fn put_bytes(b: Bins<'_>, r: usize, style: Style, o: &mut Vec<u8>) {
    let v = b.value(r);
    let json = style == Style::Json;
    if json {
        o.push(b'[');
    }
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            o.push(if json { b',' } else { b' ' });
        }
        x.put(style, o);
    }
    if json {
        o.push(b']');
    }
}

#[inline]
pub(crate) fn put_str(s: &str, style: Style, o: &mut Vec<u8>) {
    match style {
        Style::Xml => escape_xml(s, false, o),
        Style::Csv => put_csv(s, o),
        Style::Tsv => put_tsv(s, o),
        Style::Json => put_json_str(s, o),
    }
}

/// Bytes that need attention in XML text/attributes: markup, controls, and 0xEF (the lead
/// byte of U+FFFE/U+FFFF, which XML 1.0 forbids).
static XML_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[0xEF] = true;
    t
};

/// XML-escape `s`. Characters XML 1.0 cannot carry (C0 controls other than tab/LF/CR,
/// U+FFFE, U+FFFF) become U+FFFD. CR is written as `&#13;` so parsers keep it; in
/// attributes tab and LF are escaped too, as attribute normalisation would eat them.
pub(crate) fn escape_xml(s: &str, attr: bool, o: &mut Vec<u8>) {
    let b = s.as_bytes();
    if !b.iter().any(|&c| XML_SPECIAL[c as usize]) {
        o.extend_from_slice(b);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !XML_SPECIAL[c as usize] {
            i += 1;
            continue;
        }
        let rep: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if attr => b"&quot;",
            b'"' => b"\"",
            b'\r' => b"&#13;",
            b'\n' if attr => b"&#10;",
            b'\t' if attr => b"&#9;",
            b'\n' | b'\t' => {
                i += 1;
                continue;
            }
            0xEF => {
                if b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)) {
                    o.extend_from_slice(&b[start..i]);
                    o.extend_from_slice("\u{FFFD}".as_bytes());
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            _ => "\u{FFFD}".as_bytes(),
        };
        o.extend_from_slice(&b[start..i]);
        o.extend_from_slice(rep);
        i += 1;
        start = i;
    }
    o.extend_from_slice(&b[start..]);
}

fn put_csv(s: &str, o: &mut Vec<u8>) {
    let b = s.as_bytes();
    if b.is_empty() {
        // Distinguishes an empty string from NULL (an empty field).
        o.extend_from_slice(b"\"\"");
        return;
    }
    if !b.iter().any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n')) {
        o.extend_from_slice(b);
        return;
    }
    o.push(b'"');
    for &c in b {
        if c == b'"' {
            o.push(b'"');
        }
        o.push(c);
    }
    o.push(b'"');
}

fn put_tsv(s: &str, o: &mut Vec<u8>) {
    let b = s.as_bytes();
    if !b.iter().any(|&c| matches!(c, b'\t' | b'\r' | b'\n')) {
        o.extend_from_slice(b);
        return;
    }
    o.extend(b.iter().map(|&c| {
        if matches!(c, b'\t' | b'\r' | b'\n') {
            b' '
        } else {
            c
        }
    }));
}

/// A JSON string literal.
pub(crate) fn put_json_str(s: &str, o: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    o.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..0x20 => {
                o.extend_from_slice(&b[start..i]);
                o.extend_from_slice(b"\\u00");
                o.push(HEX[usize::from(c >> 4)]);
                o.push(HEX[usize::from(c & 15)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        o.extend_from_slice(&b[start..i]);
        o.extend_from_slice(rep);
        start = i + 1;
    }
    o.extend_from_slice(&b[start..]);
    o.push(b'"');
}

#[inline]
fn two(v: i64, o: &mut Vec<u8>) {
    o.push(b'0' + (v / 10) as u8);
    o.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`). Years outside 0..=9999 are written with as many digits as needed.
pub(crate) fn put_date(days: i64, o: &mut Vec<u8>) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if (0..=9999).contains(&y) {
        two(y / 100, o);
        two(y % 100, o);
    } else {
        o.extend_from_slice(itoa::Buffer::new().format(y).as_bytes());
    }
    o.push(b'-');
    two(m, o);
    o.push(b'-');
    two(d, o);
}

/// ISO-8601 `YYYY-MM-DDTHH:MM:SS[.fff]` (UTC, no zone suffix; DALI §3.3.3). The fraction
/// is written only when non-zero, without trailing zeros.
pub(crate) fn put_timestamp(v: i64, unit: TimeUnit, o: &mut Vec<u8>) {
    let (per_sec, digits): (i64, u32) = match unit {
        TimeUnit::Second => (1, 0),
        TimeUnit::Millisecond => (1_000, 3),
        TimeUnit::Microsecond => (1_000_000, 6),
        TimeUnit::Nanosecond => (1_000_000_000, 9),
    };
    let secs = v.div_euclid(per_sec);
    let mut frac = v.rem_euclid(per_sec);
    put_date(secs.div_euclid(86_400), o);
    let sod = secs.rem_euclid(86_400);
    o.push(b'T');
    two(sod / 3600, o);
    o.push(b':');
    two(sod / 60 % 60, o);
    o.push(b':');
    two(sod % 60, o);
    if frac != 0 {
        let mut n = digits;
        while frac % 10 == 0 {
            frac /= 10;
            n -= 1;
        }
        o.push(b'.');
        let mut ib = itoa::Buffer::new();
        let s = ib.format(frac).as_bytes();
        o.extend(std::iter::repeat_n(
            b'0',
            (n as usize).saturating_sub(s.len()),
        ));
        o.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn floats_shortest_and_special() {
        assert_eq!(s(|o| 0.1f64.put(Style::Xml, o)), "0.1");
        assert_eq!(s(|o| 0.1f32.put(Style::Xml, o)), "0.1");
        assert_eq!(s(|o| 1.0f64.put(Style::Xml, o)), "1.0");
        assert_eq!(s(|o| 1e300f64.put(Style::Xml, o)), "1e300");
        assert_eq!(s(|o| f64::NAN.put(Style::Xml, o)), "NaN");
        assert_eq!(s(|o| f64::INFINITY.put(Style::Csv, o)), "+Inf");
        assert_eq!(s(|o| f32::NEG_INFINITY.put(Style::Xml, o)), "-Inf");
        assert_eq!(s(|o| f64::NAN.put(Style::Json, o)), "null");
        let x = 123.456_789_012_345_67_f64;
        assert_eq!(s(|o| x.put(Style::Xml, o)).parse::<f64>().unwrap(), x);
    }

    #[test]
    fn xml_escaping() {
        assert_eq!(
            s(|o| escape_xml("a<b>&\"c\"", false, o)),
            "a&lt;b&gt;&amp;\"c\""
        );
        assert_eq!(
            s(|o| escape_xml("\"x\"\n\t", true, o)),
            "&quot;x&quot;&#10;&#9;"
        );
        assert_eq!(
            s(|o| escape_xml("a\rb\u{1}c\u{FFFE}d\u{FFFF}é\u{FFFD}", false, o)),
            "a&#13;b\u{FFFD}c\u{FFFD}d\u{FFFD}é\u{FFFD}"
        );
        assert_eq!(s(|o| escape_xml("ünïcode ok", false, o)), "ünïcode ok");
    }

    #[test]
    fn csv_tsv_json_strings() {
        assert_eq!(s(|o| put_csv("plain", o)), "plain");
        assert_eq!(s(|o| put_csv("", o)), "\"\"");
        assert_eq!(s(|o| put_csv("a,\"b\"\nc", o)), "\"a,\"\"b\"\"\nc\"");
        assert_eq!(s(|o| put_tsv("a\tb\r\nc", o)), "a b  c");
        assert_eq!(
            s(|o| put_json_str("a\"\\\n\u{1}é", o)),
            "\"a\\\"\\\\\\n\\u0001é\""
        );
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(s(|o| put_date(0, o)), "1970-01-01");
        assert_eq!(s(|o| put_date(-1, o)), "1969-12-31");
        assert_eq!(s(|o| put_date(19_782, o)), "2024-02-29");
        assert_eq!(s(|o| put_date(10_957, o)), "2000-01-01");
        assert_eq!(
            s(|o| put_timestamp(1_700_000_000, TimeUnit::Second, o)),
            "2023-11-14T22:13:20"
        );
        assert_eq!(
            s(|o| put_timestamp(1_700_000_000_120, TimeUnit::Millisecond, o)),
            "2023-11-14T22:13:20.12"
        );
        assert_eq!(
            s(|o| put_timestamp(-1, TimeUnit::Microsecond, o)),
            "1969-12-31T23:59:59.999999"
        );
        assert_eq!(
            s(|o| put_timestamp(1_000_000_005, TimeUnit::Nanosecond, o)),
            "1970-01-01T00:00:01.000000005"
        );
    }
}
