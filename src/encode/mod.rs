//! Encoding of captured records as JSON lines, on the worker: promotion of
//! well-known fields, the caches that make a repeated call site, thread or
//! span cheap, and the JSON writers. The format is specified in `format.md`
//! (rendered as the public `evtrail::format` module).
//!
//! The emitting thread never runs any of this; it only builds the
//! [`Record`](crate::record::Record).

mod cache;
mod encoder;
mod json;
mod resolve;

pub(crate) use encoder::{Encoder, StaticContext};
pub(crate) use resolve::{Resolved, default_class};
