//! Temporary.
pub(crate) use crate::sink::{parse_rolled_name, rolled_stream};
pub(crate) use crate::verify::collect_files;

/// Whether the file at `path` is gzip, by its magic bytes.
pub(crate) fn is_gzip_file(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 2];
    let mut f = std::fs::File::open(path)?;
    let mut got = 0;
    while got < 2 {
        match f.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == 2 && magic == [0x1f, 0x8b])
}
