//! sqllogictest runner: every `tests/slt/*.slt` file runs against a fresh engine over the
//! demo catalogue. Queries are ADQL; results are compared as text (NULL as `NULL`).

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use parallax::engine::{Engine, QueryError};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

use crate::common::{fixture, settings};

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

impl From<QueryError> for SltError {
    fn from(e: QueryError) -> Self {
        SltError(match e {
            QueryError::Internal(d) => format!("internal error: {d}"),
            other => other.to_string(),
        })
    }
}

struct Db {
    engine: Arc<Engine>,
}

#[async_trait::async_trait]
impl AsyncDB for Db {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let result = self.engine.execute(sql, None).await?;
        let batches: Vec<_> = result
            .stream
            .try_collect()
            .await
            .map_err(|e| SltError::from(QueryError::from_datafusion(e)))?;
        let rows = cells(&batches).map_err(SltError)?;
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; result.schema.fields().len()],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "parallax"
    }
}

/// Result cells as the `.slt` files write them (NULL as `NULL`, empty strings as `(empty)`).
fn cells(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for r in 0..b.num_rows() {
            rows.push(
                fmts.iter()
                    .zip(b.columns())
                    .map(|(f, c)| {
                        if c.is_null(r) {
                            "NULL".to_string()
                        } else {
                            let s = f.value(r).to_string();
                            if s.is_empty() { "(empty)".into() } else { s }
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Rows rendered as `.slt` lines (cells joined by a space).
pub(crate) fn render(batches: &[RecordBatch]) -> Vec<String> {
    cells(batches)
        .expect("formattable")
        .into_iter()
        .map(|r| r.join(" "))
        .collect()
}

#[tokio::test]
async fn sqllogictests() {
    let f = fixture();
    let catalog = parallax::app::load_catalog(&settings(f.data_dir.clone()))
        .await
        .expect("catalogue");
    let engine = Arc::new(Engine::new(catalog).expect("engine"));
    let failures = run_all(engine).await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs every `tests/slt/*.slt` file against `engine`; returns the failures.
pub(crate) async fn run_all(engine: Arc<Engine>) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in &files {
        let engine = engine.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let engine = engine.clone();
            async move { Ok(Db { engine }) }
        });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    failures
}

/// Every registered function (and alias) is called by at least one `.slt` file, the executable
/// spec of its semantics.
#[test]
fn every_function_is_exercised_by_an_slt_file() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let text: String = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .map(|p| std::fs::read_to_string(p).expect("slt file").to_lowercase())
        .collect();
    let mut missing = Vec::new();
    for f in parallax_udfs::all_functions() {
        for name in std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)) {
            if !text.contains(&format!("{name}(")) {
                missing.push(name.to_owned());
            }
        }
    }
    assert!(missing.is_empty(), "not in any .slt file: {missing:?}");
}
