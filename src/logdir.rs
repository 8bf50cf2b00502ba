//! Temporary.
pub(crate) use crate::sink::{parse_rolled_name, rolled_stream};
pub(crate) use crate::verify::{collect_files, open};
