//! Parquet and Arrow IPC stream writers.
//!
//! Both keep the Arrow types as they are and carry the column metadata (`description`,
//! `unit`, `ucd`, `utype`, `xtype`) as Arrow field metadata, which Parquet stores in its
//! embedded Arrow schema. Encoded bytes are drained into `out` after every batch, so memory
//! is bounded by one Parquet row group (at most [`ROW_GROUP_ROWS`] rows or
//! [`ROW_GROUP_BYTES`] bytes).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{FormatError, Result};
use crate::meta::ColumnMeta;
use crate::stream::{BatchWriter, EndStatus};

/// Maximum rows per Parquet row group.
pub(crate) const ROW_GROUP_ROWS: usize = 1 << 20;
/// Maximum buffered bytes per Parquet row group.
pub(crate) const ROW_GROUP_BYTES: usize = 64 << 20;

/// The batch schema with column names and metadata taken from `columns`.
fn annotated_schema(schema: &Schema, columns: &[ColumnMeta]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(f, c)| {
            let mut md: HashMap<String, String> = f.metadata().clone();
            for (k, v) in c.pairs() {
                md.insert(k.to_owned(), v.to_owned());
            }
            f.as_ref()
                .clone()
                .with_name(c.name.clone())
                .with_metadata(md)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn rebatch(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        schema.clone(),
        batch.columns().to_vec(),
    )?)
}

pub(crate) struct ParquetWriter {
    schema: SchemaRef,
    writer: Option<ArrowWriter<Vec<u8>>>,
}

impl ParquetWriter {
    pub(crate) fn new(schema: SchemaRef, columns: &[ColumnMeta]) -> Result<Self> {
        let schema = annotated_schema(&schema, columns);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_created_by("parallax".to_owned())
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?;
        Ok(Self {
            schema,
            writer: Some(writer),
        })
    }

    fn writer(&mut self) -> Result<&mut ArrowWriter<Vec<u8>>> {
        self.writer
            .as_mut()
            .ok_or_else(|| FormatError::Internal("parquet writer used after finish".to_owned()))
    }
}

/// Move what the encoder has written so far into `out`. The writer's own buffering may
/// hold back a tail; it reaches the Vec, in order, on a later flush.
fn drain(buf: &mut Vec<u8>, out: &mut Vec<u8>) {
    out.extend_from_slice(buf);
    buf.clear();
}

impl BatchWriter for ParquetWriter {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<()> {
        drain(self.writer()?.inner_mut(), out);
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let batch = rebatch(&self.schema, batch)?;
        let w = self.writer()?;
        w.write(&batch)?;
        drain(w.inner_mut(), out);
        Ok(())
    }

    fn finish(&mut self, end: &EndStatus, out: &mut Vec<u8>) -> Result<()> {
        let mut w = self
            .writer
            .take()
            .ok_or_else(|| FormatError::Internal("parquet writer finished twice".to_owned()))?;
        match end {
            // Leave the file without a footer: readers reject it, as they should.
            EndStatus::Error(msg) => {
                drain(w.inner_mut(), out);
                return Err(FormatError::Execution(msg.clone()));
            }
            EndStatus::Overflow => w.append_key_value_metadata(KeyValue::new(
                "QUERY_STATUS".to_owned(),
                "OVERFLOW".to_owned(),
            )),
            EndStatus::Complete => {}
        }
        w.finish()?;
        drain(w.inner_mut(), out);
        Ok(())
    }
}

pub(crate) struct IpcWriter {
    schema: SchemaRef,
    writer: StreamWriter<Vec<u8>>,
}

impl IpcWriter {
    pub(crate) fn new(schema: SchemaRef, columns: &[ColumnMeta]) -> Result<Self> {
        let schema = annotated_schema(&schema, columns);
        let writer = StreamWriter::try_new(Vec::new(), &schema)?;
        Ok(Self { schema, writer })
    }
}

impl BatchWriter for IpcWriter {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<()> {
        drain(self.writer.get_mut(), out);
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        self.writer.write(&rebatch(&self.schema, batch)?)?;
        drain(self.writer.get_mut(), out);
        Ok(())
    }

    fn finish(&mut self, end: &EndStatus, out: &mut Vec<u8>) -> Result<()> {
        if let EndStatus::Error(msg) = end {
            // No end-of-stream marker: readers see a truncated stream.
            drain(self.writer.get_mut(), out);
            return Err(FormatError::Execution(msg.clone()));
        }
        self.writer.finish()?;
        drain(self.writer.get_mut(), out);
        Ok(())
    }
}
