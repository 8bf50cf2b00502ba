//! Per-channel rate limits: how many messages may go out now, as a
//! sliding window per limit, so the sink never sends faster than the chat
//! API allows (DingTalk blocks a robot for ten minutes when it does).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::channel::RateLimit;

/// The messages sent within the longest window, checked against every
/// limit.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: Vec<RateLimit>,
    sent: VecDeque<Instant>,
}

impl Limiter {
    pub(crate) fn new(limits: Vec<RateLimit>) -> Limiter {
        let limits = limits
            .into_iter()
            .filter(|l| l.messages > 0 && !l.per.is_zero())
            .collect();
        Limiter {
            limits,
            sent: VecDeque::new(),
        }
    }

    fn forget_old(&mut self, now: Instant) {
        let longest = self.limits.iter().map(|l| l.per).max().unwrap_or_default();
        while let Some(&t) = self.sent.front() {
            if now.saturating_duration_since(t) >= longest {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// How many messages may be sent at `now` without breaking a limit.
    pub(crate) fn available(&mut self, now: Instant) -> u32 {
        self.forget_old(now);
        self.limits
            .iter()
            .map(|l| {
                let used = self
                    .sent
                    .iter()
                    .rev()
                    .take_while(|&&t| now.saturating_duration_since(t) < l.per)
                    .count() as u32;
                l.messages.saturating_sub(used)
            })
            .min()
            .unwrap_or(u32::MAX)
    }

    /// When the next message may be sent (`now` if one may be now).
    pub(crate) fn next_free(&mut self, now: Instant) -> Instant {
        if self.available(now) > 0 {
            return now;
        }
        let mut at = now;
        for l in &self.limits {
            let in_window: Vec<Instant> = self
                .sent
                .iter()
                .copied()
                .filter(|&t| now.saturating_duration_since(t) < l.per)
                .collect();
            if in_window.len() as u32 >= l.messages {
                // The window frees a slot when its oldest counted send
                // leaves it.
                let oldest = in_window[in_window.len() - l.messages as usize];
                at = at.max(oldest + l.per);
            }
        }
        at
    }

    /// Counts a message sent at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        self.sent.push_back(now);
    }

    /// Pushes the next slot back to `until` (the API said it is rate
    /// limited): fills the windows as if messages had been sent.
    pub(crate) fn block_until(&mut self, now: Instant, until: Instant) {
        let Some(strictest) = self.limits.iter().min_by_key(|l| l.per) else {
            return;
        };
        let wait = until
            .saturating_duration_since(now)
            .min(Duration::from_secs(3600));
        // Enough sends at `until - per` that no slot frees before `until`.
        // Sends at `until - per` leave the strictest window at `until`.
        let at = until.checked_sub(strictest.per).unwrap_or(now);
        if wait.is_zero() {
            return;
        }
        for _ in 0..strictest.messages {
            self.sent.push_back(at);
        }
        let mut v: Vec<Instant> = self.sent.drain(..).collect();
        v.sort();
        self.sent = v.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_min(n: u32) -> RateLimit {
        RateLimit {
            messages: n,
            per: Duration::from_secs(60),
        }
    }

    #[test]
    fn twenty_a_minute_means_twenty_then_a_wait() {
        let t0 = Instant::now();
        let mut l = Limiter::new(vec![per_min(20)]);
        for i in 0..20 {
            assert_eq!(l.available(t0 + Duration::from_secs(i)), 20 - i as u32);
            l.record(t0 + Duration::from_secs(i));
        }
        assert_eq!(l.available(t0 + Duration::from_secs(30)), 0);
        assert_eq!(
            l.next_free(t0 + Duration::from_secs(30)),
            t0 + Duration::from_secs(60)
        );
        assert_eq!(l.available(t0 + Duration::from_secs(60)), 1);
        assert_eq!(l.available(t0 + Duration::from_secs(79)), 20);
    }

    #[test]
    fn the_strictest_of_several_limits_decides() {
        let t0 = Instant::now();
        let per_sec = RateLimit {
            messages: 5,
            per: Duration::from_secs(1),
        };
        let mut l = Limiter::new(vec![per_min(100), per_sec]);
        for _ in 0..5 {
            l.record(t0);
        }
        assert_eq!(l.available(t0), 0);
        assert_eq!(l.next_free(t0), t0 + Duration::from_secs(1));
        assert_eq!(l.available(t0 + Duration::from_secs(1)), 5);
        // 100 a minute: after 100 sends spread over 20 s, none until the
        // first leaves the minute.
        let mut l = Limiter::new(vec![per_min(100), per_sec]);
        for i in 0..100u64 {
            l.record(t0 + Duration::from_millis(i * 200));
        }
        let at = t0 + Duration::from_secs(21);
        assert_eq!(l.available(at), 0);
        assert_eq!(l.next_free(at), t0 + Duration::from_secs(60));
    }

    #[test]
    fn an_api_saying_slow_down_blocks_until_the_time_it_gave() {
        let t0 = Instant::now();
        let mut l = Limiter::new(vec![per_min(20)]);
        l.block_until(t0, t0 + Duration::from_secs(30));
        assert_eq!(l.available(t0 + Duration::from_secs(29)), 0);
        assert!(l.available(t0 + Duration::from_secs(30)) > 0);
    }

    #[test]
    fn no_limits_means_no_wait() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Vec::new());
        l.record(t0);
        assert_eq!(l.available(t0), u32::MAX);
        assert_eq!(l.next_free(t0), t0);
    }
}
