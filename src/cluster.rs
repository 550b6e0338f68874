//! `tillroll db status | start | stop`: the private Postgres cluster that tillroll starts
//! under `<TILLROLL_DATA_DIR>/postgres` when there is no `DATABASE_URL` and no local server.
//! It is left running when tillroll exits, on purpose: several tillroll processes (a
//! `serve`, a `migrate`, a second node) may share it, and restarting one must not take the
//! database from the others. These commands say whether it runs and stop it when wanted.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::config::Config;
use crate::db::{self, DbError};

/// Whether the private cluster exists and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Never initialised here.
    Missing,
    Stopped,
    Running,
}

fn cluster_dir(config: &Config) -> PathBuf {
    db::data_dir(config).join("postgres")
}

/// `pg_ctl status`: exit 0 when a server runs on that directory.
pub fn state(cluster: &Path) -> Result<ClusterState, DbError> {
    if !cluster.join("PG_VERSION").exists() {
        return Ok(ClusterState::Missing);
    }
    let bin = db::postgres_bin_dir()
        .ok_or_else(|| DbError::NoServer("no Postgres server binaries are installed".into()))?;
    let program = bin.join("pg_ctl");
    let mut command = if db::is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let status = command
        .args(["-D", &cluster.to_string_lossy(), "status"])
        .output()
        .map_err(|e| DbError::NoServer(format!("pg_ctl could not run: {e}")))?;
    Ok(if status.status.success() {
        ClusterState::Running
    } else {
        ClusterState::Stopped
    })
}

/// `tillroll db status`: exit 0 when the private cluster runs, 3 when it does not (as
/// `pg_ctl status`).
pub fn status() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let cluster = cluster_dir(&config);
    let shown = cluster.display();
    Ok(match state(&cluster)? {
        ClusterState::Running => {
            println!("the private cluster in {shown} is running");
            ExitCode::SUCCESS
        }
        ClusterState::Stopped => {
            println!("the private cluster in {shown} is stopped");
            ExitCode::from(3)
        }
        ClusterState::Missing => {
            println!("there is no private cluster in {shown}");
            ExitCode::from(3)
        }
    })
}

/// `tillroll db start`: initialise the private cluster if needed and start it (what `serve`
/// does on its own when no other Postgres answers).
pub fn start() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let data = db::data_dir(&config);
    db::start_private_cluster(&data)?;
    println!(
        "the private cluster in {} is running",
        cluster_dir(&config).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `tillroll db stop`: a fast shutdown (open sessions are ended, committed work is kept).
pub fn stop() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let cluster = cluster_dir(&config);
    let shown = cluster.display();
    if state(&cluster)? != ClusterState::Running {
        println!("the private cluster in {shown} is not running");
        return Ok(ExitCode::SUCCESS);
    }
    let bin = db::postgres_bin_dir()
        .ok_or_else(|| DbError::NoServer("no Postgres server binaries are installed".into()))?;
    db::run_pg(
        &bin,
        "pg_ctl",
        &["-D", &cluster.to_string_lossy(), "-m", "fast", "-w", "stop"],
    )?;
    println!("the private cluster in {shown} is stopped");
    Ok(ExitCode::SUCCESS)
}
