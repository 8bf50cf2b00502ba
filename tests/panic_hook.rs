//! The opt-in panic hook. Its own test binary: a panic hook is process-wide.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{WAIT, events, parse};
use evtrail::MemorySink;

#[test]
fn a_panicking_thread_is_recorded_then_the_previous_hook_runs() {
    let previous_ran = Arc::new(AtomicBool::new(false));
    {
        let flag = previous_ran.clone();
        std::panic::set_hook(Box::new(move |_| flag.store(true, Ordering::SeqCst)));
    }
    let sink = MemorySink::new();
    let (_layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .capture_panics(true)
        .add_sink(sink.clone())
        .build()
        .unwrap();
    let result = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| panic!("boom {}", 42))
        .unwrap()
        .join();
    assert!(result.is_err());
    assert!(
        previous_ran.load(Ordering::SeqCst),
        "the previous hook must still run"
    );
    // The hook flushed before returning: the record is already there.
    let records = parse(&sink.lines());
    let panics = events(&records, "panic");
    assert_eq!(panics.len(), 1, "{records:?}");
    let p = panics[0];
    assert_eq!(p["level"], "ERROR");
    assert_eq!(p["class"], "error");
    assert_eq!(p["msg"], "boom 42");
    assert_eq!(p["thread"], "worker-7");
    assert_eq!(p["target"], "panic");
    assert!(
        p["fields"]["location"]
            .as_str()
            .unwrap()
            .contains("panic_hook.rs")
    );
    assert!(p["file"].as_str().unwrap().ends_with("panic_hook.rs"));
    guard.shutdown(WAIT).unwrap();

    // After shutdown the hook only passes panics on.
    previous_ran.store(false, Ordering::SeqCst);
    let _ = std::thread::spawn(|| panic!("late")).join();
    assert!(previous_ran.load(Ordering::SeqCst));
    assert_eq!(events(&parse(&sink.lines()), "panic").len(), 1);
}
