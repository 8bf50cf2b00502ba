//! Sample records and body readers the encoders' unit tests share.

use serde_json::Value;

use super::{Encode, Outgoing};

pub(super) const SIG: &str = "9c1f0e5a7b2d9e449c1f0e5a7b2d9e449c1f0e5a7b2d9e449c1f0e5a7b2d9e44";

/// A signed record with every key the format has.
pub(super) fn full_line() -> String {
    format!(
        concat!(
            r#"{{"v":1,"stream":"app","seq":2,"ts":"2026-11-22T10:00:00.123456Z","#,
            r#""level":"WARN","class":"info","event":"payment_failed","code":4021,"#,
            r#""status":"error","msg":"payment failed","target":"shop","#,
            r#""module":"shop::pay","file":"src/pay.rs","line":42,"thread":"main","#,
            r#""service":"shop","env":"dev","region":"eu-west-1","host":"web-1","#,
            r#""node":"n1","pid":4242,"version":"1.2.3","tenant":"acme","user":"u-7","#,
            r#""ip":"10.0.0.1","op":"order-1042","#,
            r#""trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7","#,
            r#""request_id":"r-1","session_id":"s-1","#,
            r#""spans":[{{"name":"checkout","fields":{{"cart":3}}}}],"#,
            r#""fields":{{"reason":"card_declined","amount_cents":4999}},"#,
            r#""kid":"k3f1c0e5a7b2d9e44","sig":"{}"}}"#
        ),
        SIG
    )
}

/// A small record of `service` with `ts` and `level`.
pub(super) fn line(seq: u64, service: &str, level: &str) -> String {
    format!(
        r#"{{"v":1,"stream":"app","seq":{seq},"ts":"2026-11-22T10:00:0{seq}.000001Z","level":"{level}","msg":"m{seq}","service":"{service}"}}"#
    )
}

/// `lines` as records of stream `app`, numbered from 1.
pub(super) fn records(lines: &[String]) -> Vec<Outgoing<'_>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| Outgoing::new("app", i as u64 + 1, l.as_bytes()))
        .collect()
}

pub(super) fn encode(e: &impl Encode, records: &[Outgoing<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    e.encode(records, &mut out).expect("encodes");
    out
}

pub(super) fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("valid JSON")
}

/// The JSON object lines of an NDJSON body.
pub(super) fn ndjson(body: &[u8]) -> Vec<Value> {
    assert_eq!(body.last(), Some(&b'\n'), "body ends with a newline");
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("valid JSON line"))
        .collect()
}
