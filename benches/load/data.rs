//! The bench database and the data loaded into it over the HTTP API.

use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::Flags;
use crate::server::Server;

pub struct BenchDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl BenchDb {
    /// A fresh database, and a pool of `connections` kept open to it.
    pub async fn create(connections: u32) -> Self {
        let server = tillroll::db::local_server().host("127.0.0.1").port(5432);
        let name = format!("tillroll_bench_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server.clone().database("postgres"))
            .await
            .expect("Postgres answers on 127.0.0.1:5432");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("bench database created");
        let user = server.get_username().to_owned();
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(connections)
            .connect_with(server.database(&name))
            .await
            .expect("bench database answers");
        tillroll::db::migrate(&pool).await.expect("migrations");
        Self {
            url: format!("postgres://{user}@127.0.0.1:5432/{name}"),
            name,
            pool,
        }
    }

    pub async fn drop(self) {
        self.pool.close().await;
        let server = tillroll::db::local_server().host("127.0.0.1").port(5432);
        if let Ok(mut admin) = PgConnection::connect_with(&server.database("postgres")).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

/// Users and products created through the API.
pub struct Fixture {
    pub customers: Vec<String>,
    pub product_ids: Arc<Vec<Uuid>>,
    pub categories: Vec<String>,
}

pub const ADMIN_EMAIL: &str = "admin@bench.test";
pub const ADMIN_PASSWORD: &str = "bench-admin-password";

async fn token(srv: &Server, path: &str, body: Value) -> (String, Uuid) {
    let reply: Value = srv
        .client
        .post(srv.url(path))
        .json(&body)
        .send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("json");
    let token = reply["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: {reply}"))
        .to_owned();
    let id = reply["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    (token, id)
}

async fn register(srv: &Server, email: &str) -> (String, Uuid) {
    token(
        srv,
        "/auth/register",
        json!({"email": email, "password": "correct horse battery", "name": "Bench User", "phone": "0712345678"}),
    )
    .await
}

impl Fixture {
    pub async fn load(srv: &Server, flags: &Flags) -> Self {
        let (admin, _) = token(
            srv,
            "/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
        let (_, seller_id) = register(srv, "seller@bench.test").await;
        let granted = srv
            .client
            .patch(srv.url(&format!("/users/{seller_id}")))
            .bearer_auth(&admin)
            .json(&json!({"role": "seller"}))
            .send()
            .await
            .expect("server answers");
        assert!(
            granted.status().is_success(),
            "granting seller: {}",
            granted.status()
        );
        let (seller, _) = token(
            srv,
            "/auth/login",
            json!({"email": "seller@bench.test", "password": "correct horse battery"}),
        )
        .await;
        let categories: Vec<String> = [
            "phones",
            "computing",
            "kitchen",
            "fashion",
            "sports",
            "gaming",
            "furniture",
            "electronics",
            "books",
            "garden",
        ]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
        let mut product_ids = Vec::with_capacity(flags.products);
        for chunk in (0..flags.products).collect::<Vec<_>>().chunks(16) {
            let creates = chunk.iter().map(|&n| {
                let body = json!({
                    "name": format!("Bench product {n}"),
                    "description": format!("A sturdy thing number {n} for benchmarking"),
                    "category": categories[n % categories.len()],
                    "price": 10_000 + (n as i64 % 50) * 100,
                    "initial_stock": 1_000_000,
                });
                let request = srv
                    .client
                    .post(srv.url("/products"))
                    .bearer_auth(&seller)
                    .json(&body);
                async move {
                    let reply: Value = request
                        .send()
                        .await
                        .expect("answers")
                        .json()
                        .await
                        .expect("json");
                    reply["id"]
                        .as_str()
                        .unwrap_or_else(|| panic!("create product: {reply}"))
                        .parse::<Uuid>()
                        .expect("uuid")
                }
            });
            product_ids.extend(futures_util::future::join_all(creates).await);
        }
        let mut customers = Vec::new();
        for n in 0..flags.customers {
            customers.push(register(srv, &format!("customer{n}@bench.test")).await.0);
        }
        Self {
            customers,
            product_ids: Arc::new(product_ids),
            categories,
        }
    }
}
