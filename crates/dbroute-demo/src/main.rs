//! `dbroute-demo`: the users-and-orders API with its live `/routing` page.
//!
//! ```text
//! cargo run -p dbroute-demo                              # embedded SQLite (a temporary file)
//! cargo run -p dbroute-demo -- --local-cluster           # PostgreSQL primary + 2 replicas on loopback
//! cargo run -p dbroute-demo -- --config dbroute.toml     # your own engines
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use dbroute::{Dialect, Router, RoutingConfig};
use dbroute_demo::Store;
use dbroute_test_cluster::Cluster;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

const USAGE: &str = "\
dbroute-demo: a users-and-orders JSON API on dbroute, with a live /routing page

USAGE:
    dbroute-demo [OPTIONS]

OPTIONS:
    --sqlite <FILE>      the embedded SQLite default on FILE (default: a file in the temp dir)
    --local-cluster      start a PostgreSQL primary and two streaming replicas on loopback
                         (needs the PostgreSQL server binaries: apt-get install postgresql)
    --config <FILE>      the engines of a dbroute TOML config (PostgreSQL or SQLite)
    --env                the engines of the DBROUTE_* environment variables
    --listen <ADDR>      where to serve (default 127.0.0.1:3000; port 0 picks a free one)
    --verbose            log every routing decision (target dbroute::decision)
    -h, --help           this text
";

/// Where the engines come from.
#[derive(Debug)]
enum Source {
    Sqlite(Option<PathBuf>),
    LocalCluster,
    Config(PathBuf),
    Env,
}

#[derive(Debug)]
struct Options {
    source: Source,
    listen: SocketAddr,
    verbose: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        source: Source::Sqlite(None),
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        verbose: false,
    };
    let value = |flag: &str, args: &mut dyn Iterator<Item = String>| {
        args.next().ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--sqlite" => options.source = Source::Sqlite(Some(value(&arg, &mut args)?.into())),
            "--local-cluster" => options.source = Source::LocalCluster,
            "--config" => options.source = Source::Config(value(&arg, &mut args)?.into()),
            "--env" => options.source = Source::Env,
            "--listen" => {
                let text = value(&arg, &mut args)?;
                options.listen = text.parse().map_err(|_| {
                    format!("--listen {text:?}: not an address; write it as 127.0.0.1:3000")
                })?;
            }
            "--verbose" => options.verbose = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("dbroute-demo: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let decisions = match options.verbose {
        true => LevelFilter::DEBUG,
        false => LevelFilter::OFF,
    };
    let targets = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("dbroute::decision", decisions);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(targets))
        .init();
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("dbroute-demo: {problem}");
            ExitCode::FAILURE
        }
    }
}

type Problem = Box<dyn std::error::Error>;

async fn run(options: Options) -> Result<(), Problem> {
    // Held to the end: dropping the cluster stops its servers.
    let mut cluster = None;
    let config = match &options.source {
        Source::Sqlite(file) => {
            let file = file
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("dbroute-demo.db"));
            println!("engines: the embedded SQLite default on {}", file.display());
            RoutingConfig::sqlite(file)
        }
        Source::LocalCluster => {
            println!("starting a PostgreSQL primary and two streaming replicas on loopback...");
            let started = tokio::task::spawn_blocking(|| Cluster::start(2)).await??;
            let config = dbroute_demo::cluster_config(&started)?;
            cluster = Some(started);
            config
        }
        Source::Config(file) => RoutingConfig::from_toml_file(file)?,
        Source::Env => RoutingConfig::from_env()?,
    };
    match config.dialect()? {
        Dialect::Sqlite => serve::<sqlx::Sqlite>(&config, options.listen).await?,
        Dialect::Postgres => serve::<sqlx::Postgres>(&config, options.listen).await?,
        other => {
            return Err(format!("the demo runs on SQLite and PostgreSQL, not {other:?}").into());
        }
    }
    drop(cluster);
    Ok(())
}

async fn serve<DB: Store>(config: &RoutingConfig, listen: SocketAddr) -> Result<(), Problem>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let db = Router::<DB>::connect(config).await?;
    println!("{db:?}");
    DB::prepare(&db).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    println!("serving on http://{address}: open http://{address}/routing (Ctrl-C stops)");
    axum::serve(listener, dbroute_demo::app::<DB>(db.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    db.close().await;
    Ok(())
}
