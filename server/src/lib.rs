//! Parallax: an IVOA TAP 1.1 service (ADQL 2.1 over Apache DataFusion) for Gaia-scale
//! catalogues.
//!
//! The crate is the `parallax` binary's library: configuration ([`config`]), the one
//! session/engine builder every entry point uses ([`engine`]), the TAP HTTP service ([`tap`]), the Arrow Flight SQL service ([`flight`]),
//! remote PostgreSQL and Flight SQL tables ([`federation`]) and the application wiring ([`app`]).

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod config;
mod console;
mod coop;
pub mod engine;
pub mod failpoint;
pub mod federation;
pub mod flight;
pub mod ops;
pub mod remote;
pub mod tap;
pub mod time;
pub mod upload;
pub mod uws;
