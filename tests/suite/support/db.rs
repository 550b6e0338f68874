//! A fresh database per test, migrated, with a small pool (tests run in parallel).

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

impl TestDb {
    pub async fn new() -> Self {
        Self::with_pool_size(4).await
    }

    pub async fn with_pool_size(max: u32) -> Self {
        let name = format!("tillroll_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server().database("postgres"))
            .await
            .expect("Postgres answers at 127.0.0.1:5432 (or TEST_DATABASE_URL)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("test database created");
        admin.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .connect_with(server().database(&name))
            .await
            .expect("test database answers");
        tillroll::db::migrate(&pool).await.expect("migrations run");
        Self { pool, name }
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
