//! vigil: the GB/T 28181 platform application (SIP transport, platform, store, API, simulator).

pub mod config;
pub mod store;
pub mod api;
pub mod app;
pub mod platform;
