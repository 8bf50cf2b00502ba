//! The workload the comparison benches share: a failed login inside a
//! request span, as the benchmark issue specifies it.
//!
//! Included by the benches with `#[path = "common/login.rs"] mod login;`.

/// The span the workload's events are emitted in.
pub fn request_span() -> tracing::Span {
    tracing::info_span!("request", request_id = "req_xyz789", op = "checkout")
}

/// The workload's event number `i`; emit it inside [`request_span`].
#[inline(always)]
pub fn emit_login(i: u64) {
    tracing::info!(
        user_id = "user_12345",
        ip = "192.168.1.100",
        attempt = i,
        result = "failure",
        reason = "invalid_password",
        "user login attempt"
    );
}
