//! End-to-end tests of the TAP service: a real server on 127.0.0.1:0 over the demo catalogue,
//! talked to over HTTP, plus the sqllogictest behaviour files in `tests/slt/`.
//!
//! One test binary (each links all of DataFusion).

mod auth;
mod ballista;
mod cli;
mod common;
mod cone_search;
mod crossmatch;
mod federation;
mod flight;
mod flight_client;
mod http;
mod load;
mod ops;
mod process;
mod science;
mod slt;
mod upload;
mod uws;
mod votable;
