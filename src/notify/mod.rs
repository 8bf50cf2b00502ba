//! Chat notifications (feature `notify`): anomalies pushed to the on-duty
//! group's chat within seconds.

mod channel;

pub use channel::{
    Answer, Channel, ChatRequest, DingTalk, Feishu, Markup, Mentions, Message, RateLimit, Slack,
    WeCom, Webhook, escape, redact_url,
};
