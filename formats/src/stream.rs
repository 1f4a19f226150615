//! The writer trait and the async driver that turns a record-batch stream into bytes.
//!
//! Writers are synchronous and transport-agnostic; [`encode_stream`] pulls batches, applies
//! MAXREC (DALI §3.4.4: at most MAXREC rows, then an overflow indicator if more exist), and
//! hands out byte chunks of about [`CHUNK_BYTES`]. Big batches are encoded in slices of
//! [`SLICE_ROWS`] rows, so memory stays bounded whatever the result size.

use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::arrow_files::{IpcWriter, ParquetWriter};
use crate::delimited::DelimitedWriter;
use crate::error::{FormatError, Result};
use crate::json::JsonWriter;
use crate::meta::{ColumnMeta, Info};
use crate::negotiate::OutputFormat;
use crate::text::Style;
use crate::votable::{Serialization, VotableWriter};

/// Target size of the chunks yielded by [`encode_stream`]; smaller batches are coalesced.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Largest number of rows handed to a writer at once.
pub const SLICE_ROWS: usize = 16 * 1024;

/// How a result ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndStatus {
    /// All rows were written.
    Complete,
    /// MAXREC rows were written and more existed.
    Overflow,
    /// The query failed while streaming; the message is for the client.
    Error(String),
}

/// A synchronous, streaming result encoder. Every method appends to `out`.
///
/// Call [`begin`](Self::begin) once, [`write_batch`](Self::write_batch) for each batch (any
/// size, including empty), then [`finish`](Self::finish) once. A format that cannot carry an
/// error in-band (everything but VOTable) returns `Err` from `finish(&EndStatus::Error(_))`
/// after appending what it can, so the transport aborts instead of delivering a short file
/// that looks complete.
pub trait BatchWriter: Send {
    /// Write the preamble (VOTable header and FIELDs, CSV header, Parquet magic, ...).
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<()>;
    /// Encode the rows of one batch, whose schema is the writer's.
    fn write_batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()>;
    /// Write the trailer reflecting how the result ended.
    fn finish(&mut self, end: &EndStatus, out: &mut Vec<u8>) -> Result<()>;
}

/// Create a writer for `format`.
///
/// `columns` gives the client-visible name and metadata of each schema field, in order;
/// pass an empty vector to derive it from the schema ([`ColumnMeta::from_field`]). `infos`
/// are VOTable INFO elements written before the TABLE (other formats ignore them); the
/// writer itself writes `QUERY_STATUS`, so an INFO of that name is skipped.
///
/// Fails with [`FormatError::UnsupportedType`] if a column cannot be written in `format`
/// (see [`crate::votable_type`]; Parquet and Arrow take every type).
pub fn new_writer(
    format: OutputFormat,
    schema: SchemaRef,
    columns: Vec<ColumnMeta>,
    infos: Vec<Info>,
) -> Result<Box<dyn BatchWriter>> {
    let columns = if columns.is_empty() {
        schema
            .fields()
            .iter()
            .map(|f| ColumnMeta::from_field(f))
            .collect()
    } else if columns.len() == schema.fields().len() {
        columns
    } else {
        return Err(FormatError::Internal(format!(
            "{} column descriptions for {} result columns",
            columns.len(),
            schema.fields().len()
        )));
    };
    Ok(match format {
        OutputFormat::VotableTabledata => Box::new(VotableWriter::new(
            Serialization::TableData,
            schema,
            columns,
            infos,
        )?),
        OutputFormat::VotableBinary2 => Box::new(VotableWriter::new(
            Serialization::Binary2,
            schema,
            columns,
            infos,
        )?),
        OutputFormat::VotableBinary => Box::new(VotableWriter::new(
            Serialization::Binary,
            schema,
            columns,
            infos,
        )?),
        OutputFormat::Csv => Box::new(DelimitedWriter::new(Style::Csv, schema, columns)?),
        OutputFormat::Tsv => Box::new(DelimitedWriter::new(Style::Tsv, schema, columns)?),
        OutputFormat::Json => Box::new(JsonWriter::new(schema, columns)?),
        OutputFormat::Parquet => Box::new(ParquetWriter::new(schema, &columns)?),
        OutputFormat::ArrowStream => Box::new(IpcWriter::new(schema, &columns)?),
    })
}

/// What [`write_stream_to`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// Data rows written.
    pub rows: u64,
    /// How the result ended (an `Error` means the query failed mid-way).
    pub end: EndStatus,
    /// Bytes written to the sink.
    pub bytes: u64,
}

enum Phase {
    Start,
    Running,
    /// Finished; an error may still have to be reported after the last bytes.
    Done(Option<FormatError>),
}

/// The pull-based state machine behind [`encode_stream`] and [`write_stream_to`].
struct Driver {
    writer: Box<dyn BatchWriter>,
    input: Option<SendableRecordBatchStream>,
    maxrec: Option<u64>,
    rows: u64,
    out: Vec<u8>,
    pending: Option<(RecordBatch, usize)>,
    phase: Phase,
    end: Option<EndStatus>,
}

impl Driver {
    fn new(
        writer: Box<dyn BatchWriter>,
        input: SendableRecordBatchStream,
        maxrec: Option<u64>,
    ) -> Self {
        Self {
            writer,
            input: Some(input),
            maxrec,
            rows: 0,
            out: Vec::with_capacity(CHUNK_BYTES * 2),
            pending: None,
            phase: Phase::Start,
            end: None,
        }
    }

    fn take_out(&mut self) -> Bytes {
        let cap = self.out.capacity();
        Bytes::from(std::mem::replace(&mut self.out, Vec::with_capacity(cap)))
    }

    /// Finish the writer; returns the error to report after the trailer, if any.
    fn finish(&mut self, end: EndStatus) -> Option<FormatError> {
        // Stop pulling: dropping the stream cancels the query.
        self.input = None;
        self.pending = None;
        let res = self.writer.finish(&end, &mut self.out);
        self.end = Some(end);
        res.err()
    }

    /// Advance until a chunk is ready. `None` when everything has been handed out.
    async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        loop {
            match &mut self.phase {
                Phase::Done(err) => {
                    if !self.out.is_empty() {
                        return Some(Ok(self.take_out()));
                    }
                    return err.take().map(Err);
                }
                Phase::Start => {
                    self.phase = Phase::Running;
                    if let Err(e) = self.writer.begin(&mut self.out) {
                        self.input = None;
                        self.phase = Phase::Done(Some(e));
                    }
                }
                Phase::Running => {
                    if let Some(chunk) = self.step().await {
                        return Some(Ok(chunk));
                    }
                }
            }
        }
    }

    /// One unit of work while running; returns a chunk when enough output accumulated.
    async fn step(&mut self) -> Option<Bytes> {
        if let Some((batch, offset)) = self.pending.take() {
            let left_in_batch = batch.num_rows() - offset;
            let allowed = self
                .maxrec
                .map_or(u64::MAX, |m| m.saturating_sub(self.rows));
            if allowed == 0 {
                let err = self.finish(EndStatus::Overflow);
                self.phase = Phase::Done(err);
                return None;
            }
            let n = left_in_batch
                .min(SLICE_ROWS)
                .min(usize::try_from(allowed).unwrap_or(usize::MAX));
            let slice = batch.slice(offset, n);
            if let Err(e) = self.writer.write_batch(&slice, &mut self.out) {
                self.input = None;
                self.phase = Phase::Done(Some(e));
                return None;
            }
            self.rows += n as u64;
            if offset + n < batch.num_rows() {
                self.pending = Some((batch, offset + n));
            }
            return (self.out.len() >= CHUNK_BYTES).then(|| self.take_out());
        }
        let next = match self.input.as_mut() {
            Some(input) => input.next().await,
            None => None,
        };
        match next {
            Some(Ok(batch)) => {
                if batch.num_rows() > 0 {
                    self.pending = Some((batch, 0));
                }
                None
            }
            Some(Err(e)) => {
                let err = self.finish(EndStatus::Error(e.to_string()));
                self.phase = Phase::Done(err);
                None
            }
            None => {
                let err = self.finish(EndStatus::Complete);
                self.phase = Phase::Done(err);
                None
            }
        }
    }
}

/// Encode `input` with `writer`, yielding byte chunks for an HTTP body.
///
/// At most `maxrec` rows are written; if the input has a further row (run the query with
/// `LIMIT maxrec + 1`), the result ends with [`EndStatus::Overflow`] and the input is
/// dropped. `maxrec = Some(0)` gives metadata only (plus overflow if any row exists). A
/// query error ends the result with [`EndStatus::Error`]: VOTable writes a trailing
/// `QUERY_STATUS=ERROR` INFO and the stream ends normally; other formats yield their last
/// bytes and then `Err`, which should abort the HTTP body.
pub fn encode_stream(
    writer: Box<dyn BatchWriter>,
    input: SendableRecordBatchStream,
    maxrec: Option<u64>,
) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
    let driver = Driver::new(writer, input, maxrec);
    // Fused: HTTP layers (e.g. gzip compression) may poll again after the end.
    futures::stream::unfold(driver, |mut d| async move {
        let item = d.next_chunk().await?;
        Some((item, d))
    })
    .fuse()
}

/// Encode `input` into `sink` (e.g. an async job's result file) and flush it.
///
/// A query error does not make this fail: the partial result (with its VOTable error
/// trailer) is written and [`WriteSummary::end`] is [`EndStatus::Error`], so the job runner
/// can move the job to ERROR. `Err` means encoding or the sink failed.
pub async fn write_stream_to<W: AsyncWrite + Unpin + Send>(
    writer: Box<dyn BatchWriter>,
    input: SendableRecordBatchStream,
    maxrec: Option<u64>,
    sink: &mut W,
) -> Result<WriteSummary> {
    let mut d = Driver::new(writer, input, maxrec);
    let mut bytes = 0u64;
    while let Some(item) = d.next_chunk().await {
        match item {
            Ok(chunk) => {
                sink.write_all(&chunk).await?;
                bytes += chunk.len() as u64;
            }
            Err(FormatError::Execution(_)) if matches!(d.end, Some(EndStatus::Error(_))) => {}
            Err(e) => return Err(e),
        }
    }
    sink.flush().await?;
    Ok(WriteSummary {
        rows: d.rows,
        end: d.end.unwrap_or(EndStatus::Complete),
        bytes,
    })
}
