//! The library's error type.

use std::error::Error as StdError;
use std::fmt;

/// What went wrong, broadly; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting is invalid (zero capacity, empty service name, bad filter, …).
    Config,
    /// A file or directory could not be created, opened or written.
    Io,
    /// An operation did not finish within its timeout.
    Timeout,
    /// The pipeline has been shut down.
    Closed,
    /// A sink still holds records it could not write.
    Sink,
    /// What was read back is not what evtrail writes: a line that is not a
    /// record, or one longer than the reader's limit.
    Malformed,
}

/// The error returned by evtrail's fallible operations.
///
/// `Display` gives this layer's message with its context; the underlying
/// cause, if any, is available from [`source`](std::error::Error::source).
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Error {
        Error {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// The broad category of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_context_and_source_is_separate() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = Error::with_source(ErrorKind::Io, "cannot create log directory `./logs`", io);
        assert_eq!(e.to_string(), "cannot create log directory `./logs`");
        assert_eq!(e.source().unwrap().to_string(), "denied");
        assert_eq!(e.kind(), ErrorKind::Io);
    }
}
