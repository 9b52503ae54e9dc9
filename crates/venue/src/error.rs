//! Errors, one enum per operation.

use core::fmt;
use std::net::SocketAddr;

use gapless_session::SendError;
use gapless_store::OpenError;
use gapless_transport::SetupError;

use crate::config::ConfigError;

/// Why [`Venue::bind`](crate::Venue::bind) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BindError {
    Config(ConfigError),
    /// The store directory could not be opened (damaged, or locked by another process).
    Store(OpenError),
    /// The acceptor could not listen.
    Listen {
        addr: SocketAddr,
        error: SetupError,
    },
}

/// Why [`Venue::run`](crate::Venue::run) stopped before its end.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The session could not journal or encode an outbound message.
    Send(SendError),
}

/// Why [`run`](crate::run) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum VenueError {
    Bind(BindError),
    Run(RunError),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Config(e) => write!(f, "configuration: {e}"),
            BindError::Store(e) => write!(f, "store: {e}"),
            BindError::Listen { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Send(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl fmt::Display for VenueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VenueError::Bind(e) => e.fmt(f),
            VenueError::Run(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BindError {}
impl std::error::Error for RunError {}
impl std::error::Error for VenueError {}
