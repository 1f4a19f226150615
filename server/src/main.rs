use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = parallax::cli::Cli::parse();
    // Dependencies log at warn by default, Parallax itself at info; each -v raises both.
    let v = usize::from(cli.verbose.min(3));
    let level = ["warn", "info", "debug", "trace"][v];
    let own = ["info", "info", "debug", "trace"][v];
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},parallax={own},parallax_udfs={own}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match parallax::cli::run(cli).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("parallax: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
