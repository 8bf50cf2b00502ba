//! Reloading the configuration on `SIGHUP`, as a service would: the level
//! goes from `info` to `debug` without a restart.
//!
//! ```text
//! cargo run --example reload --features config
//! ```
//!
//! The example writes its configuration to a temporary directory, starts
//! logging, rewrites the file, sends itself `SIGHUP` and shows what the
//! reload applied. In a service, `kill -HUP <pid>` does the same.

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tracing_subscriber::prelude::*;

    let dir = std::env::temp_dir().join(format!("evtrail-reload-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("evtrail.toml");
    let config = |filter: &str| {
        format!(
            "service = \"reload-demo\"\nfilter = \"{filter}\"\n[key]\nunsigned = true\n\
             [files]\ndir = {:?}\n",
            dir.join("logs")
        )
    };
    std::fs::write(&file, config("info"))?;
    let (layer, guard) = evtrail::builder().config_file(&file)?.build()?;
    tracing_subscriber::registry().with(layer).init();

    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;

    tracing::debug!("not written: the filter says info");
    std::fs::write(&file, config("debug"))?;
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP)?;
    // A service's main loop (or a thread of its own) checks the flag.
    for _ in 0..100 {
        if hup.swap(false, Ordering::SeqCst) {
            match guard.reload_config_file(&file) {
                Ok(r) => println!(
                    "reloaded {}: applied {:?}, needs a restart {:?}",
                    file.display(),
                    r.applied,
                    r.needs_restart
                ),
                Err(e) => eprintln!("reload rejected, the running configuration stays: {e}"),
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tracing::debug!("written: the filter now says debug");
    drop(guard);
    let log = std::fs::read_to_string(dir.join("logs").join("app.log"))?;
    for line in log
        .lines()
        .filter(|l| !l.contains("\"target\":\"evtrail\""))
    {
        println!("{line}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[cfg(not(unix))]
fn main() {
    eprintln!("this example uses SIGHUP, which only Unix has");
}
