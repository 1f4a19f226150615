//! TAP 1.1 §2.7.6 / DALI 1.1 §3.4.5 `UPLOAD=name,URI`: tables given inline (`param:part`,
//! a multipart part) or by `http(s)` URL, read from VOTable (TABLEDATA, BINARY, BINARY2), CSV
//! with a header line, or Parquet, into Arrow batches that the engine registers as
//! `TAP_UPLOAD.name` for one query only (never in TAP_SCHEMA).
//!
//! Names are ADQL regular identifiers and case-insensitive, so tables and regular column
//! names are folded to lower case (as unquoted ADQL identifiers are).

mod votable;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::config::UploadSettings;
use crate::tap::FilePart;

/// One uploaded table.
#[derive(Debug, Clone)]
pub struct UploadTable {
    /// Table name (lower case), queried as `TAP_UPLOAD.name`.
    pub name: String,
    /// Its schema.
    pub schema: SchemaRef,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The UPLOAD parameter is malformed or names a missing part (user error).
    #[error("{0}")]
    BadParameter(String),
    /// The table could not be parsed (user error); `line` is 0 when unknown.
    #[error("upload {table}: {}{message}", if *line > 0 { format!("line {line}: ") } else { String::new() })]
    Malformed {
        /// Upload name.
        table: String,
        /// 1-based line in the uploaded document.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// More bytes than allowed (HTTP 413).
    #[error("upload {table} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Upload name.
        table: String,
        /// The limit.
        limit: u64,
    },
    /// More rows than allowed (HTTP 413).
    #[error("upload {table} has more than the limit of {limit} rows")]
    TooManyRows {
        /// Upload name.
        table: String,
        /// The limit.
        limit: u64,
    },
    /// A URL could not be fetched (user error: the client named it).
    #[error("upload {table}: cannot fetch {url}: {reason}")]
    Fetch {
        /// Upload name.
        table: String,
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl UploadError {
    /// True when a size limit was exceeded (HTTP 413).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            UploadError::TooLarge { .. } | UploadError::TooManyRows { .. }
        )
    }
}

/// Where `param:` parts come from.
pub enum PartSource<'a> {
    /// The parts of the current multipart request.
    Memory(&'a [FilePart]),
    /// The directory an async job stored its parts in (files named after the part, lower case).
    Dir(&'a Path),
}

/// True for an ADQL regular identifier (letter, then letters, digits, underscores).
pub fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && s.len() <= 128
}

/// Parses every `UPLOAD` value and loads the tables.
pub async fn load(
    specs: &[String],
    parts: PartSource<'_>,
    settings: &UploadSettings,
) -> Result<Vec<UploadTable>, UploadError> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    if !settings.enabled {
        return Err(UploadError::BadParameter(
            "this service does not accept UPLOAD".into(),
        ));
    }
    let mut out: Vec<UploadTable> = Vec::new();
    for spec in specs {
        // One UPLOAD value may list several "name,URI" pairs separated by ';' (TAP §2.7.6).
        for item in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, uri) = item.split_once(',').ok_or_else(|| {
                UploadError::BadParameter(format!(
                    "UPLOAD '{item}' must be name,URI (e.g. t1,param:t1)"
                ))
            })?;
            let name = name.trim();
            let uri = uri.trim();
            if !valid_name(name) {
                return Err(UploadError::BadParameter(format!(
                    "upload name '{name}' is not an ADQL identifier (a letter, then letters, \
                     digits or underscores)"
                )));
            }
            let key = name.to_ascii_lowercase();
            if out.iter().any(|t| t.name == key) {
                return Err(UploadError::BadParameter(format!(
                    "upload name clash: TAP_UPLOAD.{name} is given more than once"
                )));
            }
            let data = fetch(&key, uri, &parts, settings).await?;
            if data.len() as u64 > settings.max_bytes {
                return Err(UploadError::TooLarge {
                    table: name.to_string(),
                    limit: settings.max_bytes,
                });
            }
            let max_rows = settings.max_rows;
            let n = name.to_string();
            let (schema, batches) = tokio::task::spawn_blocking(move || parse(&data, max_rows, &n))
                .await
                .map_err(|e| UploadError::BadParameter(format!("upload reader failed: {e}")))??;
            out.push(UploadTable {
                name: key,
                schema,
                batches,
            });
        }
    }
    Ok(out)
}

async fn fetch(
    key: &str,
    uri: &str,
    parts: &PartSource<'_>,
    settings: &UploadSettings,
) -> Result<Bytes, UploadError> {
    if let Some(part) = uri.strip_prefix("param:") {
        let part_key = part.to_ascii_lowercase();
        let missing = || {
            UploadError::BadParameter(format!(
                "UPLOAD {key}: the request has no part named '{part}'"
            ))
        };
        return match parts {
            PartSource::Memory(files) => files
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(part))
                .map(|f| f.data.clone())
                .ok_or_else(missing),
            PartSource::Dir(dir) => {
                if !valid_name(&part_key) {
                    return Err(missing());
                }
                tokio::fs::read(dir.join(&part_key))
                    .await
                    .map(Bytes::from)
                    .map_err(|_| missing())
            }
        };
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        if !settings.allow_urls {
            return Err(UploadError::BadParameter(format!(
                "UPLOAD {key}: this service does not fetch URLs; send the table inline \
                 (UPLOAD={key},param:{key})"
            )));
        }
        return fetch_url(key, uri, settings).await;
    }
    Err(UploadError::BadParameter(format!(
        "UPLOAD {key}: unsupported URI '{uri}'; use param:PART, http:// or https://"
    )))
}

async fn fetch_url(key: &str, url: &str, s: &UploadSettings) -> Result<Bytes, UploadError> {
    let err = |reason: String| UploadError::Fetch {
        table: key.to_string(),
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(s.url_timeout))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    if resp.content_length().is_some_and(|n| n > s.max_bytes) {
        return Err(UploadError::TooLarge {
            table: key.to_string(),
            limit: s.max_bytes,
        });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err(e.to_string()))? {
        if (buf.len() + chunk.len()) as u64 > s.max_bytes {
            return Err(UploadError::TooLarge {
                table: key.to_string(),
                limit: s.max_bytes,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// Detects the format (Parquet magic, XML, else CSV) and reads the table.
fn parse(
    data: &[u8],
    max_rows: u64,
    table: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), UploadError> {
    let (schema, batches) = if data.starts_with(b"PAR1") {
        read_parquet(data, max_rows, table)?
    } else if data
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
        || data.starts_with(&[0xEF, 0xBB, 0xBF, b'<'])
    {
        let start = if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let p = votable::read(&data[start..], max_rows, table)?;
        (p.batch.schema(), vec![p.batch])
    } else {
        read_csv(data, max_rows, table)?
    };
    normalise(schema, batches, table)
}

/// Folds regular column names to lower case and refuses duplicate names.
fn normalise(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    table: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), UploadError> {
    let mut names: Vec<String> = Vec::new();
    let mut fields = Vec::new();
    for f in schema.fields() {
        let name = if valid_name(f.name()) {
            f.name().to_ascii_lowercase()
        } else {
            f.name().clone()
        };
        if names.contains(&name) {
            return Err(UploadError::Malformed {
                table: table.to_string(),
                line: 0,
                message: format!("two columns are named '{name}' (names are case-insensitive)"),
            });
        }
        names.push(name.clone());
        fields.push(
            Field::new(name, f.data_type().clone(), true).with_metadata(f.metadata().clone()),
        );
    }
    let schema = Arc::new(Schema::new(fields));
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UploadError::Malformed {
            table: table.to_string(),
            line: 0,
            message: e.to_string(),
        })?;
    Ok((schema, batches))
}

fn read_parquet(
    data: &[u8],
    max_rows: u64,
    table: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), UploadError> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mal = |m: String| UploadError::Malformed {
        table: table.to_string(),
        line: 0,
        message: format!("bad Parquet file: {m}"),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(data))
        .map_err(|e| mal(e.to_string()))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    if rows > max_rows {
        return Err(UploadError::TooManyRows {
            table: table.to_string(),
            limit: max_rows,
        });
    }
    let reader = builder.build().map_err(|e| mal(e.to_string()))?;
    let schema = datafusion::arrow::record_batch::RecordBatchReader::schema(&reader);
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| mal(e.to_string()))?;
    Ok((schema, batches))
}

fn read_csv(
    data: &[u8],
    max_rows: u64,
    table: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), UploadError> {
    use datafusion::arrow::csv::ReaderBuilder;
    use datafusion::arrow::csv::reader::Format;
    let mal = |m: String| UploadError::Malformed {
        table: table.to_string(),
        line: 0,
        message: format!(
            "not a VOTable or Parquet file, and not readable as CSV with a header line: {m}"
        ),
    };
    let format = Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(std::io::Cursor::new(data), Some(10_000))
        .map_err(|e| mal(e.to_string()))?;
    if schema.fields().is_empty() {
        return Err(mal("no columns".into()));
    }
    let schema = Arc::new(schema);
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .build(std::io::Cursor::new(data))
        .map_err(|e| mal(e.to_string()))?;
    let mut rows = 0u64;
    let mut batches = Vec::new();
    for b in reader {
        let b = b.map_err(|e| mal(e.to_string()))?;
        rows += b.num_rows() as u64;
        if rows > max_rows {
            return Err(UploadError::TooManyRows {
                table: table.to_string(),
                limit: max_rows,
            });
        }
        batches.push(b);
    }
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_names() {
        let (schema, batches) = parse(b"ID,Ra,\"my col\"\n1,10.5,x\n2,11,y\n", 10, "t").unwrap();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "ra", "my col"]);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert!(matches!(
            parse(b"a\n1\n2\n3\n", 2, "t"),
            Err(UploadError::TooManyRows { limit: 2, .. })
        ));
    }

    #[test]
    fn names() {
        assert!(valid_name("t1"));
        assert!(!valid_name("1t"));
        assert!(!valid_name("a-b"));
    }
}
