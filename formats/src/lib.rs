//! Streaming result writers for the Parallax TAP service.
//!
//! Implements the output side of TAP 1.1 (§2.7.3 RESPONSEFORMAT, §2.7.4 MAXREC, §3 results)
//! and DALI 1.1 (§3.4.3 format negotiation, §4.4 QUERY_STATUS): VOTable 1.4 with TABLEDATA,
//! BINARY2 and BINARY serialisations (VOTable 1.4 §5), CSV (RFC 4180), TSV, Gaia-archive
//! style JSON, Parquet and the Arrow IPC stream format, plus the TAPRegExt (§2.5)
//! `outputFormat` declarations for `/capabilities`.
//!
//! * [`votable_type`] is the single Arrow -> VOTable type mapping, shared with TAP_SCHEMA
//!   and `/tables`, so declared and returned column types agree.
//! * [`parse_format`] / [`supported_formats`] negotiate the format from one table.
//! * [`new_writer`] builds a synchronous [`BatchWriter`]; [`encode_stream`] drives it over
//!   a DataFusion record-batch stream (applying MAXREC and overflow/error trailers) for an
//!   HTTP body, [`write_stream_to`] into an async sink such as a result file.
//!
//! Writers never see the transport and never hold more than a slice of a batch.

mod arrow_files;
mod columns;
mod delimited;
mod error;
mod json;
mod meta;
mod negotiate;
mod stream;
mod text;
mod votable;

pub use error::{ErrorKind, FormatError, Result};
pub use meta::{ColumnMeta, Info, VoType, arraysize_to_size, votable_type};
pub use negotiate::{FormatDecl, OutputFormat, parse_format, supported_formats};
pub use stream::{
    BatchWriter, CHUNK_BYTES, EndStatus, SLICE_ROWS, WriteSummary, encode_stream, new_writer,
    write_stream_to,
};
pub use votable::{votable_error_document, votable_error_document_with};

#[cfg(test)]
mod tests;
