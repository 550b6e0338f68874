//! Test helpers: a fresh database per test, and (in `app`) the real server on port 0.
#![allow(dead_code)] // each test module uses a different part of the helpers

pub mod app;
pub mod catalog;
pub mod db;
pub mod nats;
pub mod receiver;

pub use app::{Reply, TestApp};
pub use db::TestDb;
