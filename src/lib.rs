//! tillroll: an event-sourced commerce backend. Every change is an event in one Postgres log;
//! projectors turn the log into the read models that queries serve.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;

pub mod domain;
pub mod http;
pub mod images;
pub mod metrics;
pub mod payments;
pub mod state;
pub mod store;
pub mod webhooks;
pub mod workers;

pub use app::Application;
pub use config::Config;
