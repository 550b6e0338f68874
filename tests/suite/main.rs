//! tillroll's integration suite: store, projections and HTTP tests against real Postgres, each
//! test on a fresh database of its own. One binary, so it links once.

mod support;

mod accounts;
mod audit;
mod catalog;
mod cli;
mod consistency;
mod database_url;
mod events_out;
mod export_memory;
mod group_commit;
mod hardening;
mod http_basics;
mod http_errors;
mod lists;
mod metrics;
mod money;
mod on_behalf;
mod openapi;
mod order_fields;
mod private_cluster;
mod projections;
mod quickstart;
mod rebuild;
mod seller_orders;
mod sse_tickets;
mod stock;
mod store;
mod webhooks;
