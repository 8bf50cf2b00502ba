//! Configuration files: every builder setting has a key, values are
//! applied with the documented precedence, and every bad input is an error
//! that names the file, line and column.

use std::path::Path;

#[cfg(feature = "notify")]
#[path = "support/http_server.rs"]
mod http_server;

use evtrail::config::Config;
use evtrail::{ErrorKind, Key};
use serde_json::Value;
use tracing_subscriber::prelude::*;

fn err(text: &str) -> String {
    let e = match Config::parse("app.toml", text).and_then(|c| c.check()) {
        Ok(()) => panic!("should have failed:\n{text}"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::Config);
    e.to_string()
}

/// The first line of an error: `file:line:col: message`.
fn head(text: &str) -> String {
    err(text).lines().next().unwrap().to_owned()
}

fn records(dir: &Path, stream: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("{stream}.log")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_unknown_key_is_located_with_the_key_probably_meant() {
    let e = err("service = \"a\"\n[queue]\ncapcity = 10\n");
    assert!(
        e.starts_with("app.toml:3:1: unknown field `capcity`"),
        "{e}"
    );
    assert!(e.contains("did you mean `capacity`?"), "{e}");
    assert!(e.contains("\n  3 | capcity = 10"), "{e}");
    let e = head("[queue]\noverflow = \"blok\"\n");
    assert!(
        e.starts_with("app.toml:2:12: unknown variant `blok`"),
        "{e}"
    );
    assert!(e.ends_with("did you mean `block`?"), "{e}");
    // Nothing close: no guess.
    let e = head("zebra = 1\n");
    assert!(e.starts_with("app.toml:1:1: unknown field `zebra`"), "{e}");
    assert!(!e.contains("did you mean"), "{e}");
}

#[test]
fn a_wrong_type_is_located() {
    let e = head("[queue]\ncapacity = \"many\"\n");
    assert!(
        e.starts_with("app.toml:2:12: invalid type: string \"many\""),
        "{e}"
    );
    let e = head("pid = 1\n");
    assert!(e.starts_with("app.toml:1:7: invalid type: integer"), "{e}");
}

#[test]
fn sizes_durations_and_modes_are_checked_where_written() {
    let e = head("[files]\ndir = \"/tmp/x\"\nmax_file_bytes = \"100 MBB\"\n");
    assert!(
        e.starts_with("app.toml:3:18: invalid size `100 MBB`"),
        "{e}"
    );
    let e = head("[queue]\nflush_interval = \"90\"\n");
    assert!(e.starts_with("app.toml:2:18: invalid duration `90`"), "{e}");
    let e = head("[queue]\nflush_interval = 90\n");
    assert!(
        e.starts_with("app.toml:2:18: expected a duration as a string"),
        "{e}"
    );
    let e = head("[files]\ndir = \"/tmp/x\"\nfile_mode = \"0648\"\n");
    assert!(e.starts_with("app.toml:3:13: invalid mode `0648`"), "{e}");
    let e = head("[files]\ndir = \"/tmp/x\"\ncompression = 12\n");
    assert!(e.starts_with("app.toml:3:15: compression level 12"), "{e}");
    let e = head("[files]\ndir = \"/tmp/x\"\ndurability = \"always\"\n");
    assert!(
        e.starts_with("app.toml:3:14: invalid durability `always`"),
        "{e}"
    );
    // The accepted spellings.
    let ok = "[key]\nunsigned = true\n[files]\ndir = \"/tmp/x\"\nmax_file_bytes = \"1 GiB\"\n\
              durability = \"1s\"\n[files.retention]\nmax_total_bytes = 104857600\nmax_age = \"7d\"\n";
    Config::parse("app.toml", ok).unwrap().check().unwrap();
}

#[test]
fn semantic_errors_point_at_the_value() {
    let e = head("filter = \"info,app::db=loud\"\n");
    assert!(e.starts_with("app.toml:1:10: "), "{e}");
    assert!(e.contains("loud"), "{e}");
    let e = head("[redaction]\npatterns = ['ok', '(unclosed']\n");
    assert!(
        e.starts_with("app.toml:2:19: invalid redaction pattern"),
        "{e}"
    );
    let e = head("[[routes]]\nstream = \"audit\"\nclass = \"audit\"\n");
    assert!(
        e.starts_with("app.toml:2:10: a route to stream `audit`, but no sink is configured"),
        "{e}"
    );
    let e = head("[files]\ndir = \"/tmp/x\"\n[[routes]]\nstream = \"../etc\"\n");
    assert!(
        e.starts_with("app.toml:4:10: invalid stream name `../etc`"),
        "{e}"
    );
    let e = head("[queue]\ncapacity = 0\n");
    assert_eq!(e, "app.toml:2:12: capacity must be at least 1 record");
    let e = head("[seal]\nevery = \"0s\"\n");
    assert_eq!(
        e,
        "app.toml:2:9: the seal interval must be longer than zero"
    );
}

#[test]
fn an_unreadable_key_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.key");
    let e = head(&format!("service = \"a\"\n[key]\nfile = {:?}\n", missing));
    assert!(e.starts_with("app.toml:3:8: cannot read key file"), "{e}");
    let e = head("[key]\nfile = \"/k\"\nunsigned = true\n");
    assert!(
        e.starts_with("app.toml:2:8: [key] says more than one of"),
        "{e}"
    );
}

#[test]
fn a_missing_file_and_a_toml_syntax_error_are_clear() {
    let e = Config::from_file("/nonexistent/evtrail.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read the configuration file /nonexistent/evtrail.toml: "),
        "{e}"
    );
    let e = head("service = \"a\"\n[queue\n");
    assert!(e.starts_with("app.toml:2:"), "{e}");
}

#[test]
fn precedence_is_defaults_then_file_then_environment_then_builder_calls() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let text = format!(
        "service = \"from-file\"\nenvironment = \"file-env\"\nregion = \"file-region\"\n\
         filter = \"info\"\n[key]\nunsigned = true\n[files]\ndir = {:?}\n",
        dir.path().join("ignored")
    );
    let logs_text = logs.display().to_string();
    let config = Config::parse("app.toml", &text)
        .unwrap()
        .with_env_from(|name| match name {
            "EVTRAIL_ENVIRONMENT" => Some("env-env".to_owned()),
            "EVTRAIL_LEVEL" => Some("warn".to_owned()),
            "EVTRAIL_LOG_DIR" => Some(logs_text.clone()),
            _ => None,
        })
        .unwrap();
    let (layer, guard) = evtrail::builder()
        .service("before-the-file") // overridden by the file
        .config(&config)
        .unwrap()
        .region("call-region") // overrides the file
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("filtered out by EVTRAIL_LEVEL=warn");
        tracing::warn!(event = "kept", "kept");
    });
    drop(guard);
    assert!(!dir.path().join("ignored").exists());
    let user: Vec<Value> = records(&logs, "app")
        .into_iter()
        .filter(|r| r["target"] != "evtrail")
        .collect();
    assert_eq!(user.len(), 1, "{user:?}");
    assert_eq!(user[0]["event"], "kept");
    assert_eq!(user[0]["service"], "from-file");
    assert_eq!(user[0]["env"], "env-env");
    assert_eq!(user[0]["region"], "call-region");
}

#[test]
fn a_pipeline_runs_from_a_file_with_routes_redaction_and_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.key");
    let key = Key::generate().unwrap();
    key.write_new_file(&key_file).unwrap();
    let logs = dir.path().join("logs");
    let anchors = dir.path().join("elsewhere").join("pay.anchors");
    let path = dir.path().join("evtrail.toml");
    std::fs::write(
        &path,
        format!(
            "service = \"pay\"\npid = false\nsource_location = false\n\
             [key]\nfile = {key_file:?}\n\
             [redaction]\nkeys = [\"iban\"]\npatterns = ['ACCT-\\d+']\n\
             [[routes]]\nstream = \"audit\"\nclass = \"audit\"\n\
             [files]\ndir = {logs:?}\ncompression = false\nfile_mode = \"0600\"\n\
             [seal]\nanchors_file = {anchors:?}\n"
        ),
    )
    .unwrap();
    let (layer, guard) = evtrail::builder()
        .config_file(&path)
        .unwrap()
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(
            class = "audit",
            iban = "DE00123",
            note = "ACCT-991 closed",
            "closed"
        );
        tracing::info!("plain");
    });
    drop(guard);
    let audit = records(&logs, "audit");
    let rec = audit.iter().find(|r| r["msg"] == "closed").unwrap();
    assert_eq!(rec["service"], "pay");
    assert!(
        rec.get("pid").is_none() && rec.get("file").is_none(),
        "{rec}"
    );
    assert_ne!(rec["fields"]["iban"], "DE00123");
    assert!(
        !rec["fields"]["note"].as_str().unwrap().contains("991"),
        "{rec}"
    );
    assert_eq!(rec["kid"], key.id());
    assert!(records(&logs, "app").iter().any(|r| r["msg"] == "plain"));
    // The segment boundaries went to the anchors file, away from the logs.
    let anchored = std::fs::read_to_string(&anchors).unwrap();
    let last = audit.last().unwrap();
    let end = format!("audit:{}:{}", last["seq"], last["sig"].as_str().unwrap());
    assert!(anchored.lines().any(|l| l == end), "{end} in\n{anchored}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(logs.join("audit.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut ring = evtrail::Keyring::new();
    ring.add(key);
    let report = evtrail::verify::Verifier::new(ring)
        .verify_paths(&[&logs])
        .unwrap();
    assert!(report.is_clean(), "{}", report.to_json());
}

#[cfg(feature = "http")]
#[test]
fn http_secrets_come_from_the_environment_or_files_never_inline_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[key]\nunsigned = true\n[[http]]\nurl = \"http://127.0.0.1:9/\"\n[http.auth]\n";
    let e = head(&format!("{base}bearer_token = \"abc\"\n"));
    assert!(
        e.starts_with("app.toml:6:16: `bearer_token` is written into the configuration"),
        "{e}"
    );
    let ok = format!("{base}bearer_token = \"abc\"\nallow_inline_secrets = true\n");
    Config::parse("app.toml", &ok).unwrap().check().unwrap();
    let e = head(&format!(
        "{base}bearer_token_env = \"EVTRAIL_TEST_SURELY_UNSET_VAR\"\n"
    ));
    assert!(
        e.starts_with("app.toml:6:20: environment variable EVTRAIL_TEST_SURELY_UNSET_VAR"),
        "{e}"
    );
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let ok = format!("{base}user = \"ingest\"\npassword_file = {token:?}\n");
    let config = Config::parse("app.toml", &ok).unwrap();
    config.check().unwrap();
    let e = head(&format!(
        "{base}user = \"ingest\"\npassword_file = \"/nonexistent/pw\"\n"
    ));
    assert!(
        e.starts_with("app.toml:7:17: cannot read /nonexistent/pw"),
        "{e}"
    );
    let e = head(
        "[key]\nunsigned = true\n[[http]]\nurl = \"http://127.0.0.1:9/\"\nencoder = \"clickhouse\"\n",
    );
    assert!(
        e.starts_with("app.toml:4:7: encoder `clickhouse` needs `table`"),
        "{e}"
    );
    let e = head("[key]\nunsigned = true\n[[http]]\nurl = \"ftp://x/\"\n");
    assert!(e.starts_with("app.toml:4:7: "), "{e}");
}

#[test]
fn the_effective_configuration_masks_secrets_and_names_overrides() {
    let text = "service = \"a\"\n[[http]]\nurl = \"http://127.0.0.1:9/\"\n\
                headers = { Authorization = \"Bearer xyz\" }\n";
    let config = Config::parse("app.toml", text)
        .unwrap()
        .with_env_from(|n| (n == "EVTRAIL_SERVICE").then(|| "b".to_owned()))
        .unwrap();
    let shown = config.effective();
    assert!(
        shown.contains("overridden by the environment: EVTRAIL_SERVICE"),
        "{shown}"
    );
    assert!(shown.contains("service = \"b\""), "{shown}");
    assert!(!shown.contains("xyz"), "{shown}");
}

/// Every public builder setting has a key in the file, or a reason here
/// why it has none. A new setting fails this test until it gets one.
#[test]
fn every_builder_setting_has_a_file_key() {
    const KEYS: &[(&str, &str)] = &[
        ("new", "-: the constructor"),
        (
            "file_options",
            "[files] compression, compression_wait, durability, file_mode, dir_mode, [files.retention]",
        ),
        ("rotation", "[files] max_file_bytes, rotate"),
        ("clock", "-: a test hook, code only"),
        ("key", "[key] file, env"),
        ("unsigned", "[key] unsigned"),
        ("seal_every", "[seal] records, every"),
        ("service", "service"),
        ("environment", "environment"),
        ("region", "region"),
        ("host", "host"),
        ("node", "node"),
        ("version", "version"),
        ("pid", "pid"),
        ("capacity", "[queue] capacity"),
        ("overflow", "[queue] overflow"),
        ("overflow_for", "[queue] overflow_for"),
        ("level", "filter"),
        ("filter", "filter"),
        ("add_route", "[[routes]]"),
        ("route", "-: deprecated name of add_route"),
        ("default_stream", "default_stream"),
        ("batch_size", "[queue] batch_size"),
        ("flush_interval", "[queue] flush_interval"),
        ("flush_timeout", "[queue] flush_timeout"),
        ("max_value_bytes", "max_value_bytes"),
        ("max_value_len", "-: deprecated name of max_value_bytes"),
        ("retry_buffer_bytes", "[queue] retry_buffer_bytes"),
        ("retry_buffer", "-: deprecated name of retry_buffer_bytes"),
        ("add_redact_key", "[redaction] keys"),
        ("redact_key", "-: deprecated name of add_redact_key"),
        ("add_redact_pattern", "[redaction] patterns"),
        ("redact_pattern", "-: deprecated name of add_redact_pattern"),
        ("default_redaction", "[redaction] defaults"),
        ("source_location", "source_location"),
        ("log_dir", "[files] dir"),
        (
            "add_sink",
            "[[http]], [notify], [seal] anchors_file (other sinks are code)",
        ),
        ("capture_panics", "capture_panics"),
        ("build", "-: starts the pipeline"),
        ("config_file", "-: reads the file"),
        ("config", "-: applies the file"),
    ];
    let sources = [
        include_str!("../src/builder.rs"),
        include_str!("../src/config/apply.rs"),
    ];
    let mut missing = Vec::new();
    for src in sources {
        let Some(start) = src.find("impl Builder {") else {
            continue;
        };
        for line in src[start..].lines() {
            let Some(rest) = line.trim().strip_prefix("pub fn ") else {
                continue;
            };
            let name = rest.split(['(', '<']).next().unwrap();
            if !KEYS.iter().any(|(k, _)| *k == name) {
                missing.push(name.to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "builder settings with no configuration key: {missing:?} (add one to evtrail::config, \
         or say here why there is none)"
    );
    // And every key named here is really read: the example exercises them.
    let example = evtrail::config::EXAMPLE;
    for key in [
        "service",
        "filter",
        "[key]",
        "[queue]",
        "[redaction]",
        "[[routes]]",
        "[files]",
        "[files.retention]",
    ] {
        assert!(example.contains(key), "the example shows {key}");
    }
}

#[cfg(feature = "notify")]
#[test]
fn a_notify_section_sends_to_a_signed_chat_robot() {
    use http_server::{Reply, TestServer};
    let server = TestServer::start();
    server.set_default(Reply::with_body(200, r#"{"errcode":0,"errmsg":"ok"}"#));
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("robot-url");
    std::fs::write(&url_file, server.url("/robot/send?access_token=t0k3n")).unwrap();
    let logs = dir.path().join("logs");
    let text = format!(
        "service = \"pay\"\n[key]\nunsigned = true\n[files]\ndir = {logs:?}\n\
         [notify]\ngroup_wait = \"0s\"\n\
         [[notify.channels]]\nname = \"oncall\"\nkind = \"dingtalk\"\nurl_file = {url_file:?}\n\
         secret = \"SECxyz\"\nallow_inline_secrets = true\nformat = \"text\"\n\
         [[notify.rules]]\nname = \"payments\"\nevent = [\"payment_*\"]\nto = [\"oncall\"]\n\
         mention_mobiles = [\"13800000000\"]\ntitle = \"{{event}} in {{service}}\"\n"
    );
    let config = Config::parse("app.toml", &text).unwrap();
    let (layer, guard) = evtrail::builder().config(&config).unwrap().build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::error!(event = "payment_failed", order = "o-1", "card declined");
        tracing::error!(event = "other", "not for this rule");
    });
    guard.flush(std::time::Duration::from_secs(10)).unwrap();
    drop(guard);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert!(
        r.target
            .starts_with("/robot/send?access_token=t0k3n&timestamp="),
        "{}",
        r.target
    );
    assert!(r.target.contains("&sign="), "{}", r.target);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["msgtype"], "text");
    let content = body["text"]["content"].as_str().unwrap();
    assert!(content.contains("payment_failed in pay"), "{content}");
    assert_eq!(body["at"]["atMobiles"][0], "13800000000");
    // And the secrets are masked in the effective configuration.
    assert!(!config.effective().contains("SECxyz"));
}

#[cfg(feature = "notify")]
#[test]
fn notify_mistakes_are_located() {
    let base = "[key]\nunsigned = true\n[notify]\n[[notify.channels]]\nname = \"oncall\"\nkind = \"slack\"\n";
    let e = head(&format!("{base}[[notify.rules]]\nname = \"r\"\n"));
    assert!(
        e.starts_with("app.toml:5:8: channel `oncall` needs `url_env`, `url_file` or `url`"),
        "{e}"
    );
    let with_url = format!("{base}url = \"http://127.0.0.1:9/\"\nallow_inline_secrets = true\n");
    let e = head(&format!(
        "{with_url}[[notify.rules]]\nname = \"r\"\nto = [\"pager\"]\n"
    ));
    assert!(
        e.starts_with("app.toml:10:8: rule `r` sends to `pager`"),
        "{e}"
    );
    let e = head(&format!(
        "{with_url}[[notify.rules]]\nname = \"r\"\nwhen = [\"amount>=\"]\n"
    ));
    assert!(e.starts_with("app.toml:10:8: rule `r`: "), "{e}");
    let e = head(&format!(
        "{with_url}format = \"card\"\n[[notify.rules]]\nname = \"r\"\n"
    ));
    assert!(
        e.starts_with("app.toml:9:10: channel `oncall`: format `card`"),
        "{e}"
    );
    let e = head("[notify]\n[[notify.channels]]\nname = \"x\"\nkind = \"teams\"\n");
    assert!(
        e.starts_with("app.toml:4:8: unknown variant `teams`"),
        "{e}"
    );
    let e = head(&format!("{base}url = \"http://127.0.0.1:9/\"\n"));
    assert!(
        e.starts_with("app.toml:7:7: `url` is written into the configuration"),
        "{e}"
    );
}

/// Every HTTP sink setting has a key in `[[http]]`, or a reason here.
#[test]
fn every_http_sink_setting_has_a_file_key() {
    let src = include_str!("../src/http/builder.rs");
    let schema = include_str!("../src/config/schema.rs");
    let start = src
        .find("impl HttpSinkBuilder {")
        .expect("the builder's impl");
    let code_only = [
        ("encoder", "encoder, table, index"),
        ("header", "headers"),
        ("bearer_auth", "[http.auth] bearer_token_env/_file"),
        ("basic_auth", "[http.auth] user, password_env/_file"),
        ("backoff", "backoff_first, backoff_max"),
        ("new", "-"),
        ("build", "-"),
    ];
    let mut missing = Vec::new();
    for line in src[start..].lines() {
        let Some(rest) = line.trim().strip_prefix("pub fn ") else {
            continue;
        };
        let name = rest.split(['(', '<']).next().unwrap();
        let has_key = schema.contains(&format!("pub(crate) {name}:"));
        if !has_key && !code_only.iter().any(|(n, _)| *n == name) {
            missing.push(name.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "HTTP sink settings with no [[http]] key: {missing:?}"
    );
}
