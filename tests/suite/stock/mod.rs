//! Stock over HTTP: counts and adjustments by the product's seller or an admin, the 409 when
//! stock promised to open orders would be counted away (`commands`), and the stock queries
//! (`queries`).

mod commands;
mod queries;
