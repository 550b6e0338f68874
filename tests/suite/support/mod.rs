//! Test helpers: a fresh database per test, and (in `app`) the real server on port 0.

pub mod db;

pub use db::TestDb;
