//! The file's shape: every table and key a configuration file may hold,
//! read with serde. Unknown keys are errors (`deny_unknown_fields`), so a
//! misspelt setting is never silently ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::units::{Interval, Mode, Size};

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Schema {
    pub(crate) service: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) node: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) pid: Option<bool>,
    pub(crate) filter: Option<Spanned<String>>,
    pub(crate) use_rust_log: Option<bool>,
    pub(crate) default_stream: Option<Spanned<String>>,
    pub(crate) source_location: Option<bool>,
    pub(crate) capture_panics: Option<bool>,
    pub(crate) max_value_bytes: Option<Spanned<Size>>,
    pub(crate) key: Option<KeySection>,
    pub(crate) queue: Option<QueueSection>,
    pub(crate) redaction: Option<RedactionSection>,
    pub(crate) seal: Option<SealSection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) routes: Vec<RouteSection>,
    pub(crate) files: Option<FilesSection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) http: Vec<HttpSection>,
    pub(crate) notify: Option<NotifySection>,
}

/// `[key]`: where the signing key comes from.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct KeySection {
    pub(crate) file: Option<Spanned<PathBuf>>,
    pub(crate) env: Option<Spanned<String>>,
    pub(crate) unsigned: Option<bool>,
}

/// `[queue]`: the hand-off between the application and the worker.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QueueSection {
    pub(crate) capacity: Option<Spanned<usize>>,
    pub(crate) batch_size: Option<Spanned<usize>>,
    pub(crate) overflow: Option<OverflowName>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) overflow_for: BTreeMap<String, OverflowName>,
    pub(crate) flush_interval: Option<Interval>,
    pub(crate) flush_timeout: Option<Interval>,
    pub(crate) retry_buffer_bytes: Option<Size>,
}

/// An [`Overflow`](crate::Overflow) policy by name.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OverflowName {
    Block,
    DropNewest,
}

/// `[redaction]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RedactionSection {
    pub(crate) defaults: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) patterns: Vec<Spanned<String>>,
}

/// `[seal]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SealSection {
    pub(crate) records: Option<Spanned<u64>>,
    pub(crate) every: Option<Spanned<Interval>>,
    /// A file, kept away from the logs, every seal and segment boundary is
    /// appended to (an [`AnchorSink`](crate::AnchorSink)).
    pub(crate) anchors_file: Option<Spanned<PathBuf>>,
}

/// One `[[routes]]` entry: where matching records go.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSection {
    pub(crate) stream: Spanned<String>,
    #[serde(default)]
    pub(crate) target: Option<String>,
    #[serde(default)]
    pub(crate) level: Option<LevelName>,
    #[serde(default)]
    pub(crate) class: Option<String>,
    #[serde(default)]
    pub(crate) event: Option<String>,
}

/// A `tracing` level by name.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LevelName {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// `[files]`: the log directory and how its files roll, compress, expire
/// and sync.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilesSection {
    pub(crate) dir: PathBuf,
    #[serde(default)]
    pub(crate) max_file_bytes: Option<Size>,
    #[serde(default)]
    pub(crate) rotate: Option<RotateName>,
    #[serde(default)]
    pub(crate) compression: Option<Spanned<Compression>>,
    #[serde(default)]
    pub(crate) compression_wait: Option<Interval>,
    #[serde(default)]
    pub(crate) durability: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) file_mode: Option<Mode>,
    #[serde(default)]
    pub(crate) dir_mode: Option<Mode>,
    #[serde(default)]
    pub(crate) retention: Option<RetentionSection>,
}

/// How often files roll by time.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RotateName {
    Never,
    Minutely,
    Hourly,
    Daily,
}

/// `compression = 6` or `compression = false`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum Compression {
    Off(bool),
    Level(u32),
}

/// `[files.retention]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionSection {
    pub(crate) max_files: Option<usize>,
    pub(crate) max_age: Option<Interval>,
    pub(crate) max_stream_bytes: Option<Size>,
    pub(crate) max_total_bytes: Option<Size>,
}

/// One `[[http]]` sink.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSection {
    pub(crate) url: Spanned<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) encoder: Option<EncoderName>,
    /// The ClickHouse table (`encoder = "clickhouse"`).
    #[serde(default)]
    pub(crate) table: Option<String>,
    /// The Elasticsearch/OpenSearch index (`encoder = "elastic"`).
    #[serde(default)]
    pub(crate) index: Option<String>,
    #[serde(default)]
    pub(crate) gzip: Option<bool>,
    #[serde(default)]
    pub(crate) batch_records: Option<usize>,
    #[serde(default)]
    pub(crate) batch_bytes: Option<Size>,
    #[serde(default)]
    pub(crate) batch_wait: Option<Interval>,
    #[serde(default)]
    pub(crate) connect_timeout: Option<Interval>,
    #[serde(default)]
    pub(crate) timeout: Option<Interval>,
    #[serde(default)]
    pub(crate) backoff_first: Option<Interval>,
    #[serde(default)]
    pub(crate) backoff_max: Option<Interval>,
    #[serde(default)]
    pub(crate) max_retry_after: Option<Interval>,
    #[serde(default)]
    pub(crate) max_attempts: Option<u32>,
    #[serde(default)]
    pub(crate) queue: Option<usize>,
    #[serde(default)]
    pub(crate) spool_dir: Option<PathBuf>,
    #[serde(default)]
    pub(crate) spool_max_bytes: Option<Size>,
    #[serde(default)]
    pub(crate) dead_letter_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) dead_letter_max_bytes: Option<Size>,
    #[serde(default)]
    pub(crate) dead_letter_max_records: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) auth: Option<AuthSection>,
}

/// Which [`Encode`](crate::http::Encode) formats the requests.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EncoderName {
    Ndjson,
    JsonArray,
    Clickhouse,
    Elastic,
    Loki,
    Otlp,
}

/// `[http.auth]`: bearer or basic credentials, each secret read from an
/// environment variable or a file, inline only when asked for.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthSection {
    pub(crate) bearer_token_env: Option<Spanned<String>>,
    pub(crate) bearer_token_file: Option<Spanned<PathBuf>>,
    pub(crate) bearer_token: Option<Spanned<String>>,
    pub(crate) user: Option<String>,
    pub(crate) password_env: Option<Spanned<String>>,
    pub(crate) password_file: Option<Spanned<PathBuf>>,
    pub(crate) password: Option<Spanned<String>>,
    /// Allows `bearer_token` and `password` written into the file itself.
    pub(crate) allow_inline_secrets: Option<bool>,
}

/// `[notify]`: one notification sink, its channels and rules.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifySection {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) group_wait: Option<Interval>,
    #[serde(default)]
    pub(crate) group_interval: Option<Interval>,
    #[serde(default)]
    pub(crate) repeat_interval: Option<Interval>,
    #[serde(default)]
    pub(crate) max_attempts: Option<u32>,
    #[serde(default)]
    pub(crate) backoff_first: Option<Interval>,
    #[serde(default)]
    pub(crate) backoff_max: Option<Interval>,
    #[serde(default)]
    pub(crate) max_retry_after: Option<Interval>,
    #[serde(default)]
    pub(crate) timeout: Option<Interval>,
    #[serde(default)]
    pub(crate) time_zone: Option<String>,
    #[serde(default)]
    pub(crate) dead_letter: Option<PathBuf>,
    #[serde(default)]
    pub(crate) queue: Option<usize>,
    /// Also tell the channels when logging itself fails.
    #[serde(default)]
    pub(crate) logging_failures: Option<bool>,
    pub(crate) channels: Vec<ChannelSection>,
    #[serde(default)]
    pub(crate) rules: Vec<RuleSection>,
}

/// One `[[notify.channels]]` entry: a chat robot or webhook.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelSection {
    pub(crate) name: Spanned<String>,
    pub(crate) kind: ChannelKind,
    /// The webhook URL: it carries the robot's token, so it is a secret.
    #[serde(default)]
    pub(crate) url_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) url_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(crate) url: Option<Spanned<String>>,
    /// The signing secret (DingTalk, Feishu, webhook).
    #[serde(default)]
    pub(crate) secret_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) secret_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(crate) secret: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) allow_inline_secrets: Option<bool>,
    /// `text`, `markdown` (DingTalk, WeCom), `post` or `card` (Feishu).
    #[serde(default)]
    pub(crate) format: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) rate_limit: Option<RateLimitSection>,
}

/// Which chat API a channel speaks.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChannelKind {
    Dingtalk,
    Wecom,
    Feishu,
    Slack,
    Webhook,
}

/// `rate_limit = { messages = 20, per = "1m" }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitSection {
    pub(crate) messages: u32,
    pub(crate) per: Interval,
}

/// One `[[notify.rules]]` entry: which records notify whom, and how.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSection {
    pub(crate) name: Spanned<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) event: Vec<String>,
    #[serde(default)]
    pub(crate) min_level: Option<LevelName>,
    #[serde(default)]
    pub(crate) class: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) stream: Option<String>,
    #[serde(default)]
    pub(crate) target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) when: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) mention_mobiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) mention_users: Vec<String>,
    #[serde(default)]
    pub(crate) mention_all: Option<bool>,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) resolved_title: Option<String>,
    #[serde(default)]
    pub(crate) resolved_body: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) group_by: Vec<String>,
    #[serde(default)]
    pub(crate) group_wait: Option<Interval>,
    #[serde(default)]
    pub(crate) group_interval: Option<Interval>,
    #[serde(default)]
    pub(crate) repeat_interval: Option<Interval>,
    #[serde(default)]
    pub(crate) resolved: Option<bool>,
}
