use std::sync::{Arc, Mutex, PoisonError};

use super::{Batch, Sink, SinkError};

/// Keeps every line in memory; for tests of applications that use evtrail.
///
/// Clones share the same lines, so keep one clone to read what the pipeline
/// wrote. Call [`Handle::flush`](crate::Handle::flush) before reading to be
/// sure everything emitted so far has arrived.
///
/// # Examples
///
/// ```
/// use evtrail::MemorySink;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let sink = MemorySink::new();
/// let (layer, guard) = evtrail::builder().unsigned()
///     .service("demo")
///     .add_sink(sink.clone())
///     .build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info!(user_id = 7, "hello");
/// });
/// guard.flush(std::time::Duration::from_secs(5))?;
/// assert!(sink.lines()[0].contains(r#""msg":"hello""#));
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// A copy of every line written so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The number of lines written so far.
    pub fn len(&self) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns every line written so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.extend(
            batch
                .iter()
                .map(|e| String::from_utf8_lossy(e.line()).into_owned()),
        );
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
