//! JSON writer in the Gaia-archive layout:
//! `{"metadata":[{"name":..,"datatype":..,"arraysize":..,"xtype":..,"unit":..,"ucd":..,
//! "utype":..,"description":..}],"data":[[..],..]}`.
//!
//! NULL, NaN and infinities are `null`; arrays are JSON arrays; timestamps are ISO-8601
//! strings. An overflow adds `"query_status":"OVERFLOW"` after `data`; a late error leaves
//! the document unterminated and makes [`BatchWriter::finish`] fail.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::columns::{canonical_arrays, kinds_of, views_of};
use crate::error::{FormatError, Result};
use crate::meta::{ColumnMeta, Kind};
use crate::stream::{BatchWriter, EndStatus};
use crate::text::{ColumnText, Style, format_column, put_json_str};

const CHUNK_ROWS: usize = 4096;

pub(crate) struct JsonWriter {
    kinds: Vec<Kind>,
    columns: Vec<ColumnMeta>,
    texts: Vec<ColumnText>,
    pos: Vec<usize>,
    rows: u64,
}

impl JsonWriter {
    pub(crate) fn new(schema: SchemaRef, columns: Vec<ColumnMeta>) -> Result<Self> {
        let kinds = kinds_of(&schema, "JSON")?;
        let n = kinds.len();
        Ok(Self {
            kinds,
            columns,
            texts: (0..n).map(|_| ColumnText::default()).collect(),
            pos: vec![0; n],
            rows: 0,
        })
    }
}

fn opt(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
    out.push(b',');
    put_json_str(key, out);
    out.push(b':');
    match v {
        Some(v) => put_json_str(v, out),
        None => out.extend_from_slice(b"null"),
    }
}

impl BatchWriter for JsonWriter {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(b"{\"metadata\":[");
        for (i, (c, k)) in self.columns.iter().zip(&self.kinds).enumerate() {
            let vo = k.vo_type();
            out.extend_from_slice(if i == 0 { b"\n{" } else { b",\n{" });
            out.extend_from_slice(b"\"name\":");
            put_json_str(&c.name, out);
            opt(out, "datatype", Some(vo.datatype));
            opt(out, "arraysize", vo.arraysize.as_deref());
            opt(out, "xtype", c.xtype.as_deref().or(vo.xtype));
            opt(out, "unit", c.unit.as_deref());
            opt(out, "ucd", c.ucd.as_deref());
            opt(out, "utype", c.utype.as_deref());
            opt(out, "description", c.description.as_deref());
            out.push(b'}');
        }
        out.extend_from_slice(b"],\n\"data\":[");
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let arrays = canonical_arrays(batch, &self.kinds)?;
        let cols = views_of(&arrays, &self.kinds)?;
        let n = batch.num_rows();
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK_ROWS).min(n);
            let mut total = (end - start) * (cols.len() + 4);
            for (col, ct) in cols.iter().zip(self.texts.iter_mut()) {
                format_column(col, start..end, Style::Json, ct);
                total += ct.buf.len();
            }
            out.reserve(total);
            self.pos.iter_mut().for_each(|p| *p = 0);
            for i in 0..end - start {
                out.extend_from_slice(if self.rows == 0 { b"\n[" } else { b",\n[" });
                self.rows += 1;
                for (c, (ct, p)) in self.texts.iter().zip(self.pos.iter_mut()).enumerate() {
                    if c > 0 {
                        out.push(b',');
                    }
                    let e = ct.ends[i];
                    out.extend_from_slice(&ct.buf[*p..e]);
                    *p = e;
                }
                out.push(b']');
            }
            start = end;
        }
        Ok(())
    }

    fn finish(&mut self, end: &EndStatus, out: &mut Vec<u8>) -> Result<()> {
        match end {
            EndStatus::Complete => out.extend_from_slice(b"\n]}\n"),
            EndStatus::Overflow => out.extend_from_slice(b"\n],\n\"query_status\":\"OVERFLOW\"}\n"),
            EndStatus::Error(msg) => return Err(FormatError::Execution(msg.clone())),
        }
        Ok(())
    }
}
