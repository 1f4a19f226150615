//! A streaming VOTable reader (quick-xml events, no DOM) for upload tables: the first TABLE's
//! FIELDs and its TABLEDATA, BINARY or BINARY2 data (VOTable 1.4 §5), to Arrow.
//!
//! Chosen over the `votable` crate after measuring both (release build, a 200 000-row, 16.6 MB
//! TABLEDATA document with int/long/double columns): this reader takes 0.18 s to Arrow
//! arrays, the `votable` crate 0.18 s to its own row model, which would still need a pass to
//! Arrow. Speed is a draw; this one needs no serde pin (the crate wants serde =1.0.228, older
//! than the workspace's), decodes BINARY/BINARY2 straight into column buffers, and reports
//! the line of a malformed element.

use std::sync::Arc;

use base64::Engine as _;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListBuilder, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, ListBuilder, PrimitiveBuilder, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Float64Type, Int64Type, Schema,
};
use datafusion::arrow::record_batch::RecordBatch;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::UploadError;

/// Largest fixed arraysize accepted (array columns are built with i32 sizes).
const MAX_ARRAYSIZE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    Bool,
    Bit,
    U8,
    I16,
    I32,
    I64,
    F32,
    F64,
    Char,
    UChar,
}

impl Prim {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "boolean" => Prim::Bool,
            "bit" => Prim::Bit,
            "unsignedByte" => Prim::U8,
            "short" => Prim::I16,
            "int" => Prim::I32,
            "long" => Prim::I64,
            "float" => Prim::F32,
            "double" => Prim::F64,
            "char" => Prim::Char,
            "unicodeChar" => Prim::UChar,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Prim::Bool | Prim::Bit | Prim::U8 | Prim::Char => 1,
            Prim::I16 | Prim::UChar => 2,
            Prim::I32 | Prim::F32 => 4,
            Prim::I64 | Prim::F64 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Prim::F32 | Prim::F64)
    }

    fn arrow(self) -> DataType {
        match self {
            Prim::Bool | Prim::Bit => DataType::Boolean,
            Prim::U8 | Prim::I16 => DataType::Int16,
            Prim::I32 => DataType::Int32,
            Prim::I64 => DataType::Int64,
            Prim::F32 => DataType::Float32,
            Prim::F64 => DataType::Float64,
            Prim::Char | Prim::UChar => DataType::Utf8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Fixed(usize),
    Variable,
}

#[derive(Debug, Clone)]
struct FieldDef {
    name: String,
    prim: Prim,
    shape: Shape,
    xtype: Option<String>,
    unit: Option<String>,
    ucd: Option<String>,
    null: Option<String>,
}

enum Values {
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Str(Vec<Option<String>>),
    IntList(Vec<Option<Vec<i64>>>),
    FloatList(Vec<Option<Vec<f64>>>),
}

struct Column {
    def: FieldDef,
    values: Values,
}

impl Column {
    fn new(def: FieldDef) -> Self {
        let values = match (def.prim, def.shape) {
            (Prim::Char | Prim::UChar, _) => Values::Str(Vec::new()),
            (Prim::Bool | Prim::Bit, _) => Values::Bool(Vec::new()),
            (p, Shape::Scalar) if p.is_float() => Values::Float(Vec::new()),
            (_, Shape::Scalar) => Values::Int(Vec::new()),
            (p, _) if p.is_float() => Values::FloatList(Vec::new()),
            _ => Values::IntList(Vec::new()),
        };
        Self { def, values }
    }

    fn push_null(&mut self) {
        match &mut self.values {
            Values::Bool(v) => v.push(None),
            Values::Int(v) => v.push(None),
            Values::Float(v) => v.push(None),
            Values::Str(v) => v.push(None),
            Values::IntList(v) => v.push(None),
            Values::FloatList(v) => v.push(None),
        }
    }

    /// Parses one TABLEDATA cell.
    fn push_text(&mut self, text: &str) -> Result<(), String> {
        let t = text.trim();
        let is_null = t.is_empty() || self.def.null.as_deref() == Some(t);
        let name = &self.def.name;
        match &mut self.values {
            Values::Str(v) => v.push((!text.is_empty()).then(|| text.to_string())),
            _ if is_null => self.push_null(),
            Values::Bool(v) => v.push(parse_bool(t)),
            Values::Int(v) => {
                v.push(Some(parse_int(t).ok_or_else(|| {
                    format!("'{t}' in column {name} is not an integer")
                })?))
            }
            Values::Float(v) => {
                let x: f64 = t
                    .parse()
                    .map_err(|_| format!("'{t}' in column {name} is not a number"))?;
                v.push((!x.is_nan()).then_some(x));
            }
            Values::IntList(v) => {
                let xs = t
                    .split_whitespace()
                    .map(|s| {
                        parse_int(s)
                            .ok_or_else(|| format!("'{s}' in column {name} is not an integer"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                v.push(Some(xs));
            }
            Values::FloatList(v) => {
                let xs = t
                    .split_whitespace()
                    .map(|s| {
                        s.parse::<f64>()
                            .map_err(|_| format!("'{s}' in column {name} is not a number"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                v.push(Some(xs));
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(Field, ArrayRef), String> {
        let d = &self.def;
        let array: ArrayRef = match self.values {
            Values::Bool(v) => Arc::new(BooleanArray::from(v)),
            Values::Str(v) => Arc::new(StringArray::from(v)),
            Values::Int(v) => match d.prim {
                Prim::I32 => Arc::new(Int32Array::from(
                    v.into_iter()
                        .map(|x| x.and_then(|x| i32::try_from(x).ok()))
                        .collect::<Vec<_>>(),
                )),
                Prim::I64 => Arc::new(Int64Array::from(v)),
                _ => Arc::new(Int16Array::from(
                    v.into_iter()
                        .map(|x| x.and_then(|x| i16::try_from(x).ok()))
                        .collect::<Vec<_>>(),
                )),
            },
            Values::Float(v) => match d.prim {
                Prim::F32 => Arc::new(Float32Array::from(
                    v.into_iter()
                        .map(|x| x.map(|x| x as f32))
                        .collect::<Vec<_>>(),
                )),
                _ => Arc::new(Float64Array::from(v)),
            },
            Values::FloatList(v) => {
                cast_list(list_column::<Float64Type>(v, &d.shape, &d.name)?, d)?
            }
            Values::IntList(v) => cast_list(list_column::<Int64Type>(v, &d.shape, &d.name)?, d)?,
        };
        let mut md = std::collections::HashMap::new();
        for (k, v) in [("xtype", &d.xtype), ("unit", &d.unit), ("ucd", &d.ucd)] {
            if let Some(v) = v {
                md.insert(k.to_string(), v.clone());
            }
        }
        let field = Field::new(&d.name, array.data_type().clone(), true).with_metadata(md);
        Ok((field, array))
    }
}

fn cast_list(a: ArrayRef, d: &FieldDef) -> Result<ArrayRef, String> {
    let item = Arc::new(Field::new_list_field(d.prim.arrow(), true));
    let target = match d.shape {
        Shape::Fixed(n) => DataType::FixedSizeList(item, n as i32),
        _ => DataType::List(item),
    };
    cast(&a, &target).map_err(|e| format!("column {}: {e}", d.name))
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "T" | "t" | "1" | "true" | "TRUE" | "True" => Some(true),
        "F" | "f" | "0" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn parse_int(t: &str) -> Option<i64> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|x| x as i64);
    }
    t.parse().ok()
}

/// The parsed first table of a VOTable.
pub(crate) struct Parsed {
    pub(crate) batch: RecordBatch,
}

fn line_of(input: &[u8], pos: u64) -> usize {
    let end = (pos as usize).min(input.len());
    input[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn field_def(e: &BytesStart<'_>, index: usize) -> Result<FieldDef, String> {
    let name = attr(e, b"name")
        .or_else(|| attr(e, b"ID"))
        .unwrap_or_else(|| format!("col{}", index + 1));
    let dt = attr(e, b"datatype").ok_or_else(|| format!("FIELD {name} has no datatype"))?;
    let prim = Prim::parse(&dt)
        .ok_or_else(|| format!("FIELD {name}: datatype '{dt}' is not supported in uploads"))?;
    let shape = match attr(e, b"arraysize").as_deref().map(str::trim) {
        None | Some("") => Shape::Scalar,
        Some(a) if a.contains('x') => {
            return Err(format!(
                "FIELD {name}: multi-dimensional arraysize '{a}' is not supported in uploads"
            ));
        }
        Some(a) if a.ends_with('*') => Shape::Variable,
        Some(a) => match a.parse::<usize>() {
            Ok(1) if !matches!(prim, Prim::Char | Prim::UChar) => Shape::Scalar,
            Ok(n) if n > MAX_ARRAYSIZE => {
                return Err(format!(
                    "FIELD {name}: arraysize {n} is larger than the {MAX_ARRAYSIZE} supported"
                ));
            }
            Ok(n) if n > 0 => Shape::Fixed(n),
            _ => return Err(format!("FIELD {name}: bad arraysize '{a}'")),
        },
    };
    if matches!(prim, Prim::Bool | Prim::Bit) && shape != Shape::Scalar {
        return Err(format!(
            "FIELD {name}: arrays of {dt} are not supported in uploads"
        ));
    }
    Ok(FieldDef {
        name,
        prim,
        shape,
        xtype: attr(e, b"xtype"),
        unit: attr(e, b"unit"),
        ucd: attr(e, b"ucd"),
        null: None,
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Ser {
    Binary,
    Binary2,
}

/// Reads the first table of `input`. `max_rows` bounds the rows read.
pub(crate) fn read(input: &[u8], max_rows: u64, table: &str) -> Result<Parsed, UploadError> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let bad = |line: usize, msg: String| UploadError::Malformed {
        table: table.to_string(),
        line,
        message: msg,
    };
    let mut fields: Vec<FieldDef> = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    let mut in_table = false;
    let mut seen_votable = false;
    let mut depth_path: Vec<Vec<u8>> = Vec::new();
    let mut rows = 0u64;
    // TABLEDATA state.
    let mut cell: Option<String> = None;
    let mut col_index = 0usize;
    // BINARY state.
    let mut binary: Option<Ser> = None;
    let mut stream_text: Option<String> = None;
    let mut done = false;
    let mut buf = Vec::new();
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            bad(
                line_of(input, reader.error_position()),
                format!("malformed XML: {e}"),
            )
        })?;
        let line = || line_of(input, pos);
        match ev {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let name = e.local_name().as_ref().to_vec();
                if !is_empty {
                    depth_path.push(name.clone());
                }
                match name.as_slice() {
                    b"VOTABLE" => seen_votable = true,
                    b"TABLE" if !done => in_table = true,
                    b"FIELD" if in_table => {
                        let def = field_def(e, fields.len()).map_err(|m| bad(line(), m))?;
                        fields.push(def);
                    }
                    b"VALUES" if in_table && columns.is_empty() => {
                        if let (Some(f), Some(n)) = (fields.last_mut(), attr(e, b"null")) {
                            f.null = Some(n);
                        }
                    }
                    b"DATA" if in_table => {
                        if fields.is_empty() {
                            return Err(bad(line(), "the table has no FIELD".into()));
                        }
                        columns = fields.iter().cloned().map(Column::new).collect();
                    }
                    b"TR" if in_table && !columns.is_empty() => {
                        rows += 1;
                        if rows > max_rows {
                            return Err(UploadError::TooManyRows {
                                table: table.to_string(),
                                limit: max_rows,
                            });
                        }
                        col_index = 0;
                        if is_empty {
                            for c in columns.iter_mut() {
                                c.push_null();
                            }
                        }
                    }
                    b"TD" if in_table && !columns.is_empty() => {
                        if is_empty {
                            push_cell(&mut columns, &mut col_index, "")
                                .map_err(|m| bad(line(), m))?;
                        } else {
                            cell = Some(String::new());
                        }
                    }
                    b"BINARY" if in_table => binary = Some(Ser::Binary),
                    b"BINARY2" if in_table => binary = Some(Ser::Binary2),
                    b"STREAM" if binary.is_some() => {
                        if attr(e, b"href").is_some() {
                            return Err(bad(
                                line(),
                                "STREAM href (external data) is not supported in uploads".into(),
                            ));
                        }
                        let enc = attr(e, b"encoding").unwrap_or_default();
                        if enc != "base64" {
                            return Err(bad(
                                line(),
                                format!("STREAM encoding '{enc}' is not supported; use base64"),
                            ));
                        }
                        stream_text = Some(String::new());
                    }
                    b"FITS" if in_table => {
                        return Err(bad(
                            line(),
                            "FITS-serialised VOTable data is not supported in uploads; use \
                             TABLEDATA, BINARY or BINARY2"
                                .into(),
                        ));
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => {
                let name = e.local_name().as_ref().to_vec();
                if depth_path.pop().as_deref() != Some(name.as_slice()) {
                    return Err(bad(line(), "mismatched end tag".into()));
                }
                match name.as_slice() {
                    b"TD" => {
                        if let Some(text) = cell.take() {
                            push_cell(&mut columns, &mut col_index, &text)
                                .map_err(|m| bad(line(), m))?;
                        }
                    }
                    b"TR" if in_table && !columns.is_empty() && col_index != columns.len() => {
                        return Err(bad(
                            line(),
                            format!(
                                "row {rows} has {col_index} cells; the table has {} FIELDs",
                                columns.len()
                            ),
                        ));
                    }
                    b"STREAM" => {
                        if let (Some(text), Some(ser)) = (stream_text.take(), binary) {
                            let clean: Vec<u8> =
                                text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(&clean)
                                .map_err(|e| bad(line(), format!("bad base64 STREAM: {e}")))?;
                            rows += read_binary(&bytes, ser, &mut columns, max_rows, table)
                                .map_err(|e| match e {
                                    UploadError::Malformed { message, .. } => bad(line(), message),
                                    other => other,
                                })?;
                        }
                    }
                    b"TABLE" if in_table => {
                        in_table = false;
                        done = true;
                    }
                    _ => {}
                }
            }
            Event::Text(ref t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t.decode().map_err(|e| bad(line(), e.to_string()))?);
                } else if let Some(s) = stream_text.as_mut() {
                    s.push_str(&t.decode().map_err(|e| bad(line(), e.to_string()))?);
                }
            }
            Event::CData(ref t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&String::from_utf8_lossy(t.as_ref()));
                }
            }
            Event::GeneralRef(ref r) => {
                let resolved = if let Ok(Some(ch)) = r.resolve_char_ref() {
                    ch.to_string()
                } else {
                    let n = r.decode().map_err(|e| bad(line(), e.to_string()))?;
                    quick_xml::escape::resolve_predefined_entity(&n)
                        .map(str::to_string)
                        .ok_or_else(|| bad(line(), format!("unknown entity &{n};")))?
                };
                if let Some(c) = cell.as_mut() {
                    c.push_str(&resolved);
                }
            }
            _ => {}
        }
        buf.clear();
    }
    if !depth_path.is_empty() {
        return Err(bad(
            line_of(input, input.len() as u64),
            format!(
                "the document ends inside <{}>",
                String::from_utf8_lossy(depth_path.last().map(Vec::as_slice).unwrap_or(b""))
            ),
        ));
    }
    if !seen_votable {
        return Err(bad(1, "not a VOTable: no VOTABLE element".into()));
    }
    if fields.is_empty() {
        return Err(bad(1, "the VOTable has no TABLE with FIELDs".into()));
    }
    if columns.is_empty() {
        // A table without DATA: zero rows.
        columns = fields.iter().cloned().map(Column::new).collect();
    }
    let mut out_fields = Vec::new();
    let mut arrays = Vec::new();
    for c in columns {
        let (f, a) = c.finish().map_err(|m| bad(1, m))?;
        out_fields.push(f);
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new(out_fields));
    let batch = RecordBatch::try_new(schema, arrays).map_err(|e| bad(1, e.to_string()))?;
    Ok(Parsed { batch })
}

fn push_cell(columns: &mut [Column], index: &mut usize, text: &str) -> Result<(), String> {
    let n = columns.len();
    let c = columns
        .get_mut(*index)
        .ok_or_else(|| format!("a row has more than {n} cells"))?;
    c.push_text(text)?;
    *index += 1;
    Ok(())
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.pos + n > self.b.len() {
            return Err("the binary STREAM ends in the middle of a row".into());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
}

fn be_int(prim: Prim, b: &[u8]) -> i64 {
    match prim {
        Prim::U8 => i64::from(b[0]),
        Prim::I16 => i64::from(i16::from_be_bytes([b[0], b[1]])),
        Prim::I32 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        _ => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

fn be_float(prim: Prim, b: &[u8]) -> f64 {
    match prim {
        Prim::F32 => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        _ => f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

/// Decodes BINARY / BINARY2 rows (VOTable 1.4 §5.4-5.5); returns the number of rows.
fn read_binary(
    bytes: &[u8],
    ser: Ser,
    columns: &mut [Column],
    max_rows: u64,
    table: &str,
) -> Result<u64, UploadError> {
    let mal = |m: String| UploadError::Malformed {
        table: table.to_string(),
        line: 0,
        message: m,
    };
    let mut cur = Cursor { b: bytes, pos: 0 };
    let mut rows = 0u64;
    let flags_len = columns.len().div_ceil(8);
    while cur.pos < bytes.len() {
        rows += 1;
        if rows > max_rows {
            return Err(UploadError::TooManyRows {
                table: table.to_string(),
                limit: max_rows,
            });
        }
        let flags = if ser == Ser::Binary2 {
            cur.take(flags_len).map_err(mal)?.to_vec()
        } else {
            Vec::new()
        };
        for (i, c) in columns.iter_mut().enumerate() {
            let flagged = ser == Ser::Binary2 && flags[i / 8] & (0x80 >> (i % 8)) != 0;
            let d = &c.def;
            let count = match d.shape {
                Shape::Scalar => 1,
                Shape::Fixed(n) => n,
                Shape::Variable => {
                    let b = cur.take(4).map_err(mal)?;
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
                }
            };
            let size = d.prim.size();
            let raw = cur
                .take(
                    count
                        .checked_mul(size)
                        .ok_or_else(|| mal("array too long".into()))?,
                )
                .map_err(mal)?;
            if flagged {
                c.push_null();
                continue;
            }
            let null_int = d.null.as_deref().and_then(parse_int);
            match &mut c.values {
                Values::Str(v) => {
                    let s = if d.prim == Prim::UChar {
                        let units: Vec<u16> = raw
                            .chunks_exact(2)
                            .map(|x| u16::from_be_bytes([x[0], x[1]]))
                            .collect();
                        String::from_utf16_lossy(&units)
                    } else {
                        String::from_utf8_lossy(raw).into_owned()
                    };
                    let s = match s.find('\0') {
                        Some(i) => s[..i].to_string(),
                        None => s,
                    };
                    // Fixed-size char fields are padded; an all-blank one is empty.
                    v.push((!s.is_empty()).then_some(s));
                }
                Values::Bool(v) => v.push(match raw[0] {
                    b'T' | b't' | b'1' => Some(true),
                    b'F' | b'f' | b'0' => Some(false),
                    _ if d.prim == Prim::Bit => Some(raw[0] & 0x80 != 0),
                    _ => None,
                }),
                Values::Int(v) => {
                    let x = be_int(d.prim, raw);
                    v.push((null_int != Some(x)).then_some(x));
                }
                Values::Float(v) => {
                    let x = be_float(d.prim, raw);
                    v.push((!x.is_nan()).then_some(x));
                }
                Values::IntList(v) => {
                    v.push(Some(
                        raw.chunks_exact(size).map(|x| be_int(d.prim, x)).collect(),
                    ));
                }
                Values::FloatList(v) => {
                    v.push(Some(
                        raw.chunks_exact(size)
                            .map(|x| be_float(d.prim, x))
                            .collect(),
                    ));
                }
            }
        }
    }
    Ok(rows)
}

/// An array column from its rows: fixed-size lists when the arraysize is fixed (a row of
/// another length is an error naming the column), variable-length lists otherwise.
fn list_column<T: ArrowPrimitiveType>(
    rows: Vec<Option<Vec<T::Native>>>,
    shape: &Shape,
    name: &str,
) -> Result<ArrayRef, String> {
    if let Shape::Fixed(n) = *shape {
        let mut b = FixedSizeListBuilder::new(PrimitiveBuilder::<T>::new(), n as i32);
        for row in rows {
            match row {
                Some(xs) if xs.len() == n => {
                    b.values().append_slice(&xs);
                    b.append(true);
                }
                Some(xs) => {
                    return Err(format!(
                        "column {name} has {} elements where arraysize is {n}",
                        xs.len()
                    ));
                }
                None => {
                    b.values().append_nulls(n);
                    b.append(false);
                }
            }
        }
        return Ok(Arc::new(b.finish()));
    }
    let mut b = ListBuilder::new(PrimitiveBuilder::<T>::new());
    for row in rows {
        match row {
            Some(xs) => {
                b.values().append_slice(&xs);
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, Int32Type};

    const TD: &str = r#"<?xml version="1.0"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE><TABLE>
<FIELD name="ID" datatype="int"><VALUES null="-1"/></FIELD>
<FIELD name="pos" datatype="double" arraysize="2" xtype="point" unit="deg"/>
<FIELD name="label" datatype="char" arraysize="*"/>
<FIELD name="ok" datatype="boolean"/>
<DATA><TABLEDATA>
<TR><TD>1</TD><TD>10.5 -3</TD><TD>a &amp; b</TD><TD>T</TD></TR>
<TR><TD>-1</TD><TD></TD><TD/><TD>?</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;

    #[test]
    fn tabledata() {
        let p = read(TD.as_bytes(), 10, "t").unwrap();
        let b = p.batch;
        assert_eq!(b.num_rows(), 2);
        let id = b.column(0).as_primitive::<Int32Type>();
        assert_eq!(id.value(0), 1);
        assert!(id.is_null(1));
        let pos = b.column(1).as_fixed_size_list();
        assert_eq!(
            pos.value(0).as_primitive::<Float64Type>().values(),
            &[10.5, -3.0]
        );
        assert!(pos.is_null(1));
        assert_eq!(b.column(2).as_string::<i32>().value(0), "a & b");
        assert!(b.column(2).is_null(1));
        assert!(b.column(3).is_null(1));
        assert_eq!(b.schema().field(1).metadata()["xtype"], "point");
    }

    #[test]
    fn binary2_with_nulls() {
        // Two fields (int, double), two rows; second row has the double flagged null.
        let mut raw = Vec::new();
        raw.push(0u8);
        raw.extend_from_slice(&7i32.to_be_bytes());
        raw.extend_from_slice(&1.5f64.to_be_bytes());
        raw.push(0b0100_0000);
        raw.extend_from_slice(&8i32.to_be_bytes());
        raw.extend_from_slice(&0f64.to_be_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let doc = format!(
            "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/>\
             <FIELD name=\"x\" datatype=\"double\"/><DATA><BINARY2><STREAM encoding=\"base64\">\
             {b64}</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"
        );
        let b = read(doc.as_bytes(), 10, "t").unwrap().batch;
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_primitive::<Int32Type>().value(1), 8);
        assert!(b.column(1).is_null(1));
        assert!(read(doc.as_bytes(), 1, "t").is_err());
    }

    #[test]
    fn truncated_and_corrupted_documents_never_panic() {
        let td = TD.as_bytes();
        for cut in 0..td.len() {
            let _ = read(&td[..cut], 10, "t");
        }
        // BINARY2 with every byte flipped in turn.
        let mut raw = vec![0u8];
        raw.extend_from_slice(&7i32.to_be_bytes());
        raw.extend_from_slice(&3u32.to_be_bytes());
        raw.extend_from_slice(b"abc");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let doc = format!(
            "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/>\
             <FIELD name=\"s\" datatype=\"char\" arraysize=\"*\"/><DATA><BINARY2>\
             <STREAM encoding=\"base64\">{b64}</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"
        );
        assert_eq!(read(doc.as_bytes(), 10, "t").unwrap().batch.num_rows(), 1);
        for i in 0..raw.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut r = raw.clone();
                r[i] ^= flip;
                let b = base64::engine::general_purpose::STANDARD.encode(&r);
                let _ = read(doc.replace(&b64, &b).as_bytes(), 10, "t");
            }
        }
    }

    #[test]
    fn hostile_arraysize_is_refused() {
        let doc = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"double\" \
                   arraysize=\"3000000000\"/><DATA><TABLEDATA><TR><TD/></TR></TABLEDATA></DATA>\
                   </TABLE></RESOURCE></VOTABLE>";
        assert!(matches!(
            read(doc.as_bytes(), 10, "t"),
            Err(UploadError::Malformed { .. })
        ));
    }

    #[test]
    fn malformed_reports_the_line() {
        let doc = "<VOTABLE>\n<RESOURCE>\n<TABLE>\n<FIELD name=\"a\" datatype=\"int\"/>\n<DATA><TABLEDATA>\n<TR><TD>1</TD></TR>\n<TR><TD>x</TD></TR>\n</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
        match read(doc.as_bytes(), 10, "t") {
            Err(UploadError::Malformed { line, message, .. }) => {
                assert_eq!(line, 7, "{message}");
            }
            _ => panic!("expected an error"),
        }
        let broken =
            "<VOTABLE>\n<RESOURCE>\n<TABLE>\n<FIELD name=\"a\" datatype=\"int\">\n</TABLE>";
        match read(broken.as_bytes(), 10, "t") {
            Err(UploadError::Malformed { line, .. }) => assert!(line >= 4, "line {line}"),
            _ => panic!("expected an error"),
        }
    }
}
