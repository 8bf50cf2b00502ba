//! Chat notifications (feature `notify`): anomalies pushed to the on-duty
//! group's chat within seconds.

mod channel;

pub use channel::{Answer, Channel, ChatRequest, Markup, Mentions, Message, RateLimit, redact_url};
