//! Temporary.
pub(crate) const SEGMENT_START: &str = "evtrail.segment_start";
pub(crate) const ALL: [&str; 4] = [
    "evtrail.segment_start",
    "evtrail.segment_end",
    "evtrail.seal",
    "evtrail.key_rotated",
];
