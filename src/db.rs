//! Connecting to Postgres: `DATABASE_URL`, or the embedded default of DESIGN.md §7 — the
//! local server (libpq defaults) with database `tillroll` created if missing, or, when no
//! server answers but Postgres is installed, a private cluster under the data directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::Config;

pub const DEFAULT_DATABASE: &str = "tillroll";
const PRIVATE_PORT: u16 = 5439;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to Postgres: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("no Postgres server answers and {0}")]
    NoServer(String),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "database {0} does not exist (this command creates nothing: run `tillroll migrate` first)"
    )]
    Missing(String),
    #[error("database {name} does not exist and could not be created: {source}")]
    Create {
        name: String,
        #[source]
        source: sqlx::Error,
    },
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The connection options the configuration asks for, creating the database (the default
/// `tillroll` or the one `DATABASE_URL` names) and, if needed, a private cluster on the way.
pub async fn connect_options(config: &Config) -> Result<PgConnectOptions, DbError> {
    if let Some(url) = &config.database_url {
        let options = options_from_url(url).map_err(DbError::Url)?;
        ensure_named_database(&options).await?;
        return Ok(options.log_statements(tracing::log::LevelFilter::Trace));
    }
    let local = local_server();
    let options = match ensure_database(local.clone()).await {
        Ok(()) => local,
        Err(error) if is_unreachable(&error) => {
            let private = start_private_cluster(&data_dir(config))?;
            ensure_database(private.clone())
                .await
                .map_err(DbError::Connect)?;
            private
        }
        Err(error) => return Err(DbError::Connect(error)),
    };
    Ok(options
        .database(DEFAULT_DATABASE)
        .log_statements(tracing::log::LevelFilter::Trace))
}

/// As [`connect_options`] for commands that only read: nothing is created — no database, no
/// private cluster — and a missing database is an error that says so.
pub async fn existing_options(config: &Config) -> Result<PgConnectOptions, DbError> {
    let options = match &config.database_url {
        Some(url) => options_from_url(url).map_err(DbError::Url)?,
        None => local_server().database(DEFAULT_DATABASE),
    };
    match sqlx::PgConnection::connect_with(&options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(options.log_statements(tracing::log::LevelFilter::Trace))
        }
        Err(error) if is_missing_database(&error) => Err(DbError::Missing(
            options
                .get_database()
                .unwrap_or(DEFAULT_DATABASE)
                .to_owned(),
        )),
        Err(error) => Err(DbError::Connect(error)),
    }
}

fn is_missing_database(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.code().as_deref() == Some("3D000"))
}

/// Creates the database `options` names when it does not exist (as the default one is);
/// a role that may not create it gets an error saying so.
async fn ensure_named_database(options: &PgConnectOptions) -> Result<(), DbError> {
    let error = match sqlx::PgConnection::connect_with(options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(error) if is_missing_database(&error) => error,
        Err(error) => return Err(DbError::Connect(error)),
    };
    let name = options.get_database().unwrap_or_default().to_owned();
    let fail = |source| DbError::Create {
        name: name.clone(),
        source,
    };
    let mut conn = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .map_err(|_| fail(error))?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
        .execute(&mut conn)
        .await;
    match created {
        Ok(_) => tracing::info!(database = %name, "created the database DATABASE_URL names"),
        // Another process created it in the meantime.
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P04") => {}
        Err(e) => return Err(fail(e)),
    }
    let _ = conn.close().await;
    Ok(())
}

/// How long a request waits for a pooled connection before it answers 503 (API.md: within
/// 2 s when the database is out of reach or out of connections).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A setting generated once and kept in `settings`, so every process shares it: the stored
/// value, or `generate()`'s when none was stored yet (the first writer wins a race).
pub async fn shared_setting(
    pool: &PgPool,
    name: &str,
    generate: impl FnOnce() -> String,
) -> Result<String, sqlx::Error> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(generate())
        .execute(pool)
        .await?;
    let (value,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(value)
}

/// A pool that connects on first use (a read replica that is down at start answers 503 then,
/// rather than stopping the server).
pub fn lazy_pool(options: PgConnectOptions, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}

pub async fn pool(options: PgConnectOptions, max: u32) -> Result<PgPool, DbError> {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// The server's own sessions: named (so an operator sees them in `pg_stat_activity`), a
/// statement may run 30 s at most, and a transaction left idle for 10 s is ended by Postgres
/// (a frozen node cannot hold locks or rows for longer). See README, "Running several nodes".
pub fn server_sessions(options: PgConnectOptions) -> PgConnectOptions {
    options
        .application_name(&format!("tillroll {}", std::process::id()))
        .options([
            ("statement_timeout", "30s"),
            ("idle_in_transaction_session_timeout", "10s"),
        ])
}

/// An error that means "the database is out of reach or out of connections for now":
/// answered 503 with `Retry-After`, never 500.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // connection exceptions, too many connections, shutdown, statement timeout
            code.starts_with("08")
                || matches!(&*code, "53300" | "57P01" | "57P02" | "57P03" | "57014")
        }),
        _ => false,
    }
}

pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
}

/// Creates database `tillroll` on the server `server` points at, unless it exists.
async fn ensure_database(server: PgConnectOptions) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect_with(&server.clone().database("postgres")).await?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DEFAULT_DATABASE)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        let created = sqlx::query("CREATE DATABASE tillroll")
            .execute(&mut conn)
            .await;
        // Another process may have created it in the meantime.
        let already_exists = |e: &sqlx::Error| {
            e.as_database_error()
                .is_some_and(|e| e.code().as_deref() == Some("42P04"))
        };
        if let Err(error) = created
            && !already_exists(&error)
        {
            return Err(error);
        }
        tracing::info!("created database {DEFAULT_DATABASE}");
    }
    conn.close().await
}

/// `TILLROLL_DATA_DIR`, else `~/.local/share/tillroll`; as root `/var/lib/tillroll`, since the
/// cluster runs as the `postgres` user, who cannot enter root's home.
pub(crate) fn data_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.data_dir {
        return dir.clone();
    }
    if is_root() {
        return PathBuf::from("/var/lib/tillroll");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".local/share/tillroll")
}

pub(crate) fn postgres_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

pub(crate) fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Runs a Postgres tool; as root, as the `postgres` user (initdb refuses to run as root).
pub(crate) fn run_pg(bin: &Path, tool: &str, args: &[&str]) -> Result<(), DbError> {
    let program = bin.join(tool);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .output()
        .map_err(|e| DbError::NoServer(format!("{tool} could not run: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(DbError::NoServer(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// A cluster owned by tillroll under `<data dir>/postgres`, listening only on a Unix socket
/// in that directory. Started with `pg_ctl`; it keeps running after tillroll exits, on purpose
/// (other tillroll processes may be using it): `tillroll db stop` stops it.
pub(crate) fn start_private_cluster(data_dir: &Path) -> Result<PgConnectOptions, DbError> {
    let bin = postgres_bin_dir()
        .ok_or_else(|| DbError::NoServer("no Postgres server binaries are installed".into()))?;
    let cluster = data_dir.join("postgres");
    let cluster_str = cluster.to_string_lossy().into_owned();
    std::fs::create_dir_all(&cluster)
        .map_err(|e| DbError::NoServer(format!("cannot create {cluster_str}: {e}")))?;
    if is_root() {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres", &cluster_str])
            .status();
    }
    if !cluster.join("PG_VERSION").exists() {
        tracing::info!(dir = %cluster_str, "initialising a private Postgres cluster");
        let user = if is_root() {
            "postgres".to_owned()
        } else {
            current_user()
        };
        run_pg(
            &bin,
            "initdb",
            &[
                "-D",
                &cluster_str,
                "-U",
                &user,
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
    }
    let socket_options = format!(
        "-c listen_addresses='' -c unix_socket_directories='{cluster_str}' -p {PRIVATE_PORT}"
    );
    if !cluster.join("postmaster.pid").exists() {
        tracing::info!(dir = %cluster_str, "starting the private Postgres cluster");
        let log = cluster.join("server.log").to_string_lossy().into_owned();
        run_pg(
            &bin,
            "pg_ctl",
            &[
                "-D",
                &cluster_str,
                "-o",
                &socket_options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )?;
    }
    let user = if is_root() {
        "postgres".to_owned()
    } else {
        current_user()
    };
    Ok(PgConnectOptions::new()
        .socket(&cluster)
        .port(PRIVATE_PORT)
        .username(&user))
}

fn current_user() -> String {
    ["PGUSER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            let out = Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8(out.stdout).ok()?.trim().to_owned();
            (!name.is_empty()).then_some(name)
        })
        .unwrap_or_else(|| "postgres".into())
}

/// libpq's defaults (PGHOST/PGPORT or the Unix socket, then 127.0.0.1:5432) as the current
/// OS user, found even where `$USER` is unset (services, CI).
pub fn local_server() -> PgConnectOptions {
    without_tls_on_loopback(PgConnectOptions::new().username(&current_user()), false)
}

/// A Postgres URL's options, with TLS left out on loopback (see [`without_tls_on_loopback`]).
pub fn options_from_url(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    Ok(without_tls_on_loopback(options, url.contains("sslmode=")))
}

/// TLS to a server on this very machine protects nothing, and costs a handshake (loading the
/// system's root certificates) per connection and the encryption of every query. Unless a
/// mode was asked for (`sslmode=` in the URL, or `PGSSLMODE`), connections to a loopback
/// address or a Unix socket go without it; every other host keeps libpq's `prefer`.
pub fn without_tls_on_loopback(options: PgConnectOptions, mode_given: bool) -> PgConnectOptions {
    let mode_given = mode_given || std::env::var_os("PGSSLMODE").is_some();
    loopback_without_tls(options, mode_given)
}

/// [`without_tls_on_loopback`] once the environment was read: `mode_given` when the URL or
/// `PGSSLMODE` asked for a mode.
fn loopback_without_tls(options: PgConnectOptions, mode_given: bool) -> PgConnectOptions {
    if mode_given {
        return options;
    }
    let host = options.get_host();
    let loopback = host == "localhost"
        || host.starts_with('/')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback || options.get_socket().is_some() {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::loopback_without_tls;

    /// The mode a URL ends up with, `PGSSLMODE` set or not (`env_mode`). Independent of the
    /// environment the test runs in: a URL without `sslmode` starts from libpq's `prefer`.
    fn mode(url: &str, env_mode: bool) -> PgSslMode {
        let given = url.contains("sslmode=");
        let mut options = PgConnectOptions::from_str(url).unwrap();
        if !given {
            options = options.ssl_mode(PgSslMode::Prefer);
        }
        loopback_without_tls(options, given || env_mode).get_ssl_mode()
    }

    #[test]
    fn tls_is_left_out_on_loopback_unless_asked_for() {
        for url in [
            "postgres://u@127.0.0.1/db",
            "postgres://u@localhost:5433/db",
            "postgres://u@[::1]/db",
            "postgres:///db?host=/var/run/postgresql",
        ] {
            assert!(matches!(mode(url, false), PgSslMode::Disable), "{url}");
            // PGSSLMODE set: the mode is left to libpq's rules.
            assert!(matches!(mode(url, true), PgSslMode::Prefer), "{url}");
        }
        assert!(matches!(
            mode("postgres://u@db.example.com/db", false),
            PgSslMode::Prefer
        ));
        assert!(matches!(
            mode("postgres://u@127.0.0.1/db?sslmode=require", false),
            PgSslMode::Require
        ));
    }
}
