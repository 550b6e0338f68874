//! A throwaway Postgres cluster of the installed server binaries, on a free port, for tests
//! that disturb a whole cluster (a transaction held open, a restore from a dump). Run as the
//! `postgres` user when the tests run as root (initdb refuses root).

use std::path::PathBuf;
use std::process::Command;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub struct PgCluster {
    dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort();
    versions
        .pop()
        .expect("Postgres server binaries under /usr/lib/postgresql (or PG_BIN_DIR)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a server binary, as `postgres` when we are root.
fn run(bin: &std::path::Path, args: &[&str]) {
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .args(args)
            .output()
    } else {
        Command::new(bin).args(args).output()
    }
    .expect("a Postgres binary runs");
    assert!(
        output.status.success(),
        "{} {args:?}: {}{}",
        bin.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A new directory the `postgres` user owns, and a free port.
fn fresh_place() -> (PathBuf, u16) {
    let dir = std::env::temp_dir().join(format!("tillroll-pg-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("cluster directory");
    if is_root() {
        let status = Command::new("chown")
            .args(["postgres:postgres", &dir.display().to_string()])
            .status()
            .expect("chown runs");
        assert!(status.success());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    (dir, port)
}

impl PgCluster {
    /// Initialises and starts a fresh cluster (trust authentication, superuser `postgres`).
    pub fn start() -> Self {
        let bin = bin_dir();
        let (dir, port) = fresh_place();
        let data = dir.join("data");
        let data = data.display().to_string();
        run(
            &bin.join("initdb"),
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        let cluster = Self { dir, port, bin };
        cluster.resume();
        cluster
    }

    /// A streaming replica of `primary` (`pg_basebackup -R`), started on a port of its own.
    pub fn standby_of(primary: &PgCluster) -> Self {
        let bin = primary.bin.clone();
        let (dir, port) = fresh_place();
        let standby = Self { dir, port, bin };
        run(
            &standby.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby.data(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
            ],
        );
        standby.resume();
        standby
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Stops the server (fast: sessions are cut), as an outage does.
    pub fn halt(&self) {
        run(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        );
    }

    /// Starts the (stopped) server again on the same port.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=60 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .database(database)
            .disable_statement_logging()
    }

    pub async fn pool(&self, database: &str, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(self.options(database))
            .await
            .expect("the throwaway cluster answers")
    }

    pub async fn create_database(&self, name: &str) {
        let admin = self.pool("postgres", 1).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("database created");
        admin.close().await;
    }

    /// A server binary of this installation (pg_dump, psql…).
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        let stop = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&stop)
                .args(args)
                .output()
        } else {
            Command::new(&stop).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
