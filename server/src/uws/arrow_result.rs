//! A completed job's result file read back as Arrow record batches, for Flight SQL `DoGet`
//! and for HTTP clients that ask for `application/vnd.apache.arrow.stream`.
//!
//! Results stored as an Arrow IPC stream or as Parquet are decoded batch by batch on a
//! blocking thread (a bounded channel of two batches: a client that stops reading stops the
//! decoding). Text formats (VOTable, CSV, TSV, JSON) are not parsed back: the job must be
//! submitted with `RESPONSEFORMAT=arrow` or `parquet` to be fetched as Arrow.

use std::fs::File;
use std::path::PathBuf;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::Stream;

/// The MIME type of the Arrow IPC stream format.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Why a result cannot be read as Arrow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArrowResultError {
    /// The result is stored in a text format.
    #[error(
        "job {id}'s result is stored as {content_type}, which is not read back as Arrow; \
         submit the job with RESPONSEFORMAT=arrow or RESPONSEFORMAT=parquet"
    )]
    NotArrow {
        /// Job id.
        id: String,
        /// The stored MIME type.
        content_type: String,
    },
    /// The result file is missing or unreadable (a bug or a disk problem).
    #[error("reading the result file: {0}")]
    Io(String),
}

/// How a stored result is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Arrow,
    Parquet,
}

fn stored(content_type: &str) -> Option<Stored> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        ARROW_STREAM => Some(Stored::Arrow),
        "application/vnd.apache.parquet" | "application/x-parquet" => Some(Stored::Parquet),
        _ => None,
    }
}

/// True when a result of `content_type` can be read as Arrow.
pub fn readable(content_type: &str) -> bool {
    stored(content_type).is_some()
}

type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

fn open_sync(path: &PathBuf, how: Stored) -> Result<(SchemaRef, Batches), ArrowResultError> {
    let io = |e: &dyn std::fmt::Display| ArrowResultError::Io(e.to_string());
    let file = File::open(path).map_err(|e| io(&e))?;
    match how {
        Stored::Arrow => {
            let r = StreamReader::try_new_buffered(file, None).map_err(|e| io(&e))?;
            Ok((r.schema(), Box::new(r)))
        }
        Stored::Parquet => {
            let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| io(&e))?;
            let schema = b.schema().clone();
            let r = b.build().map_err(|e| io(&e))?;
            Ok((schema, Box::new(r)))
        }
    }
}

fn how(id: &str, content_type: &str) -> Result<Stored, ArrowResultError> {
    stored(content_type).ok_or_else(|| ArrowResultError::NotArrow {
        id: id.to_string(),
        content_type: content_type.to_string(),
    })
}

/// The Arrow schema of job `id`'s result at `path` (reads the file's header only).
pub async fn schema(
    id: &str,
    path: PathBuf,
    content_type: &str,
) -> Result<SchemaRef, ArrowResultError> {
    let how = how(id, content_type)?;
    let (schema, _) = tokio::task::spawn_blocking(move || open_sync(&path, how))
        .await
        .map_err(|e| ArrowResultError::Io(e.to_string()))??;
    Ok(schema)
}

/// Opens job `id`'s result at `path`: its schema and a stream of its batches.
pub async fn open(
    id: &str,
    path: PathBuf,
    content_type: &str,
) -> Result<
    (
        SchemaRef,
        impl Stream<Item = Result<RecordBatch, ArrowError>> + Send + 'static,
    ),
    ArrowResultError,
> {
    let how = how(id, content_type)?;
    let (schema, batches) = tokio::task::spawn_blocking(move || open_sync(&path, how))
        .await
        .map_err(|e| ArrowResultError::Io(e.to_string()))??;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        for b in batches {
            // The receiver is gone: the client stopped reading.
            if tx.blocking_send(b).is_err() {
                break;
            }
        }
    });
    Ok((schema, tokio_stream_from(rx)))
}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}
