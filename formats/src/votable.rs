//! VOTable 1.4 writer: TABLEDATA, BINARY2 and BINARY serialisations (VOTable 1.4 §5,
//! DALI §4.4 for QUERY_STATUS, TAP 1.1 §3.4 for overflow).
//!
//! Layout: `RESOURCE type="results"`, `INFO QUERY_STATUS=OK` and the caller's INFOs before
//! the TABLE, and a trailing `QUERY_STATUS` INFO (OVERFLOW or ERROR) after `</TABLE>`.
//!
//! Binary rows are built column by column into a row-major buffer (each column loop writes
//! at a per-row cursor), then base64-encoded. Up to two bytes that do not fill a base64
//! quantum are carried into the next chunk, so padding appears only at the very end.

use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::columns::{Column, Leaf, Strs, View, canonical_arrays, kinds_of, views_of};
use crate::error::{FormatError, Result};
use crate::meta::{ColumnMeta, Info, Kind, Scalar};
use crate::stream::{BatchWriter, EndStatus};
use crate::text::{ColumnText, Style, escape_xml, format_column, put_date, put_timestamp};

/// Rows encoded per inner chunk: keeps the scratch buffers in cache and bounded.
const CHUNK_ROWS: usize = 4096;

/// VOTable serialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Serialization {
    TableData,
    Binary2,
    Binary,
}

pub(crate) struct VotableWriter {
    ser: Serialization,
    kinds: Vec<Kind>,
    columns: Vec<ColumnMeta>,
    infos: Vec<Info>,
    texts: Vec<ColumnText>,
    pos: Vec<usize>,
    raw: Vec<u8>,
    cursor: Vec<usize>,
    carry: Vec<u8>,
}

impl VotableWriter {
    pub(crate) fn new(
        ser: Serialization,
        schema: SchemaRef,
        columns: Vec<ColumnMeta>,
        infos: Vec<Info>,
    ) -> Result<Self> {
        let kinds = kinds_of(&schema, "VOTable")?;
        let n = kinds.len();
        Ok(Self {
            ser,
            kinds,
            columns,
            infos,
            texts: (0..n).map(|_| ColumnText::default()).collect(),
            pos: vec![0; n],
            raw: Vec::new(),
            cursor: Vec::new(),
            carry: Vec::new(),
        })
    }

    fn write_field(&self, meta: &ColumnMeta, kind: Kind, out: &mut Vec<u8>) {
        let vo = kind.vo_type();
        out.extend_from_slice(b"<FIELD name=\"");
        escape_xml(&meta.name, true, out);
        out.extend_from_slice(b"\" datatype=\"");
        out.extend_from_slice(vo.datatype.as_bytes());
        out.push(b'"');
        if let Some(a) = &vo.arraysize {
            attr(out, "arraysize", a);
        }
        if let Some(x) = meta.xtype.as_deref().or(vo.xtype) {
            attr(out, "xtype", x);
        }
        for (k, v) in [
            ("unit", &meta.unit),
            ("ucd", &meta.ucd),
            ("utype", &meta.utype),
        ] {
            if let Some(v) = v {
                attr(out, k, v);
            }
        }
        let null = match kind {
            Kind::Scalar(s) | Kind::FixedList(s, _) | Kind::List(s)
                if self.ser == Serialization::Binary =>
            {
                s.int_null()
            }
            _ => None,
        };
        if meta.description.is_none() && null.is_none() {
            out.extend_from_slice(b"/>\n");
            return;
        }
        out.extend_from_slice(b">");
        if let Some(d) = &meta.description {
            out.extend_from_slice(b"<DESCRIPTION>");
            escape_xml(d, false, out);
            out.extend_from_slice(b"</DESCRIPTION>");
        }
        if let Some(n) = null {
            out.extend_from_slice(b"<VALUES null=\"");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\"/>");
        }
        out.extend_from_slice(b"</FIELD>\n");
    }

    fn tabledata_rows(&mut self, cols: &[Column<'_>], rows: Range<usize>, out: &mut Vec<u8>) {
        let m = rows.len();
        let mut total = m * (10 + 9 * cols.len());
        for (col, ct) in cols.iter().zip(self.texts.iter_mut()) {
            format_column(col, rows.clone(), Style::Xml, ct);
            total += ct.buf.len();
        }
        out.reserve(total);
        self.pos.iter_mut().for_each(|p| *p = 0);
        for i in 0..m {
            out.extend_from_slice(b"<TR>");
            for (ct, p) in self.texts.iter().zip(self.pos.iter_mut()) {
                let e = ct.ends[i];
                out.extend_from_slice(b"<TD>");
                out.extend_from_slice(&ct.buf[*p..e]);
                out.extend_from_slice(b"</TD>");
                *p = e;
            }
            out.extend_from_slice(b"</TR>\n");
        }
    }

    fn binary_rows(
        &mut self,
        cols: &[Column<'_>],
        rows: Range<usize>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let m = rows.len();
        let nb = if self.ser == Serialization::Binary2 {
            cols.len().div_ceil(8)
        } else {
            0
        };
        // Pass 1: row lengths. Dates/timestamps are pre-formatted as char* text.
        let mut fixed = nb;
        for (c, col) in cols.iter().enumerate() {
            match col.view {
                View::Scalar(l) => fixed += width(l.scalar()),
                View::FixedList(l, _, n) => fixed += width(l.scalar()) * n,
                View::Date(_) | View::Timestamp(..) => {
                    format_time(col, rows.clone(), &mut self.texts[c]);
                    fixed += 4;
                }
                View::Str(_) | View::Bytes(_) | View::List(..) => fixed += 4,
            }
        }
        self.cursor.clear();
        self.cursor.resize(m, fixed);
        for (c, col) in cols.iter().enumerate() {
            let sizes = &mut self.cursor;
            let start = rows.start;
            match col.view {
                View::Str(s) => match s {
                    Strs::Utf8(a) => add_sizes(col, start, sizes, |r| a.value(r).len()),
                    Strs::Large(a) => add_sizes(col, start, sizes, |r| a.value(r).len()),
                    Strs::View(a) => add_sizes(col, start, sizes, |r| a.value(r).len()),
                },
                View::Bytes(b) => add_sizes(col, start, sizes, |r| b.value(r).len()),
                View::List(l, _, offs) => {
                    let w = width(l.scalar());
                    add_sizes(col, start, sizes, |r| {
                        let (s, e) = offs.range(r);
                        (e - s) * w
                    })
                }
                View::Date(_) | View::Timestamp(..) => {
                    let ct = &self.texts[c];
                    let mut prev = 0;
                    for (sz, &e) in sizes.iter_mut().zip(&ct.ends) {
                        *sz += e - prev;
                        prev = e;
                    }
                }
                View::Scalar(_) | View::FixedList(..) => {}
            }
        }
        // Row starts, after the carried-over bytes of the previous chunk.
        let mut acc = self.carry.len();
        for x in self.cursor.iter_mut() {
            let len = *x;
            *x = acc;
            acc += len;
        }
        self.raw.clear();
        self.raw.extend_from_slice(&self.carry);
        self.raw.resize(acc, 0);
        let raw = &mut self.raw[..];
        let cursor = &mut self.cursor[..];
        // Pass 2: null bitmap, most significant bit first = first field.
        if nb > 0 {
            for (c, col) in cols.iter().enumerate() {
                if let Some(n) = col.nulls.filter(|n| n.null_count() > 0) {
                    let (byte, bit) = (c / 8, 0x80u8 >> (c % 8));
                    for (i, &p) in cursor.iter().enumerate() {
                        if n.is_null(rows.start + i) {
                            raw[p + byte] |= bit;
                        }
                    }
                }
            }
            cursor.iter_mut().for_each(|p| *p += nb);
        }
        // Pass 3: one loop per column.
        for (c, col) in cols.iter().enumerate() {
            let r0 = rows.start;
            let nulls = col.nulls.filter(|n| n.null_count() > 0);
            match col.view {
                View::Scalar(leaf) => match leaf {
                    Leaf::Bool(a) => put_scalars(raw, cursor, r0, nulls, |r| Flag::of(a.value(r))),
                    Leaf::I16(v) => put_scalars(raw, cursor, r0, nulls, |r| v[r]),
                    Leaf::I32(v) => put_scalars(raw, cursor, r0, nulls, |r| v[r]),
                    Leaf::I64(v) => put_scalars(raw, cursor, r0, nulls, |r| v[r]),
                    Leaf::F32(v) => put_scalars(raw, cursor, r0, nulls, |r| v[r]),
                    Leaf::F64(v) => put_scalars(raw, cursor, r0, nulls, |r| v[r]),
                },
                View::Str(s) => match s {
                    Strs::Utf8(a) => put_var(raw, cursor, r0, nulls, |r| a.value(r).as_bytes()),
                    Strs::Large(a) => put_var(raw, cursor, r0, nulls, |r| a.value(r).as_bytes()),
                    Strs::View(a) => put_var(raw, cursor, r0, nulls, |r| a.value(r).as_bytes()),
                },
                View::Bytes(b) => put_var(raw, cursor, r0, nulls, |r| b.value(r)),
                View::Date(_) | View::Timestamp(..) => {
                    let ct = &self.texts[c];
                    // NULL cells were formatted as empty strings.
                    put_var(raw, cursor, 0, None, |i| ct.cell(i))
                }
                View::FixedList(leaf, inner, n) => {
                    put_fixed_lists(raw, cursor, r0, nulls, leaf, inner, n)
                }
                View::List(leaf, inner, offs) => {
                    put_lists(raw, cursor, r0, nulls, leaf, inner, |r| offs.range(r))
                }
            }
        }
        debug_assert!(self.cursor.last().is_none_or(|&p| p == acc));
        // Encode whole base64 quanta; carry the rest.
        let full = acc / 3 * 3;
        encode_b64(&self.raw[..full], out)?;
        self.carry.clear();
        self.carry.extend_from_slice(&self.raw[full..]);
        out.push(b'\n');
        Ok(())
    }
}

fn encode_b64(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let old = out.len();
    let n = base64::encoded_len(input.len(), true)
        .ok_or_else(|| FormatError::Internal("base64 length overflow".to_owned()))?;
    out.resize(old + n, 0);
    let written = STANDARD
        .encode_slice(input, &mut out[old..])
        .map_err(|e| FormatError::Internal(format!("base64: {e}")))?;
    out.truncate(old + written);
    Ok(())
}

fn attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_xml(value, true, out);
    out.push(b'"');
}

fn width(s: Scalar) -> usize {
    match s {
        Scalar::Bool => 1,
        Scalar::I16 => 2,
        Scalar::I32 | Scalar::F32 => 4,
        Scalar::I64 | Scalar::F64 => 8,
    }
}

fn format_time(col: &Column<'_>, rows: Range<usize>, ct: &mut ColumnText) {
    ct.buf.clear();
    ct.ends.clear();
    for r in rows {
        if !col.is_null(r) {
            match col.view {
                View::Date(d) => put_date(i64::from(d[r]), &mut ct.buf),
                View::Timestamp(v, unit) => put_timestamp(v[r], unit, &mut ct.buf),
                _ => {}
            }
        }
        ct.ends.push(ct.buf.len());
    }
}

#[inline(always)]
fn add_sizes(col: &Column<'_>, r0: usize, sizes: &mut [usize], len: impl Fn(usize) -> usize) {
    if col.has_nulls() {
        for (i, s) in sizes.iter_mut().enumerate() {
            if !col.is_null(r0 + i) {
                *s += len(r0 + i);
            }
        }
    } else {
        for (i, s) in sizes.iter_mut().enumerate() {
            *s += len(r0 + i);
        }
    }
}

/// A value with a fixed-width big-endian encoding and a fill used for NULLs (NaN for
/// floats, the `<VALUES null>` sentinel for integers, `?` for booleans).
trait BinValue: Copy {
    const W: usize;
    const FILL: Self;
    fn put(self, dst: &mut [u8]);
}

macro_rules! bin_value {
    ($($t:ty => $fill:expr),*) => {$(
        impl BinValue for $t {
            const W: usize = std::mem::size_of::<$t>();
            const FILL: Self = $fill;
            #[inline(always)]
            fn put(self, dst: &mut [u8]) {
                dst[..Self::W].copy_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
bin_value!(i16 => i16::MIN, i32 => i32::MIN, i64 => i64::MIN, f32 => f32::NAN, f64 => f64::NAN);

/// A VOTable boolean byte: `T`, `F`, or `?` for NULL.
#[derive(Clone, Copy)]
struct Flag(u8);

impl Flag {
    #[inline(always)]
    fn of(b: bool) -> Self {
        Flag(if b { b'T' } else { b'F' })
    }
}

impl BinValue for Flag {
    const W: usize = 1;
    const FILL: Self = Flag(b'?');
    #[inline(always)]
    fn put(self, dst: &mut [u8]) {
        dst[0] = self.0;
    }
}

#[inline(always)]
fn put_scalars<T: BinValue>(
    raw: &mut [u8],
    cursor: &mut [usize],
    r0: usize,
    nulls: Option<&NullBuffer>,
    get: impl Fn(usize) -> T,
) {
    match nulls {
        None => {
            for (i, cur) in cursor.iter_mut().enumerate() {
                let p = *cur;
                get(r0 + i).put(&mut raw[p..]);
                *cur = p + T::W;
            }
        }
        Some(n) => {
            for (i, cur) in cursor.iter_mut().enumerate() {
                let p = *cur;
                if n.is_null(r0 + i) {
                    put_fill::<T>(&mut raw[p..]);
                } else {
                    get(r0 + i).put(&mut raw[p..]);
                }
                *cur = p + T::W;
            }
        }
    }
}

#[inline(always)]
fn put_fill<T: BinValue>(dst: &mut [u8]) {
    T::FILL.put(dst);
}

fn put_var<'a>(
    raw: &mut [u8],
    cursor: &mut [usize],
    r0: usize,
    nulls: Option<&NullBuffer>,
    get: impl Fn(usize) -> &'a [u8],
) {
    for (i, cur) in cursor.iter_mut().enumerate() {
        let p = *cur;
        let v: &[u8] = if nulls.is_some_and(|n| n.is_null(r0 + i)) {
            &[]
        } else {
            get(r0 + i)
        };
        // Lengths come from Arrow arrays, whose offsets are at most i64; a cell larger than
        // 4 GiB cannot be expressed in VOTable and is not produced by Arrow's 32-bit layouts.
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        raw[p..p + 4].copy_from_slice(&len.to_be_bytes());
        raw[p + 4..p + 4 + v.len()].copy_from_slice(v);
        *cur = p + 4 + v.len();
    }
}

fn put_fixed_lists(
    raw: &mut [u8],
    cursor: &mut [usize],
    r0: usize,
    nulls: Option<&NullBuffer>,
    leaf: Leaf<'_>,
    inner: Option<&NullBuffer>,
    n: usize,
) {
    fn go<T: BinValue>(
        raw: &mut [u8],
        cursor: &mut [usize],
        r0: usize,
        nulls: Option<&NullBuffer>,
        inner: Option<&NullBuffer>,
        n: usize,
        get: impl Fn(usize) -> T,
    ) {
        for (i, cur) in cursor.iter_mut().enumerate() {
            let r = r0 + i;
            let mut p = *cur;
            let row_null = nulls.is_some_and(|b| b.is_null(r));
            for j in r * n..r * n + n {
                if row_null || inner.is_some_and(|b| b.is_null(j)) {
                    put_fill::<T>(&mut raw[p..]);
                } else {
                    get(j).put(&mut raw[p..]);
                }
                p += T::W;
            }
            *cur = p;
        }
    }
    match leaf {
        Leaf::Bool(a) => go(raw, cursor, r0, nulls, inner, n, |j| Flag::of(a.value(j))),
        Leaf::I16(v) => go(raw, cursor, r0, nulls, inner, n, |j| v[j]),
        Leaf::I32(v) => go(raw, cursor, r0, nulls, inner, n, |j| v[j]),
        Leaf::I64(v) => go(raw, cursor, r0, nulls, inner, n, |j| v[j]),
        Leaf::F32(v) => go(raw, cursor, r0, nulls, inner, n, |j| v[j]),
        Leaf::F64(v) => go(raw, cursor, r0, nulls, inner, n, |j| v[j]),
    }
}

fn put_lists(
    raw: &mut [u8],
    cursor: &mut [usize],
    r0: usize,
    nulls: Option<&NullBuffer>,
    leaf: Leaf<'_>,
    inner: Option<&NullBuffer>,
    range: impl Fn(usize) -> (usize, usize),
) {
    fn go<T: BinValue>(
        raw: &mut [u8],
        cursor: &mut [usize],
        r0: usize,
        nulls: Option<&NullBuffer>,
        inner: Option<&NullBuffer>,
        range: &dyn Fn(usize) -> (usize, usize),
        get: impl Fn(usize) -> T,
    ) {
        for (i, cur) in cursor.iter_mut().enumerate() {
            let r = r0 + i;
            let mut p = *cur;
            let (s, e) = if nulls.is_some_and(|b| b.is_null(r)) {
                (0, 0)
            } else {
                range(r)
            };
            let count = u32::try_from(e - s).unwrap_or(u32::MAX);
            raw[p..p + 4].copy_from_slice(&count.to_be_bytes());
            p += 4;
            for j in s..e {
                if inner.is_some_and(|b| b.is_null(j)) {
                    put_fill::<T>(&mut raw[p..]);
                } else {
                    get(j).put(&mut raw[p..]);
                }
                p += T::W;
            }
            *cur = p;
        }
    }
    let range = &range;
    match leaf {
        Leaf::Bool(a) => go(raw, cursor, r0, nulls, inner, range, |j| {
            Flag::of(a.value(j))
        }),
        Leaf::I16(v) => go(raw, cursor, r0, nulls, inner, range, |j| v[j]),
        Leaf::I32(v) => go(raw, cursor, r0, nulls, inner, range, |j| v[j]),
        Leaf::I64(v) => go(raw, cursor, r0, nulls, inner, range, |j| v[j]),
        Leaf::F32(v) => go(raw, cursor, r0, nulls, inner, range, |j| v[j]),
        Leaf::F64(v) => go(raw, cursor, r0, nulls, inner, range, |j| v[j]),
    }
}

const HEAD: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
    "<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\"",
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
    " xsi:schemaLocation=\"http://www.ivoa.net/xml/VOTable/v1.3",
    " http://www.ivoa.net/xml/VOTable/VOTable-1.4.xsd\">\n",
    "<RESOURCE type=\"results\">\n",
);

impl BatchWriter for VotableWriter {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(HEAD.as_bytes());
        out.extend_from_slice(b"<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n");
        for info in &self.infos {
            if info.name.eq_ignore_ascii_case("QUERY_STATUS") {
                continue;
            }
            out.extend_from_slice(b"<INFO");
            attr(out, "name", &info.name);
            attr(out, "value", &info.value);
            match &info.content {
                Some(c) => {
                    out.push(b'>');
                    escape_xml(c, false, out);
                    out.extend_from_slice(b"</INFO>\n");
                }
                None => out.extend_from_slice(b"/>\n"),
            }
        }
        out.extend_from_slice(b"<TABLE>\n");
        for (meta, kind) in self.columns.iter().zip(&self.kinds) {
            self.write_field(meta, *kind, out);
        }
        out.extend_from_slice(match self.ser {
            Serialization::TableData => b"<DATA><TABLEDATA>\n".as_slice(),
            Serialization::Binary2 => b"<DATA><BINARY2><STREAM encoding=\"base64\">\n",
            Serialization::Binary => b"<DATA><BINARY><STREAM encoding=\"base64\">\n",
        });
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let arrays = canonical_arrays(batch, &self.kinds)?;
        let cols = views_of(&arrays, &self.kinds)?;
        let n = batch.num_rows();
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK_ROWS).min(n);
            match self.ser {
                Serialization::TableData => self.tabledata_rows(&cols, start..end, out),
                Serialization::Binary2 | Serialization::Binary => {
                    self.binary_rows(&cols, start..end, out)?
                }
            }
            start = end;
        }
        Ok(())
    }

    fn finish(&mut self, end: &EndStatus, out: &mut Vec<u8>) -> Result<()> {
        match self.ser {
            Serialization::TableData => out.extend_from_slice(b"</TABLEDATA></DATA>\n"),
            Serialization::Binary2 | Serialization::Binary => {
                let carry = std::mem::take(&mut self.carry);
                if !carry.is_empty() {
                    encode_b64(&carry, out)?;
                    out.push(b'\n');
                }
                out.extend_from_slice(if self.ser == Serialization::Binary2 {
                    b"</STREAM></BINARY2></DATA>\n".as_slice()
                } else {
                    b"</STREAM></BINARY></DATA>\n"
                });
            }
        }
        out.extend_from_slice(b"</TABLE>\n");
        match end {
            EndStatus::Complete => {}
            EndStatus::Overflow => {
                out.extend_from_slice(b"<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>\n")
            }
            EndStatus::Error(msg) => {
                out.extend_from_slice(b"<INFO name=\"QUERY_STATUS\" value=\"ERROR\">");
                escape_xml(msg, false, out);
                out.extend_from_slice(b"</INFO>\n");
            }
        }
        out.extend_from_slice(b"</RESOURCE>\n</VOTABLE>\n");
        Ok(())
    }
}

/// The VOTable error document (DALI §4.2, §4.4) for a query that failed before any output:
/// a RESOURCE with only `<INFO name="QUERY_STATUS" value="ERROR">message</INFO>`.
pub fn votable_error_document(message: &str) -> String {
    votable_error_document_with(message, &[])
}

/// [`votable_error_document`] with more INFO elements (name, value) after the status, such
/// as the query id.
pub fn votable_error_document_with(message: &str, infos: &[(&str, &str)]) -> String {
    let mut out = Vec::with_capacity(HEAD.len() + message.len() + 96);
    out.extend_from_slice(HEAD.as_bytes());
    out.extend_from_slice(b"<INFO name=\"QUERY_STATUS\" value=\"ERROR\">");
    escape_xml(message, false, &mut out);
    out.extend_from_slice(b"</INFO>\n");
    for (name, value) in infos {
        out.extend_from_slice(b"<INFO name=\"");
        escape_xml(name, true, &mut out);
        out.extend_from_slice(b"\" value=\"");
        escape_xml(value, true, &mut out);
        out.extend_from_slice(b"\"/>\n");
    }
    out.extend_from_slice(b"</RESOURCE>\n</VOTABLE>\n");
    // Only valid UTF-8 went in: the constant, and a &str escaped byte-wise.
    String::from_utf8_lossy(&out).into_owned()
}
