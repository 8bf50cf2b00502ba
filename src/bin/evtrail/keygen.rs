//! `evtrail keygen`: a new signing key in a new file.

use std::fs;
use std::io;
use std::path::PathBuf;

use clap::Args;
use evtrail::Key;

use crate::common::{CLEAN, Context, Result, print};

/// Generate a new random signing key and write it to a new file (mode 0600
/// on Unix).
///
/// The file holds the key id and the 32-byte secret as `ID:HEX`. It is
/// never overwritten unless --force is given.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The file to create.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// The key id written as `kid` in every record signed with the key.
    /// Default: the key's fingerprint.
    #[arg(long, value_name = "KID")]
    id: Option<String>,

    /// Replace the file if it exists (the old key is lost).
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: KeygenArgs) -> Result<u8> {
    let mut key = Key::generate()?;
    if let Some(id) = args.id {
        key = key.with_id(id)?;
    }
    if args.force {
        match fs::remove_file(&args.out) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let msg = format!("cannot remove `{}`", args.out.display());
                return Err(Context::wrap(msg, e));
            }
        }
    }
    key.write_new_file(&args.out)?;
    print(&format!("wrote key {} to {}", key.id(), args.out.display()))?;
    Ok(CLEAN)
}
