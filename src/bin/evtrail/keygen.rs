//! `evtrail keygen`: a new signing key in a new file.

use anyhow::Context as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::Args;
use evtrail::Key;

use crate::common::{CLEAN, Result, print};

/// Generate a new random signing key and write it to a new file (mode 0600
/// on Unix; missing parent directories are created, mode 0700).
///
/// The file holds the key id and the 32-byte secret as `ID:HEX`. It is
/// never overwritten unless --force is given. Keep it where secrets go:
/// outside the repository and the log directory, readable only by the
/// service (e.g. `~/.config/evtrail/demo.key` to try it out,
/// `/etc/<service>/evtrail.key` or a secret store in production).
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
    #[arg(long, conflicts_with = "if_missing")]
    force: bool,

    /// When FILE already holds a key, keep it and succeed (its id is
    /// printed); without this an existing file is an error.
    #[arg(long)]
    if_missing: bool,
}

pub(crate) fn run(args: KeygenArgs) -> Result<u8> {
    if args.if_missing && args.out.exists() {
        let key = Key::from_file(&args.out)?;
        print(&format!(
            "kept key {} in {} (it exists; --force replaces it)",
            key.id(),
            args.out.display()
        ))?;
        return Ok(CLEAN);
    }
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
                return Err(anyhow::Error::new(e).context(msg));
            }
        }
    }
    if let Some(parent) = args.out.parent() {
        create_private_dir(parent)?;
    }
    key.write_new_file(&args.out)?;
    print(&format!("wrote key {} to {}", key.id(), args.out.display()))?;
    Ok(CLEAN)
}

/// Creates `dir` and its missing parents, readable by their owner only.
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create `{}`", dir.display()))
}
