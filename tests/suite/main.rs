//! tillroll's integration suite: store, projections and HTTP tests against real Postgres, each
//! test on a fresh database of its own. One binary, so it links once.

mod support;

mod http_basics;
mod money;
mod projections;
mod store;
