//! Redaction through the whole pipeline: sensitive fields, secrets inside
//! strings and messages, user keys and patterns, and configuration errors.
//! Every test also checks that the secret text is nowhere in the line.

mod common;

use std::error::Error as StdError;

use common::{ChainedError, one, one_with};
use evtrail::{ErrorKind, MemorySink};
use serde_json::json;
const MASK: &str = "[REDACTED]";

fn assert_absent(line: &str, secret: &str) {
    assert!(
        !line.contains(secret),
        "secret {secret:?} leaked into the line: {line}"
    );
}

#[test]
fn password_field_is_masked() {
    let (line, v) = one(|| {
        tracing::info!(user = "bob", password = "hunter2-Secret!", "login attempt");
    });
    assert_eq!(v["fields"]["password"], json!(MASK));
    assert_eq!(v["user"], json!("bob"));
    assert_eq!(v["msg"], json!("login attempt"));
    assert_absent(&line, "hunter2-Secret!");
    assert_absent(&line, "hunter2");
}

#[test]
fn sensitive_field_names_are_matched_loosely() {
    let (line, v) = one(|| {
        tracing::info!(
            db_password = "pw-one-111",
            Api_Key = "pw-two-222",
            apikey = "pw-three-333",
            refresh_token = "pw-four-444",
            client_secret = "pw-five-555",
            tokenizer = "bpe",
            "credentials"
        );
    });
    let f = &v["fields"];
    for key in [
        "db_password",
        "Api_Key",
        "apikey",
        "refresh_token",
        "client_secret",
    ] {
        assert_eq!(f[key], json!(MASK), "{key} in {line}");
    }
    // Segment-wise matching: `tokenizer` is not `token`.
    assert_eq!(f["tokenizer"], json!("bpe"));
    for secret in [
        "pw-one-111",
        "pw-two-222",
        "pw-three-333",
        "pw-four-444",
        "pw-five-555",
    ] {
        assert_absent(&line, secret);
    }
}

#[test]
fn sensitive_fields_of_any_type_are_masked() {
    let (line, v) = one(|| {
        tracing::info!(
            password = 987_654_321_987u64,
            secret = true,
            token = ?Some("dbg-token-xyz"),
            "non-string secrets"
        );
    });
    assert_eq!(v["fields"]["password"], json!(MASK));
    assert_eq!(v["fields"]["secret"], json!(MASK));
    assert_eq!(v["fields"]["token"], json!(MASK));
    assert_absent(&line, "987654321987");
    assert_absent(&line, "dbg-token-xyz");
}

#[test]
fn api_key_on_a_span_is_masked() {
    let (line, v) = one(|| {
        let span = tracing::info_span!("client", api_key = "AKIA-span-secret-123", region = "eu");
        let _e = span.enter();
        tracing::info!("calling the api");
    });
    assert_eq!(
        v["spans"],
        json!([{"name": "client", "fields": {"api_key": MASK, "region": "eu"}}])
    );
    assert_absent(&line, "AKIA-span-secret-123");
}

#[test]
fn secret_recorded_later_on_a_span_is_masked() {
    let (line, v) = one(|| {
        let span = tracing::info_span!("session", token = tracing::field::Empty);
        let _e = span.enter();
        span.record("token", "late-token-777");
        tracing::info!("refreshed");
    });
    assert_eq!(v["spans"][0]["fields"]["token"], json!(MASK));
    assert_absent(&line, "late-token-777");
}

#[test]
fn bearer_token_inside_a_string_field_is_masked() {
    let token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig-Part_9";
    let header = format!("Bearer {token}");
    let (line, v) = one(|| {
        tracing::info!(header = header.as_str(), "outgoing request");
    });
    assert_eq!(v["fields"]["header"], json!("Bearer [REDACTED]"));
    assert_absent(&line, token);
    assert_absent(&line, "c2VjcmV0LXBheWxvYWQ");
}

#[test]
fn key_value_secrets_inside_strings_and_messages_are_masked() {
    let (line, v) = one(|| {
        tracing::info!(
            url = "https://api.example.com/v1?api_key=QWERTY-777&page=2",
            "connecting with password=Tr0ub4dor&3 to db"
        );
    });
    assert_eq!(
        v["fields"]["url"],
        json!("https://api.example.com/v1?api_key=[REDACTED]&page=2")
    );
    assert_eq!(
        v["msg"],
        json!("connecting with password=[REDACTED]&3 to db")
    );
    assert_absent(&line, "QWERTY-777");
    assert_absent(&line, "Tr0ub4dor");
}

#[test]
fn secret_inside_a_debug_formatted_struct_is_masked() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Credentials {
        user: &'static str,
        password: &'static str,
    }
    let creds = Credentials {
        user: "bob",
        password: "dbg-hunter2",
    };
    let (line, v) = one(|| tracing::info!(creds = ?creds, "connecting"));
    assert_eq!(
        v["fields"]["creds"],
        json!(r#"Credentials { user: "bob", password: "[REDACTED]" }"#)
    );
    assert_absent(&line, "dbg-hunter2");
}

#[test]
fn secrets_inside_an_error_chain_are_masked() {
    let err = ChainedError::new("login failed for token=err-token-555")
        .wrapped_in("request with Authorization: Bearer wrap-bearer-666 failed");
    let (line, v) = one(|| {
        tracing::error!(error = &err as &(dyn StdError + 'static), "call failed");
    });
    assert_eq!(
        v["fields"]["error"],
        json!({
            "message": "request with Authorization: Bearer [REDACTED] failed",
            "sources": ["login failed for token=[REDACTED]"],
        })
    );
    assert_absent(&line, "wrap-bearer-666");
    assert_absent(&line, "err-token-555");
}

#[test]
fn card_number_in_a_message_is_masked_keeping_the_last_four_digits() {
    let (line, v) = one(|| tracing::warn!("card 4111 1111 1111 1111 declined"));
    assert_eq!(v["msg"], json!("card **** **** **** 1111 declined"));
    assert_absent(&line, "4111 1111 1111 1111");
    assert_absent(&line, "4111");
}

#[test]
fn card_number_passed_as_a_format_argument_or_field_is_masked() {
    let (line, v) = one(|| {
        tracing::warn!(
            pan = "5555555555554444",
            "card {} declined",
            "4111-1111-1111-1111"
        );
    });
    assert_eq!(v["msg"], json!("card ****-****-****-1111 declined"));
    assert_eq!(v["fields"]["pan"], json!("************4444"));
    assert_absent(&line, "4111-1111-1111-1111");
    assert_absent(&line, "5555555555554444");
}

#[test]
fn sixteen_digits_that_fail_luhn_are_left_alone() {
    let (line, v) = one(|| {
        tracing::info!(
            reference = "4111111111111112",
            "order {} shipped",
            "4111111111111112"
        );
    });
    assert_eq!(v["fields"]["reference"], json!("4111111111111112"));
    assert_eq!(v["msg"], json!("order 4111111111111112 shipped"));
    assert_eq!(line.matches("4111111111111112").count(), 2, "{line}");
}

#[test]
fn user_redact_key_masks_prefixed_and_suffixed_names() {
    let (line, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .add_redact_key("ssn"),
        || {
            tracing::info!(
                customer_ssn = "123-45-6789",
                SSN = "987-65-4321",
                ssn_last_seen = "2024-01-01",
                lesson = "stays",
                password = "still-default-masked",
                "customer updated"
            );
        },
    );
    let f = &v["fields"];
    assert_eq!(f["customer_ssn"], json!(MASK));
    assert_eq!(f["SSN"], json!(MASK));
    assert_eq!(f["ssn_last_seen"], json!(MASK));
    assert_eq!(f["lesson"], json!("stays"));
    // User keys add to the built-in ones.
    assert_eq!(f["password"], json!(MASK));
    assert_absent(&line, "123-45-6789");
    assert_absent(&line, "987-65-4321");
    assert_absent(&line, "still-default-masked");
}

#[test]
fn user_redact_key_also_masks_promoted_fields() {
    let (line, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .add_redact_key("user_id"),
        || tracing::info!(user_id = "alice@example.com", "signed in"),
    );
    assert_eq!(v["user"], json!(MASK));
    assert_absent(&line, "alice@example.com");
}

#[test]
fn user_redact_key_masks_key_value_pairs_in_text() {
    let (line, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .add_redact_key("ssn"),
        || tracing::info!("lookup ssn=123-45-6789 done"),
    );
    assert_eq!(v["msg"], json!("lookup ssn=[REDACTED] done"));
    assert_absent(&line, "123-45-6789");
}

#[test]
fn user_redact_pattern_masks_inside_text() {
    let (line, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .add_redact_pattern(r"\bSSN-\d{3}\b"),
        || {
            let span = tracing::info_span!("case", note = "opened for SSN-456 today");
            let _e = span.enter();
            tracing::info!(
                comment = "see SSN-123 on file",
                other = "SSN-1234 is not a match",
                "matched SSN-789, twice: SSN-789"
            );
        },
    );
    assert_eq!(v["fields"]["comment"], json!("see [REDACTED] on file"));
    assert_eq!(v["fields"]["other"], json!("SSN-1234 is not a match"));
    assert_eq!(v["msg"], json!("matched [REDACTED], twice: [REDACTED]"));
    assert_eq!(
        v["spans"][0]["fields"]["note"],
        json!("opened for [REDACTED] today")
    );
    for secret in ["SSN-123 ", "SSN-456", "SSN-789"] {
        assert_absent(&line, secret);
    }
}

#[test]
fn invalid_redact_pattern_is_a_config_error_naming_the_pattern() {
    let err = evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(MemorySink::new())
        .add_redact_pattern(r"\bok\b")
        .add_redact_pattern("(unclosed[")
        .build()
        .expect_err("an invalid pattern must fail the build");
    assert_eq!(err.kind(), ErrorKind::Config);
    let msg = err.to_string();
    assert!(msg.contains("(unclosed["), "{msg}");
    assert!(
        !msg.contains(r"\bok\b"),
        "names the bad pattern only: {msg}"
    );
    assert!(err.source().is_some(), "the regex error is kept as source");
}

#[test]
fn invalid_redact_pattern_fails_even_without_default_redaction() {
    let err = evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(MemorySink::new())
        .default_redaction(false)
        .add_redact_pattern("a{2,1}")
        .build()
        .expect_err("an invalid pattern must fail the build");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("a{2,1}"), "{err}");
}

#[test]
fn default_redaction_off_leaves_password_and_string_secrets_alone() {
    let (_, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .default_redaction(false),
        || {
            tracing::info!(
                password = "hunter2",
                header = "Bearer abc.def",
                "card 4111 1111 1111 1111 password=hunter3"
            );
        },
    );
    assert_eq!(v["fields"]["password"], json!("hunter2"));
    assert_eq!(v["fields"]["header"], json!("Bearer abc.def"));
    assert_eq!(v["msg"], json!("card 4111 1111 1111 1111 password=hunter3"));
}

#[test]
fn default_redaction_off_still_applies_user_keys_and_patterns() {
    let (line, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .default_redaction(false)
            .add_redact_key("ssn")
            .add_redact_pattern(r"\bSSN-\d{3}\b"),
        || {
            tracing::info!(
                password = "hunter2",
                customer_ssn = "123-45-6789",
                "ref SSN-321"
            );
        },
    );
    assert_eq!(v["fields"]["password"], json!("hunter2"));
    assert_eq!(v["fields"]["customer_ssn"], json!(MASK));
    assert_eq!(v["msg"], json!("ref [REDACTED]"));
    assert_absent(&line, "123-45-6789");
    assert_absent(&line, "SSN-321");
}

#[test]
fn clean_values_are_written_unchanged() {
    let (_, v) = one(|| {
        tracing::info!(
            reason = "invalid_password",
            path = "evtrail::token::refresh",
            when = "2024-01-15T12:30:45Z",
            note = "basic validation failed",
            "user login attempt"
        );
    });
    assert_eq!(
        v["fields"],
        json!({
            "reason": "invalid_password",
            "path": "evtrail::token::refresh",
            "when": "2024-01-15T12:30:45Z",
            "note": "basic validation failed",
        })
    );
    assert_eq!(v["msg"], json!("user login attempt"));
}

#[test]
fn card_number_cut_by_truncation_does_not_leak_its_leading_digits() {
    let note = format!("{} card 4111 1111 1111 1111 declined", "x".repeat(44));
    let (line, v) = one_with(
        evtrail::builder()
            .unsigned()
            .service("test")
            .max_value_bytes(64),
        || tracing::warn!(note = note.as_str(), "{}", note),
    );
    let kept = v["fields"]["note"].as_str().unwrap();
    assert!(kept.contains("…[truncated, 78 bytes]"), "{kept}");
    // Whole, the card would be written as `**** **** **** 1111`; cut, no
    // more than that may be readable.
    assert_absent(&line, "4111 1111");
}
