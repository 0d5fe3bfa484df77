//! One writer per file: an exclusive advisory lock that the system drops with the process,
//! even at `kill -9` (a checkpoint directory's `lock-process-P`, a database's
//! `NAME-writer.lock`).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Opens `path` (created if missing, never truncated) and locks it exclusively: the file,
/// held for as long as the lock should last, or `None` when another holder has it.
pub fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}
