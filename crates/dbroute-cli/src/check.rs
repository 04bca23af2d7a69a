//! `dbroute check`: connects to every engine of a config and says what each server says it is,
//! for CI and deploy scripts. Exits 1 on a problem: an engine down, a replica that accepts
//! writes (not in recovery: the primary, or a promoted server), a primary in recovery (a
//! standby: a failover the config has not followed). Passwords are never printed: URLs come
//! redacted from the router's health report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dbroute::{Backend, Dialect, EngineReport, EngineState, Router, RoutingConfig};

/// Where the config comes from.
#[derive(Debug)]
pub(crate) enum Source {
    File(PathBuf),
    Env,
}

/// `dbroute check`'s arguments.
#[derive(Debug)]
pub(crate) struct CheckArgs {
    pub(crate) source: Source,
    /// How long to wait for every engine's first health probe.
    pub(crate) wait: Duration,
}

/// Runs the check; `Ok(true)` when every engine is what the config says.
pub(crate) fn run(args: &CheckArgs) -> Result<bool, String> {
    let config = match &args.source {
        Source::File(path) => RoutingConfig::from_toml_file(path),
        Source::Env => RoutingConfig::from_env(),
    }
    .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match config.dialect().map_err(|e| e.to_string())? {
        Dialect::Postgres => runtime.block_on(check::<sqlx::Postgres>(&config, args.wait, true)),
        Dialect::Sqlite => runtime.block_on(check::<sqlx::Sqlite>(&config, args.wait, false)),
        other => Err(format!("dbroute check does not support {other:?} yet")),
    }
}

async fn check<DB: Backend>(
    config: &RoutingConfig,
    wait: Duration,
    has_recovery: bool,
) -> Result<bool, String>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let router = Router::<DB>::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    let engines = settled(&router, wait, has_recovery).await;
    let catalog = router.refresh_catalog().await;
    print_table(&engines);
    match catalog {
        Ok(counts) => println!(
            "\ncatalog: {} volatile functions and {} primary-only relations loaded from the primary",
            counts.volatile_functions, counts.primary_only_relations
        ),
        Err(error) => println!("\ncatalog: could not be loaded ({error})"),
    }
    let problems: Vec<String> = engines
        .iter()
        .filter_map(|e| problem(e, has_recovery))
        .collect();
    for problem in &problems {
        eprintln!("problem: {problem}");
    }
    router.close().await;
    Ok(problems.is_empty())
}

/// The engines once every one has been probed (or is down), or at the deadline.
async fn settled<DB: Backend>(
    router: &Router<DB>,
    wait: Duration,
    has_recovery: bool,
) -> Vec<EngineReport> {
    let deadline = Instant::now() + wait;
    loop {
        let engines = router.health().engines;
        let probed = |e: &EngineReport| e.state == EngineState::Down || e.in_recovery.is_some();
        if !has_recovery || engines.iter().all(probed) || Instant::now() >= deadline {
            return engines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What is wrong with `engine`, if anything.
fn problem(engine: &EngineReport, has_recovery: bool) -> Option<String> {
    let name = &engine.engine;
    if engine.state == EngineState::Down {
        let why = engine.last_error.as_deref().unwrap_or("it does not answer");
        return Some(format!("engine {name} ({}) is down: {why}", engine.url));
    }
    if !has_recovery {
        return None;
    }
    match (engine.role, engine.in_recovery) {
        ("replica", Some(false)) => Some(format!(
            "replica {name} ({}) accepts writes (the server is not in recovery): it is a \
             primary, or a promoted standby; point the read group at standbys",
            engine.url
        )),
        ("primary" | "writer", Some(true)) => Some(format!(
            "{} {name} ({}) is in recovery (a standby): a failover the config has not \
             followed? point the default group at the new primary",
            engine.role, engine.url
        )),
        (_, None) => Some(format!(
            "engine {name} ({}) did not say whether it is in recovery in time (--wait)",
            engine.url
        )),
        _ => None,
    }
}

fn print_table(engines: &[EngineReport]) {
    let rows: Vec<[String; 8]> = engines.iter().map(row).collect();
    let header = [
        "GROUP", "ENGINE", "ROLE", "SERVER", "STATE", "LAG", "POOL", "URL",
    ]
    .map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

fn row(engine: &EngineReport) -> [String; 8] {
    let server = match engine.in_recovery {
        Some(true) => "standby (read-only)",
        Some(false) => "primary (writable)",
        None => "-",
    };
    let lag = match (engine.lag_bytes, engine.lag) {
        (Some(bytes), Some(time)) => format!("{bytes} B, {} ms", time.as_millis()),
        (Some(bytes), None) => format!("{bytes} B"),
        _ => "-".to_owned(),
    };
    let pool = &engine.pool;
    [
        engine.group.clone(),
        engine.engine.clone(),
        engine.role.to_owned(),
        server.to_owned(),
        format!("{:?}", engine.state).to_lowercase(),
        lag,
        format!(
            "max {} min {} acquire {} ms",
            pool.max_connections,
            pool.min_connections,
            pool.acquire_timeout.as_millis()
        ),
        engine.url.clone(),
    ]
}
