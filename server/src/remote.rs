//! `parallax query`: runs an ADQL or SQL query on a Parallax server over Arrow Flight SQL
//! (with [`parallax_flight_client`]) and prints an aligned table or writes a file.
//!
//! Files are written batch by batch with the TAP result writers (`parallax-formats`), the
//! format chosen by the extension: `.parquet`, `.csv`, `.arrow`/`.arrows` (Arrow IPC stream),
//! `.vot`/`.votable`/`.xml` (VOTable 1.4 BINARY2). The terminal table shows at most
//! `--max-rows` rows; the query is stopped (the stream dropped) once they are read.

use std::path::{Path, PathBuf};

use clap::Args;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, TryStreamExt};
use parallax_flight_client::{Client, ConnectOptions, Credentials, Lang, ResultStream};
use parallax_formats::{EndStatus, OutputFormat};
use tokio::io::AsyncWriteExt;

/// Widest cell printed in the terminal table, in characters.
const MAX_CELL_CHARS: usize = 40;

/// `parallax query` options.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Flight SQL address of the server: grpc://HOST:PORT or grpc+tls://HOST:PORT.
    #[arg(long)]
    pub url: String,
    /// The query is read-only DataFusion SQL instead of ADQL.
    #[arg(long)]
    pub sql: bool,
    /// Bearer token (also from the PARALLAX_TOKEN environment variable).
    #[arg(
        long,
        env = "PARALLAX_TOKEN",
        conflicts_with = "user",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// User name for basic authentication (the password comes from --password-file).
    #[arg(long, requires = "password_file")]
    pub user: Option<String>,
    /// File whose first line is the password of --user.
    #[arg(long, requires = "user")]
    pub password_file: Option<PathBuf>,
    /// PEM CA certificate to trust for grpc+tls:// (default: the web PKI roots).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Write the whole result to FILE (.parquet, .csv, .arrow, .arrows, .vot, .votable, .xml)
    /// instead of printing a table.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Rows shown in the terminal table.
    #[arg(long, default_value_t = 50)]
    pub max_rows: usize,
    /// Fetch the result of this completed TAP async job (id or job URL) instead of running
    /// a query.
    #[arg(long, value_name = "JOB", conflicts_with = "query")]
    pub job: Option<String>,
    /// The query (ADQL unless --sql).
    #[arg(required_unless_present = "job")]
    pub query: Option<String>,
}

/// Why `parallax query` failed (the binary prints it and exits with status 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The client failed: bad URL, unreachable server, refused query.
    #[error(transparent)]
    Client(#[from] parallax_flight_client::ClientError),
    /// A bad option.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("{path}: {reason}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The writer format for an output file name.
fn format_for(path: &Path) -> Result<OutputFormat, RemoteError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "parquet" => OutputFormat::Parquet,
        "csv" => OutputFormat::Csv,
        "arrow" | "arrows" => OutputFormat::ArrowStream,
        "vot" | "votable" | "xml" => OutputFormat::VotableBinary2,
        _ => {
            return Err(RemoteError::Usage(format!(
                "--out {}: unknown extension; use .parquet, .csv, .arrow, .arrows, .vot, \
                 .votable or .xml",
                path.display()
            )));
        }
    })
}

/// Runs `parallax query`; the process exit code.
pub async fn run(args: QueryArgs) -> Result<i32, RemoteError> {
    let format = args.out.as_deref().map(format_for).transpose()?;
    let read = |p: &Path, what: &str| {
        std::fs::read(p).map_err(|e| RemoteError::Usage(format!("{what} {}: {e}", p.display())))
    };
    let credentials = match (&args.token, &args.user, &args.password_file) {
        (Some(t), _, _) => Credentials::Bearer(t.clone()),
        (None, Some(user), Some(file)) => {
            let text = String::from_utf8(read(file, "--password-file")?).map_err(|_| {
                RemoteError::Usage(format!("--password-file {}: not UTF-8", file.display()))
            })?;
            let password = text.lines().next().unwrap_or("").to_string();
            Credentials::Basic {
                user: user.clone(),
                password,
            }
        }
        _ => Credentials::None,
    };
    let tls_ca_pem = args
        .tls_ca
        .as_deref()
        .map(|p| read(p, "--tls-ca"))
        .transpose()?;
    let opts = ConnectOptions {
        url: args.url.clone(),
        credentials,
        tls_ca_pem,
        lang: if args.sql { Lang::Sql } else { Lang::Adql },
    };
    let mut client = Client::connect(&opts).await?;
    let stream = match (&args.job, &args.query) {
        (Some(job), _) => client.job_result(job).await?,
        (None, Some(q)) => client.query(q).await?,
        (None, None) => return Err(RemoteError::Usage("no query given".into())),
    };
    match (args.out, format) {
        (Some(path), Some(format)) => write_file(stream, &path, format).await,
        _ => print_table(stream, args.max_rows).await,
    }
}

/// Streams the result into `path` with the TAP writers; removes the file on failure.
async fn write_file(
    stream: ResultStream,
    path: &Path,
    format: OutputFormat,
) -> Result<i32, RemoteError> {
    let out_err = |reason: String| RemoteError::Output {
        path: path.display().to_string(),
        reason,
    };
    let schema = stream.schema().clone();
    let writer = parallax_formats::new_writer(format, schema.clone(), vec![], vec![])
        .map_err(|e| out_err(e.to_string()))?;
    let batches = RecordBatchStreamAdapter::new(
        schema,
        stream.map_err(|e| DataFusionError::External(Box::new(e))),
    );
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| out_err(e.to_string()))?;
    let mut sink = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let result =
        parallax_formats::write_stream_to(writer, Box::pin(batches), None, &mut sink).await;
    let flushed = sink.shutdown().await;
    let failure = match (&result, flushed) {
        (Err(e), _) => Some(out_err(e.to_string())),
        (Ok(_), Err(e)) => Some(out_err(e.to_string())),
        (Ok(s), Ok(())) => match &s.end {
            EndStatus::Error(m) => Some(out_err(format!(
                "the query failed after {} rows: {}",
                s.rows,
                m.strip_prefix("External error: ").unwrap_or(m)
            ))),
            _ => None,
        },
    };
    if let Some(e) = failure {
        let _ = tokio::fs::remove_file(path).await;
        return Err(e);
    }
    if let Ok(s) = result {
        eprintln!("{} rows written to {}", s.rows, path.display());
    }
    Ok(0)
}

/// Prints at most `max_rows` rows as an aligned table, then stops the query.
async fn print_table(mut stream: ResultStream, max_rows: usize) -> Result<i32, RemoteError> {
    let schema = stream.schema().clone();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut more = false;
    let options = FormatOptions::default().with_null("NULL");
    while let Some(batch) = stream.next().await {
        let batch: RecordBatch = batch?;
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RemoteError::Usage(format!("cannot display a column: {e}")))?;
        for i in 0..batch.num_rows() {
            if rows.len() == max_rows {
                more = true;
                break;
            }
            rows.push(
                formatters
                    .iter()
                    .map(|f| cell(&f.value(i).to_string()))
                    .collect(),
            );
        }
        if more {
            break;
        }
    }
    // Dropping the stream cancels the call: the server stops the query.
    drop(stream);
    let headers: Vec<String> = schema.fields().iter().map(|f| cell(f.name())).collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    let mut out = String::new();
    out.push_str(&line(&headers));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    if more {
        out.push_str(&format!(
            "(first {} rows shown; use --max-rows N or --out FILE for more)\n",
            rows.len()
        ));
    } else {
        out.push_str(&format!("({} rows)\n", rows.len()));
    }
    print!("{out}");
    Ok(0)
}

/// One line, at most [`MAX_CELL_CHARS`] characters.
fn cell(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= MAX_CELL_CHARS {
        return flat;
    }
    let mut s: String = flat.chars().take(MAX_CELL_CHARS - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(
            format_for(Path::new("a.PARQUET")).unwrap(),
            OutputFormat::Parquet
        );
        assert_eq!(
            format_for(Path::new("x/b.arrows")).unwrap(),
            OutputFormat::ArrowStream
        );
        assert!(format_for(Path::new("c.vot")).unwrap().is_votable());
        assert!(format_for(Path::new("d.xlsx")).is_err());
        assert!(format_for(Path::new("noext")).is_err());
    }

    #[test]
    fn cells_are_bounded() {
        assert_eq!(cell("a\nb"), "a b");
        let long = "x".repeat(100);
        assert_eq!(cell(&long).chars().count(), MAX_CELL_CHARS);
    }
}
