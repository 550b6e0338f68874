//! A fresh database per test, migrated, with a small pool (tests run in parallel), on the
//! server `TEST_DATABASE_URL` names (any database on it), else the local one (libpq defaults).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

pub struct TestDb {
    pub pool: PgPool,
    name: String,
}

fn server() -> PgConnectOptions {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) => {
            tillroll::db::options_from_url(&url).expect("TEST_DATABASE_URL is a Postgres URL")
        }
        Err(_) => tillroll::db::local_server(),
    }
    .disable_statement_logging()
}

async fn create(name: &str) {
    let mut admin = PgConnection::connect_with(&server().database("postgres"))
        .await
        .expect("Postgres answers at 127.0.0.1:5432 (or TEST_DATABASE_URL)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("test database created");
    admin.close().await.ok();
}

impl TestDb {
    pub async fn new() -> Self {
        Self::with_pool_size(4).await
    }

    pub async fn with_pool_size(max: u32) -> Self {
        let name = format!("tillroll_test_{}", uuid::Uuid::new_v4().simple());
        create(&name).await;
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .connect_with(server().database(&name))
            .await
            .expect("test database answers");
        tillroll::db::migrate(&pool).await.expect("migrations run");
        Self { pool, name }
    }

    /// A fresh database with nothing in it (not even migrations), and a small pool to it:
    /// for a `tillroll` process that is to set it up itself.
    pub async fn empty() -> Self {
        let name = format!("tillroll_test_{}", uuid::Uuid::new_v4().simple());
        create(&name).await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(server().database(&name))
            .await
            .expect("test database answers");
        Self { pool, name }
    }

    /// A `DATABASE_URL` for this database, for a `tillroll` process.
    pub fn url(&self) -> String {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) => {
                let mut url = reqwest::Url::parse(&url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&self.name);
                url.to_string()
            }
            Err(_) => {
                let options = server();
                let (host, port) = (options.get_host(), options.get_port());
                let user = options.get_username();
                if host.starts_with('/') {
                    format!(
                        "postgres:///{}?host={host}&port={port}&user={user}",
                        self.name
                    )
                } else {
                    format!("postgres://{user}@{host}:{port}/{}", self.name)
                }
            }
        }
    }

    /// Drops the database; call at the end of a test (a failed test leaves it for autopsy).
    pub async fn drop(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect_with(&server().database("postgres")).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }
}
