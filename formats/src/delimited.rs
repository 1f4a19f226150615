//! CSV (RFC 4180, with a header line; TAP 1.1 §3.2) and TSV writers.
//!
//! NULL is an empty field; an empty string is `""` in CSV. Arrays are one field with
//! space-separated elements (DALI §3.2). Neither format can signal overflow or a late
//! error in-band: an error makes [`BatchWriter::finish`] fail so the transport aborts.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::columns::{canonical_arrays, kinds_of, views_of};
use crate::error::{FormatError, Result};
use crate::meta::{ColumnMeta, Kind};
use crate::stream::{BatchWriter, EndStatus};
use crate::text::{ColumnText, Style, format_column, put_str};

const CHUNK_ROWS: usize = 4096;

pub(crate) struct DelimitedWriter {
    style: Style,
    kinds: Vec<Kind>,
    columns: Vec<ColumnMeta>,
    texts: Vec<ColumnText>,
    pos: Vec<usize>,
}

impl DelimitedWriter {
    pub(crate) fn new(style: Style, schema: SchemaRef, columns: Vec<ColumnMeta>) -> Result<Self> {
        let name = if style == Style::Csv { "CSV" } else { "TSV" };
        let kinds = kinds_of(&schema, name)?;
        let n = kinds.len();
        Ok(Self {
            style,
            kinds,
            columns,
            texts: (0..n).map(|_| ColumnText::default()).collect(),
            pos: vec![0; n],
        })
    }

    fn sep(&self) -> u8 {
        if self.style == Style::Csv {
            b','
        } else {
            b'\t'
        }
    }

    fn eol(&self) -> &'static [u8] {
        if self.style == Style::Csv {
            b"\r\n"
        } else {
            b"\n"
        }
    }
}

impl BatchWriter for DelimitedWriter {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<()> {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(self.sep());
            }
            put_str(&c.name, self.style, out);
        }
        out.extend_from_slice(self.eol());
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let arrays = canonical_arrays(batch, &self.kinds)?;
        let cols = views_of(&arrays, &self.kinds)?;
        let (sep, eol) = (self.sep(), self.eol());
        let n = batch.num_rows();
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK_ROWS).min(n);
            let mut total = (end - start) * (cols.len() + 2);
            for (col, ct) in cols.iter().zip(self.texts.iter_mut()) {
                format_column(col, start..end, self.style, ct);
                total += ct.buf.len();
            }
            out.reserve(total);
            self.pos.iter_mut().for_each(|p| *p = 0);
            for i in 0..end - start {
                for (c, (ct, p)) in self.texts.iter().zip(self.pos.iter_mut()).enumerate() {
                    if c > 0 {
                        out.push(sep);
                    }
                    let e = ct.ends[i];
                    out.extend_from_slice(&ct.buf[*p..e]);
                    *p = e;
                }
                out.extend_from_slice(eol);
            }
            start = end;
        }
        Ok(())
    }

    fn finish(&mut self, end: &EndStatus, _out: &mut Vec<u8>) -> Result<()> {
        match end {
            EndStatus::Error(msg) => Err(FormatError::Execution(msg.clone())),
            EndStatus::Complete | EndStatus::Overflow => Ok(()),
        }
    }
}
