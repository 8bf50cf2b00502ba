//! Anchors read from where they were kept: a file of `STREAM:SEQ:SIG`
//! lines (what an [`AnchorSink`](crate::AnchorSink) writes, or
//! `--anchors-file`), or records as a store received them (one signed JSON
//! record a line, as the HTTP sink's NDJSON encoder sends them), and the
//! position the writer's own state file holds, which is local.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::mac::{SIG_LEN, is_sig_char};
use crate::sign::Seal;

/// Reads anchors from text: one a line, either `STREAM:SEQ:SIG` or a JSON
/// object with `stream`, `seq` and `sig` (a signed record, or a seal as
/// [`Seal`] names them). Blank lines and lines starting with `#` are
/// skipped; so are JSON lines without those members (records a store
/// holds that were never signed).
///
/// # Errors
///
/// [`ErrorKind::Config`] naming the first line that is neither.
///
/// # Examples
///
/// ```
/// let text = "# exported seals\napp:7:q3KJ0s-Wf8xZbT_2vYcNq3KJ0s-Wf8xZbT_2vYcNq3I\n\
///             {\"stream\":\"audit\",\"seq\":3,\"msg\":\"x\",\"sig\":\"q3KJ0s-Wf8xZbT_2vYcNq3KJ0s-Wf8xZbT_2vYcNq3I\"}\n";
/// let anchors = evtrail::verify::anchors_from_text(text)?;
/// assert_eq!(anchors.len(), 2);
/// assert_eq!((anchors[1].stream(), anchors[1].seq()), ("audit", 3));
/// # Ok::<(), evtrail::Error>(())
/// ```
pub fn anchors_from_text(text: &str) -> Result<Vec<Seal>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('{') {
            let v: Value = serde_json::from_str(line).map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    format!("anchors, line {}: not a JSON object", i + 1),
                )
            })?;
            if let Some(seal) = json_anchor(&v) {
                out.push(seal);
            }
            continue;
        }
        let seal = line.parse::<Seal>().map_err(|e| {
            Error::with_source(ErrorKind::Config, format!("anchors, line {}", i + 1), e)
        })?;
        out.push(seal);
    }
    Ok(out)
}

fn json_anchor(v: &Value) -> Option<Seal> {
    let sig = v.get("sig")?.as_str()?;
    if sig.len() != SIG_LEN || !sig.bytes().all(is_sig_char) {
        return None;
    }
    Some(Seal {
        stream: v.get("stream")?.as_str()?.to_owned(),
        seq: v.get("seq")?.as_u64()?,
        sig: sig.to_owned(),
        ts: v.get("ts").and_then(Value::as_str).map(str::to_owned),
    })
}

/// The anchors the writer's state file in `dir` holds (`.evtrail-state`,
/// specified in [`signing`](crate::signing)): each stream's last position
/// at a segment boundary. **Local**: kept beside the logs, it proves
/// nothing against someone who can change them; it shows only a cut the
/// state file was not updated for. `None` when there is no state file.
///
/// # Errors
///
/// [`ErrorKind::Io`] when the state file cannot be read or is not in its
/// specified form.
pub fn state_anchors(dir: &Path) -> Result<Option<Vec<Seal>>, Error> {
    let path = dir.join(".evtrail-state");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::with_source(
                ErrorKind::Io,
                format!("cannot read `{}`", path.display()),
                e,
            ));
        }
    };
    let bad = || {
        Error::new(
            ErrorKind::Io,
            format!("`{}` is not a state file", path.display()),
        )
    };
    let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
    let streams = v
        .get("streams")
        .and_then(Value::as_object)
        .ok_or_else(bad)?;
    let mut out = Vec::new();
    for (stream, s) in streams {
        let mut entry = s.clone();
        entry["stream"] = Value::String(stream.clone());
        out.push(json_anchor(&entry).ok_or_else(bad)?);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "q3KJ0s-Wf8xZbT_2vYcNq3KJ0s-Wf8xZbT_2vYcNq3I";

    #[test]
    fn both_forms_are_read_and_unsigned_records_skipped() {
        let text = format!(
            "app:1:{SIG}\n\n# note\n{{\"stream\":\"app\",\"seq\":2,\"sig\":\"{SIG}\"}}\n{{\"stream\":\"app\",\"seq\":3}}\n"
        );
        let got = anchors_from_text(&text).unwrap();
        assert_eq!(got.iter().map(Seal::seq).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = anchors_from_text(&format!("app:1:{SIG}\nnonsense\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(anchors_from_text("{not json").is_err());
    }

    #[test]
    fn the_state_file_gives_one_anchor_per_stream() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state_anchors(dir.path()).unwrap(), None);
        std::fs::write(
            dir.path().join(".evtrail-state"),
            format!(
                "{{\"v\":1,\"streams\":{{\"app\":{{\"segment\":2,\"seq\":9,\"sig\":\"{SIG}\"}}}}}}"
            ),
        )
        .unwrap();
        let got = state_anchors(dir.path()).unwrap().unwrap();
        assert_eq!(got[0].to_string(), format!("app:9:{SIG}"));
        std::fs::write(dir.path().join(".evtrail-state"), "{}").unwrap();
        assert!(state_anchors(dir.path()).is_err());
    }
}
