//! The one lock under which a log directory's files are replaced or
//! deleted: compression takes it to swap a rolled file for its `.gz`, and
//! retention to delete files, so neither needs the other to agree on it.

/// Held while a compression replaces its original and while retention
/// deletes files, so the two never cross.
pub(crate) fn finishing_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
