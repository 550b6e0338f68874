//! tillroll's integration suite: store, projections and HTTP tests against real Postgres, each
//! test on a fresh database of its own. One binary, so it links once.

mod support;

mod audit;
mod http_basics;
mod projections;
mod rebuild;
mod store;
