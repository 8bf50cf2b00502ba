//! [`ElasticBulk`]: Elasticsearch's and OpenSearch's `_bulk` API, and the
//! reading of its answers, which report per-item failures inside a 200.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::parse::{parse, text, write_json};
use super::{Encode, EncodeError, Outgoing, Verdict};

/// Elasticsearch's and OpenSearch's `_bulk` API (`application/x-ndjson`):
/// per record a `create` action and the document.
///
/// ```text
/// {"create":{"_index":"<index>","_id":"<sig>"}}
/// {"@timestamp":"2026-11-22T10:00:00.123456Z","v":1,"stream":"app",…,"sig":"…"}
/// ```
///
/// The document is the signed line with an `@timestamp` key (the record's
/// `ts`, as written) put in front, the rest byte for byte, so the
/// signature is verified by removing that key. The body ends with a
/// newline, as the API requires.
///
/// `_id` is the record's `sig` (unique per record), or
/// `<service>/<host>/<stream>/<seq>` for an unsigned record (an absent
/// `service` or `host` is empty). With `create`, a record sent twice (the
/// sink delivers at least once) fails with `409` instead of being stored
/// twice, and [`check_response`](Encode::check_response) counts that
/// `409` as delivered.
///
/// # Responses
///
/// `_bulk` answers `200` even when items failed, so the answer's body
/// decides:
///
/// * `"errors":false`: [`Verdict::Delivered`].
/// * Items that succeeded, or failed with `409` (the document is already
///   there), count as delivered.
/// * Any item with `429` (the node was too busy): [`Verdict::Retry`],
///   even if other items failed for good, since those would be re-sent
///   with the retry anyway.
/// * Otherwise any other failed item: [`Verdict::Reject`] with the number
///   of failed items and the first one's status, error `type` and
///   `reason`.
/// * `"errors":true` with no `items` list: [`Verdict::Reject`].
/// * A body that is not a bulk response: [`Verdict::Delivered`], trusting
///   the 2xx status.
///
/// # Errors
///
/// [`encode`](Encode::encode) fails for a line that is not a JSON object
/// or whose `ts` is missing or not in the record format.
///
/// # Examples
///
/// ```
/// use evtrail::http::{ElasticBulk, Encode, Outgoing, Verdict};
///
/// let bulk = ElasticBulk::new("evtrail-shop");
/// let line = br#"{"v":1,"stream":"app","seq":1,"ts":"2026-11-22T10:00:00.123456Z","service":"shop","host":"web-1"}"#;
/// let mut body = Vec::new();
/// bulk.encode(&[Outgoing::new("app", 1, line)], &mut body)?;
/// let body = String::from_utf8(body)?;
/// let mut lines = body.lines();
/// assert_eq!(lines.next(), Some(r#"{"create":{"_index":"evtrail-shop","_id":"shop/web-1/app/1"}}"#));
/// assert!(lines.next().unwrap().starts_with(r#"{"@timestamp":"2026-11-22T10:00:00.123456Z","v":1,"#));
/// assert!(body.ends_with('\n'));
///
/// let answer = br#"{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
/// assert_eq!(bulk.check_response(answer), Verdict::Delivered);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ElasticBulk {
    index: String,
}

impl ElasticBulk {
    /// Documents for `index` (an index, alias or data stream; data streams
    /// accept only `create`, which is what this sends).
    pub fn new(index: impl Into<String>) -> ElasticBulk {
        ElasticBulk {
            index: index.into(),
        }
    }

    /// The index the documents go to.
    pub fn index(&self) -> &str {
        &self.index
    }
}

/// The parts of a `_bulk` answer [`ElasticBulk`] reads.
#[derive(Deserialize)]
struct BulkResponse {
    errors: bool,
    items: Option<Vec<Map<String, Value>>>,
}

impl Encode for ElasticBulk {
    fn content_type(&self) -> &str {
        "application/x-ndjson"
    }

    fn encode(&self, records: &[Outgoing<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for r in records {
            let p = parse(r)?;
            let id = match p.keys.get("sig") {
                Some(Value::String(sig)) => sig.clone(),
                _ => {
                    let part = |key| p.keys.get(key).map(text).unwrap_or_default();
                    format!(
                        "{}/{}/{}/{}",
                        part("service"),
                        part("host"),
                        r.stream,
                        r.seq
                    )
                }
            };
            out.extend_from_slice(br#"{"create":{"_index":"#);
            write_json(out, &self.index)?;
            out.extend_from_slice(br#","_id":"#);
            write_json(out, &id)?;
            out.extend_from_slice(b"}}\n{\"@timestamp\":");
            write_json(out, &p.ts)?;
            out.push(b',');
            // After the opening brace. The object has keys (at least `ts`),
            // so the comma above is followed by one.
            let line = p.line.trim_start().as_bytes();
            out.extend_from_slice(&line[1..]);
            out.push(b'\n');
        }
        Ok(())
    }

    fn check_response(&self, body: &[u8]) -> Verdict {
        let Ok(response) = serde_json::from_slice::<BulkResponse>(body) else {
            return Verdict::Delivered;
        };
        if !response.errors {
            return Verdict::Delivered;
        }
        let Some(items) = response.items else {
            return Verdict::Reject("bulk response reports errors but lists no items".to_owned());
        };
        let mut failed = Vec::new();
        for item in &items {
            // Each item is `{"<action>": {"status": …, "error": …}}`.
            let Some(result) = item.values().next() else {
                continue;
            };
            let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
            let error = result.get("error");
            if status == 409 || (error.is_none() && (200..300).contains(&status)) {
                continue;
            }
            failed.push((status, error));
        }
        let describe = |what: &str, list: &[(u64, Option<&Value>)]| {
            let (status, error) = list[0];
            let error = error.map_or_else(|| "no error given".to_owned(), bulk_error);
            format!(
                "{} of {} bulk items {what}; first (status {status}): {error}",
                list.len(),
                items.len()
            )
        };
        let throttled: Vec<_> = failed.iter().copied().filter(|&(s, _)| s == 429).collect();
        if !throttled.is_empty() {
            return Verdict::Retry(describe("throttled", &throttled));
        }
        if !failed.is_empty() {
            return Verdict::Reject(describe("rejected", &failed));
        }
        Verdict::Delivered
    }
}

/// A bulk item's `error` as `type: reason`.
fn bulk_error(error: &Value) -> String {
    let field = |key| error.get(key).and_then(Value::as_str);
    match (field("type"), field("reason")) {
        (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
        (Some(kind), None) => kind.to_owned(),
        _ => text(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encode::fixtures::{SIG, encode, full_line, json_of, ndjson};

    #[test]
    fn elastic_bulk_pairs_a_create_action_with_each_document() {
        let full = full_line();
        let bare = br#"{"v":1,"stream":"app","seq":3,"ts":"2026-11-22T10:00:01.000000Z"}"#;
        let records = [
            Outgoing::new("app", 2, full.as_bytes()),
            Outgoing::new("app", 3, bare),
        ];
        let bulk = ElasticBulk::new("evtrail");
        assert_eq!(bulk.index(), "evtrail");
        assert_eq!(bulk.content_type(), "application/x-ndjson");
        let body = encode(&bulk, &records);
        let text = String::from_utf8(body.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            format!(r#"{{"create":{{"_index":"evtrail","_id":"{SIG}"}}}}"#)
        );
        assert_eq!(
            lines[1],
            format!(
                r#"{{"@timestamp":"2026-11-22T10:00:00.123456Z",{}"#,
                &full[1..]
            )
        );
        assert_eq!(
            lines[2],
            r#"{"create":{"_index":"evtrail","_id":"//app/3"}}"#
        );
        let mut doc = ndjson(&body).remove(3);
        assert_eq!(doc["@timestamp"], "2026-11-22T10:00:01.000000Z");
        doc.as_object_mut().unwrap().remove("@timestamp");
        assert_eq!(doc, json_of(bare));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn elastic_bulk_id_without_a_signature_is_service_host_stream_seq() {
        let line = br#"{"ts":"2026-11-22T10:00:00.123456Z","service":"shop","host":"web-1"}"#;
        let body = encode(&ElasticBulk::new("i"), &[Outgoing::new("audit", 12, line)]);
        assert_eq!(ndjson(&body)[0]["create"]["_id"], "shop/web-1/audit/12");
    }

    #[test]
    fn elastic_bulk_response_verdicts_follow_the_documented_rules() {
        let bulk = ElasticBulk::new("i");
        let ok = r#"{"create":{"_index":"i","_id":"a","status":201,"result":"created"}}"#;
        let conflict = r#"{"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists"}}}"#;
        let busy = r#"{"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}}"#;
        let bad = r#"{"create":{"_index":"i","_id":"d","status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse field [code]"}}}"#;
        let answer = |errors: bool, items: &[&str]| {
            format!(
                r#"{{"took":3,"errors":{errors},"items":[{}]}}"#,
                items.join(",")
            )
        };
        let check = |body: String| bulk.check_response(body.as_bytes());

        assert_eq!(check(answer(false, &[ok, ok])), Verdict::Delivered);
        assert_eq!(check(answer(true, &[ok, conflict])), Verdict::Delivered);
        assert_eq!(
            check(answer(true, &[ok, busy, bad])),
            Verdict::Retry(
                "1 of 3 bulk items throttled; first (status 429): es_rejected_execution_exception: rejected execution"
                    .to_owned()
            )
        );
        assert_eq!(
            check(answer(true, &[conflict, bad, bad])),
            Verdict::Reject(
                "2 of 3 bulk items rejected; first (status 400): document_parsing_exception: failed to parse field [code]"
                    .to_owned()
            )
        );
        assert_eq!(
            check(r#"{"errors":true}"#.to_owned()),
            Verdict::Reject("bulk response reports errors but lists no items".to_owned())
        );
        for not_bulk in ["", "ok", "{}", r#"{"acknowledged":true}"#] {
            assert_eq!(
                check(not_bulk.to_owned()),
                Verdict::Delivered,
                "{not_bulk:?}"
            );
        }
    }
}
