//! Parquet output: zstd, page-level statistics (so cone searches can prune on source_id
//! ranges), the Arrow schema stored in the footer (`ARROW:schema`) so that field metadata
//! survives a round trip, and bounded row groups.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::DemoError;

/// Streams batches into one Parquet file.
pub(crate) struct PartWriter<'p> {
    path: &'p Path,
    inner: ArrowWriter<File>,
    rows: u64,
}

impl<'p> PartWriter<'p> {
    /// `dictionary` names the (low-cardinality string) columns worth dictionary encoding;
    /// the rest are mostly unique floats for which a dictionary is wasted work.
    pub(crate) fn create(
        path: &'p Path,
        schema: SchemaRef,
        max_row_group_rows: usize,
        dictionary: &[&str],
    ) -> Result<Self, DemoError> {
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(max_row_group_rows.max(1)))
            // Small pages: the page index then narrows a cone search to a few thousand rows.
            .set_data_page_row_count_limit(4096)
            .set_created_by(format!("parallax-demo {}", env!("CARGO_PKG_VERSION")));
        for col in dictionary {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*col), true);
        }
        let file = File::create(path).map_err(|e| DemoError::io(path, e))?;
        let inner = ArrowWriter::try_new(file, schema, Some(props.build())).map_err(|source| {
            DemoError::Parquet {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            path,
            inner,
            rows: 0,
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), DemoError> {
        self.rows += batch.num_rows() as u64;
        self.inner
            .write(batch)
            .map_err(|source| DemoError::Parquet {
                path: self.path.to_path_buf(),
                source,
            })
    }

    /// Flushes and closes the file; returns the number of rows written.
    pub(crate) fn finish(self) -> Result<u64, DemoError> {
        self.inner.close().map_err(|source| DemoError::Parquet {
            path: self.path.to_path_buf(),
            source,
        })?;
        Ok(self.rows)
    }
}
