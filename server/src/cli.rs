//! The `parallax` command line.

use std::io::Read as _;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::{Application, load_catalog};
use crate::config::{Overrides, Settings};
use crate::engine::Engine;

/// Parallax: ADQL/TAP over Gaia-scale Parquet catalogues.
#[derive(Debug, Parser)]
#[command(name = "parallax", version, about)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the TAP service (on the built-in demo catalogue unless tables are configured).
    Serve(ServeArgs),
    /// Write the synthetic Gaia DR3-like demo catalogue as Parquet.
    Generate {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Number of sources in gaiadr3.gaia_source.
        #[arg(long, default_value_t = 200_000)]
        sources: u64,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Sources with XP spectra [default: sources / 10].
        #[arg(long)]
        xp_spectra: Option<u64>,
        /// Sources with epoch photometry [default: sources / 40].
        #[arg(long)]
        light_curves: Option<u64>,
    },
    /// ADQL tools.
    #[command(subcommand)]
    Adql(AdqlCommand),
    /// Run a query on a Parallax server over Arrow Flight SQL; print a table or write --out.
    Query(crate::remote::QueryArgs),
    /// Print a `password_hash` (or, with --token, a `token_hash`) for `[[auth.users]]`; the
    /// secret is read from standard input.
    HashSecret {
        /// Hash a bearer token instead of a password.
        #[arg(long)]
        token: bool,
    },
    /// Run a Ballista scheduler with every Parallax function registered (`[engine] mode =
    /// "ballista"` front ends send their queries here).
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor with every Parallax function registered; it must see the
    /// catalogue's files at the same paths as the front end.
    Executor(ExecutorArgs),
    /// Print the configuration file reference (Markdown): every table and key with its type,
    /// default and meaning, as in docs/config-reference.md.
    ConfigReference,
    /// Measure end-to-end streaming throughput of /sync on the demo catalogue.
    Bench {
        /// Catalogue options, as for serve (the demo catalogue by default).
        #[command(flatten)]
        catalog: ServeArgs,
        /// Rows per query.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// FORMAT values to measure (`flight`: Arrow Flight SQL DoGet).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "votable/b2,votable/td,csv,arrow,flight"
        )]
        formats: Vec<String>,
        /// What to measure: `stream` (result formats over HTTP) or `spatial` (cone searches
        /// and self-crossmatches on synthetic skies, in process).
        #[arg(long, value_enum, default_value_t = BenchSuite::Stream)]
        suite: BenchSuite,
        /// Spatial suite: rows of the synthetic sky for cone searches.
        #[arg(long, default_value_t = 10_000_000)]
        cone_sources: usize,
        /// Spatial suite: positions of the synthetic sky for self-crossmatches.
        #[arg(long, default_value_t = 1_000_000)]
        xmatch_sources: usize,
        /// Spatial suite: cone radius in degrees.
        #[arg(long, default_value_t = 0.1)]
        cone_radius: f64,
        /// Spatial suite: self-crossmatch radii in arcseconds (none to skip).
        #[arg(long, value_delimiter = ',', default_value = "5,60")]
        xmatch_radii: Vec<f64>,
    },
}

/// `parallax scheduler`.
#[derive(Debug, Args, Clone)]
pub struct SchedulerArgs {
    /// gRPC listen address (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub listen: String,
    /// Host name executors and front ends use to reach this scheduler [default: the listen
    /// IP].
    #[arg(long)]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor counts as dead and its tasks are
    /// run again elsewhere (Ballista's default, 180, is too long for interactive queries).
    #[arg(long, default_value_t = 10)]
    pub executor_timeout: u64,
    /// Seconds a job may wait with no executor alive before it fails.
    #[arg(long, default_value_t = 30)]
    pub no_executors_grace: u64,
    /// Testing aid: claim this Parallax version instead of the real one (for the tests of a
    /// cluster whose processes run different versions).
    #[arg(long, hide = true)]
    pub test_pretend_version: Option<String>,
}

/// `parallax executor`.
#[derive(Debug, Args, Clone)]
pub struct ExecutorArgs {
    /// The scheduler.
    #[arg(long, default_value = crate::config::DEFAULT_SCHEDULER)]
    pub scheduler: String,
    /// Listen host of the executor's services.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this one [default:
    /// --bind-host].
    #[arg(long)]
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle data and results).
    #[arg(long, default_value_t = 50051)]
    pub flight_port: u16,
    /// gRPC port (task launch and cancellation).
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once [default: one per core].
    #[arg(long, default_value_t = 0)]
    pub concurrent_tasks: usize,
    /// Directory for shuffle files [default: a temporary directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler (keep well under the scheduler's
    /// --executor-timeout).
    #[arg(long, default_value_t = 2)]
    pub heartbeat_interval: u64,
    /// Testing aid: claim this Parallax version instead of the real one (for the tests of a
    /// cluster whose processes run different versions).
    #[arg(long, hide = true)]
    pub test_pretend_version: Option<String>,
}

/// `parallax bench --suite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchSuite {
    /// Result streaming over HTTP in each format.
    Stream,
    /// Cone searches and self-crossmatches.
    Spatial,
    /// A mahalanobis template search and a self-crossmatch, in process and on the Ballista
    /// cluster given with --ballista.
    Cluster,
    /// A workshop: many users running the same example queries, with and without the
    /// result cache; latency percentiles.
    Workshop,
}

/// Catalogue and server options shared by `serve` and `adql translate`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long)]
    pub http: Option<String>,
    /// Data directory for the demo catalogue and job results [default: ./data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Add a Parquet file, directory or glob as a table: SCHEMA.NAME=PATH (repeatable).
    #[arg(long = "table", value_name = "SCHEMA.NAME=PATH")]
    pub tables: Vec<String>,
    /// Public base URL of the TAP service, for VOSI access URLs behind a proxy.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Size of the demo catalogue generated on first start [default: 200000].
    #[arg(long)]
    pub demo_sources: Option<u64>,
    /// Also serve Arrow Flight SQL (gRPC) on this address; `--flight` alone means
    /// 127.0.0.1:50051.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:50051")]
    pub flight: Option<String>,
    /// Run queries on the Ballista cluster of this scheduler (`df://HOST:PORT`), as
    /// `[engine] mode = "ballista"`.
    #[arg(long, value_name = "URL")]
    pub ballista: Option<String>,
}

impl ServeArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(
            self.config.as_deref(),
            Overrides {
                http: self.http.clone(),
                data_dir: self.data_dir.clone(),
                public_url: self.public_url.clone(),
                tables: self.tables.clone(),
                demo_sources: self.demo_sources,
                flight: self.flight.clone(),
                ballista: self.ballista.clone(),
            },
        )?)
    }
}

/// `parallax adql ...`.
#[derive(Debug, Subcommand)]
pub enum AdqlCommand {
    /// Check the syntax of queries given as arguments (or one query on stdin); exit status 1
    /// when any is invalid.
    Parse {
        /// Queries; read one from stdin when none is given.
        queries: Vec<String>,
    },
    /// Print the DataFusion logical plan of queries against the catalogue.
    Translate {
        /// Catalogue options, as for serve.
        #[command(flatten)]
        catalog: ServeArgs,
        /// Queries; read one from stdin when none is given.
        queries: Vec<String>,
    },
}

fn queries_or_stdin(queries: &[String]) -> anyhow::Result<Vec<String>> {
    if !queries.is_empty() {
        return Ok(queries.to_vec());
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(vec![s])
}

/// Runs the command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => {
            let settings = args.settings()?;
            let app = Application::build(settings).await?;
            let addr = app.local_addr();
            tracing::info!(%addr, "TAP service ready");
            // The readiness line tests and scripts wait for.
            if let Some(flight) = app.flight_addr() {
                tracing::info!(%flight, "Flight SQL service ready");
                // Printed before the TAP line, which stays the last readiness line.
                println!("parallax: flight sql on grpc://{flight}");
            }
            println!("parallax: listening on http://{addr}/tap");
            app.run_until_stopped().await?;
            Ok(0)
        }
        Command::Scheduler(a) => {
            if let Some(v) = a.test_pretend_version {
                crate::cluster::version::pretend(v);
            }
            let listen = a.listen.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--listen: '{}' is not an address like 127.0.0.1:50050",
                    a.listen
                )
            })?;
            crate::cluster::run_scheduler(crate::cluster::SchedulerOptions {
                listen,
                external_host: a.external_host,
                executor_timeout: a.executor_timeout.max(2),
                no_executors_grace: a.no_executors_grace,
            })
            .await?;
            Ok(0)
        }
        Command::Executor(a) => {
            if let Some(v) = a.test_pretend_version {
                crate::cluster::version::pretend(v);
            }
            crate::cluster::run_executor(crate::cluster::ExecutorOptions {
                scheduler: a.scheduler,
                bind_host: a.bind_host,
                external_host: a.external_host,
                flight_port: a.flight_port,
                grpc_port: a.grpc_port,
                concurrent_tasks: a.concurrent_tasks,
                work_dir: a.work_dir,
                heartbeat_interval: a.heartbeat_interval,
            })
            .await?;
            Ok(0)
        }
        Command::Generate {
            out,
            sources,
            seed,
            xp_spectra,
            light_curves,
        } => {
            let mut opts = parallax_demo::DemoOptions::for_sources(sources);
            opts.seed = seed;
            opts.xp_spectra = xp_spectra.unwrap_or(opts.xp_spectra);
            opts.light_curves = light_curves.unwrap_or(opts.light_curves);
            std::fs::create_dir_all(&out)?;
            let summary =
                tokio::task::spawn_blocking(move || parallax_demo::generate(&out, &opts)).await??;
            for t in &summary.tables {
                println!(
                    "{}.{}\t{} rows\t{}",
                    t.schema,
                    t.name,
                    t.rows,
                    t.path.display()
                );
            }
            Ok(0)
        }
        Command::Bench {
            catalog,
            rows,
            formats,
            suite,
            cone_sources,
            xmatch_sources,
            cone_radius,
            xmatch_radii,
        } => {
            let mut settings = catalog.settings()?;
            settings.http = "127.0.0.1:0".parse()?;
            if formats.iter().any(|f| f == "flight") {
                settings.flight = Some("127.0.0.1:0".parse()?);
            }
            match suite {
                BenchSuite::Stream => {
                    crate::bench::run(settings, rows, &formats).await?;
                }
                BenchSuite::Cluster => {
                    let radius = xmatch_radii.first().copied().unwrap_or(5.0);
                    crate::bench::cluster(settings, xmatch_sources, radius).await?;
                }
                BenchSuite::Workshop => {
                    crate::bench::workshop(settings, 50, 10).await?;
                }
                BenchSuite::Spatial => {
                    crate::bench::spatial(
                        settings,
                        cone_sources,
                        cone_radius,
                        xmatch_sources,
                        &xmatch_radii,
                    )
                    .await?;
                }
            }
            Ok(0)
        }
        Command::Query(args) => Ok(crate::remote::run(args).await?),
        Command::ConfigReference => {
            print!("{}", crate::config::reference::markdown());
            Ok(0)
        }
        Command::HashSecret { token } => {
            let mut secret = String::new();
            std::io::stdin().read_line(&mut secret)?;
            let secret = secret.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                anyhow::bail!("no secret on standard input");
            }
            if token {
                println!("{}", crate::auth::hash_token(secret));
            } else {
                println!("{}", crate::auth::hash_password(secret));
            }
            Ok(0)
        }
        Command::Adql(AdqlCommand::Parse { queries }) => {
            let mut code = 0;
            for q in queries_or_stdin(&queries)? {
                match parallax_adql::parse(&q) {
                    Ok(_) => println!("ok"),
                    Err(e) => {
                        eprintln!("{}", e.render(&q));
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        Command::Adql(AdqlCommand::Translate { catalog, queries }) => {
            let settings = catalog.settings()?;
            let engine = Engine::build(load_catalog(&settings).await?, &settings.engine, 0).await?;
            let mut code = 0;
            for q in queries_or_stdin(&queries)? {
                match engine.plan(&q).await {
                    Ok(plan) => println!("{}", plan.display_indent()),
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
    }
}
