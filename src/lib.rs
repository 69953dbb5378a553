//! vigil: the GB/T 28181 platform application (SIP transport, platform, store, API, simulator).

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod metrics;
pub mod platform;
pub mod sim;
pub mod store;
pub mod transport;
