//! Number formatting for the benches' tables.
//!
//! Included by the benches with `#[path = "common/numbers.rs"] mod numbers;`.

/// A count or rate (not negative) rounded to a whole number, its digits
/// grouped by thousands with commas: `1234567.8` → `"1,234,568"`.
pub fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
