//! Read-model projectors against a real Postgres: one fresh database per test.

mod carts;
mod common;
mod customers;
mod orders;
mod rebuild;
