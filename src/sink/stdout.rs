use std::io::{self, Write};

use serde_json::Value;

use super::{Batch, Sink, SinkError};

/// How [`StdoutSink`] renders records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StdoutFormat {
    /// The JSON lines exactly as signed and stored (the default).
    #[default]
    Json,
    /// One compact human-readable line per record, for development:
    /// `2026-11-22T10:00:00.123456Z  INFO app#12 [class/event] message key=value …`.
    Compact,
}

/// Writes records to standard output or standard error.
///
/// # Examples
///
/// ```
/// use evtrail::{StdoutFormat, StdoutSink};
///
/// let sink = StdoutSink::stderr().format(StdoutFormat::Compact);
/// # let _ = sink;
/// ```
#[derive(Debug)]
pub struct StdoutSink {
    stderr: bool,
    format: StdoutFormat,
    buf: Vec<u8>,
}

impl StdoutSink {
    /// A sink writing to standard output, as JSON lines.
    pub fn stdout() -> StdoutSink {
        StdoutSink {
            stderr: false,
            format: StdoutFormat::Json,
            buf: Vec::new(),
        }
    }

    /// A sink writing to standard error, as JSON lines.
    pub fn stderr() -> StdoutSink {
        StdoutSink {
            stderr: true,
            ..StdoutSink::stdout()
        }
    }

    /// Sets the rendering. Default [`StdoutFormat::Json`].
    pub fn format(mut self, format: StdoutFormat) -> StdoutSink {
        self.format = format;
        self
    }
}

/// Renders one JSON record as a compact human-readable line.
pub(crate) fn compact_line(line: &[u8], out: &mut Vec<u8>) {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) else {
        out.extend_from_slice(line);
        out.push(b'\n');
        return;
    };
    let s = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("");
    let _ = write!(
        out,
        "{} {:>5} {}#{}",
        s("ts"),
        s("level"),
        s("stream"),
        map.get("seq").unwrap_or(&Value::Null)
    );
    match (map.get("class").and_then(Value::as_str), map.get("event")) {
        (Some(c), Some(e)) => {
            let e = e
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string());
            let _ = write!(out, " [{c}/{e}]");
        }
        (Some(c), None) if c != "info" => {
            let _ = write!(out, " [{c}]");
        }
        _ => {}
    }
    let _ = write!(out, " {}:", s("target"));
    if !s("msg").is_empty() {
        let _ = write!(out, " {}", s("msg"));
    }
    for key in [
        "tenant",
        "user",
        "ip",
        "op",
        "request_id",
        "trace_id",
        "code",
        "status",
    ] {
        if let Some(v) = map.get(key) {
            let _ = write!(out, " {key}={v}");
        }
    }
    if let Some(Value::Object(fields)) = map.get("fields") {
        for (k, v) in fields {
            let _ = write!(out, " {k}={v}");
        }
    }
    if let Some(Value::Array(spans)) = map.get("spans") {
        let names: Vec<&str> = spans
            .iter()
            .filter_map(|s| s.get("name")?.as_str())
            .collect();
        let _ = write!(out, " in {}", names.join(">"));
    }
    out.push(b'\n');
}

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        if self.stderr { "stderr" } else { "stdout" }
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.buf.clear();
        for e in batch.iter() {
            match self.format {
                StdoutFormat::Json => {
                    self.buf.extend_from_slice(e.line());
                    self.buf.push(b'\n');
                }
                StdoutFormat::Compact => compact_line(e.line(), &mut self.buf),
            }
        }
        let res = if self.stderr {
            io::stderr().lock().write_all(&self.buf)
        } else {
            io::stdout().lock().write_all(&self.buf)
        };
        match res {
            // A closed pipe (`app | head`) is not a reason to stop logging elsewhere.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(SinkError::io(format!("cannot write to {}", self.name()), e)),
            Ok(()) => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let res = if self.stderr {
            io::stderr().flush()
        } else {
            io::stdout().flush()
        };
        res.map_err(|e| SinkError::io(format!("cannot flush {}", self.name()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_line_shows_the_essentials() {
        let line = br#"{"v":1,"stream":"app","seq":3,"ts":"2026-11-22T10:00:00.000001Z","level":"WARN","class":"security","event":"user_login_attempt","msg":"bad password","target":"auth","user":"u1","fields":{"attempt":3},"spans":[{"name":"request"}]}"#;
        let mut out = Vec::new();
        compact_line(line, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "2026-11-22T10:00:00.000001Z  WARN app#3 [security/user_login_attempt] auth: bad password user=\"u1\" attempt=3 in request\n"
        );
    }

    #[test]
    fn compact_line_passes_through_what_is_not_json() {
        let mut out = Vec::new();
        compact_line(b"not json", &mut out);
        assert_eq!(out, b"not json\n");
    }
}
