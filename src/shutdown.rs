//! The process-wide stop flag, set by SIGINT/SIGTERM: every long-running command (`run`,
//! `demo`, `receive`, `gen --serve`) polls it and ends cleanly. A second signal exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The flag; the signal handler is installed on first use.
pub fn flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                // Said, so that what is missing is no surprise (it exited without a word).
                crate::log::warn(format_args!(
                    "a second signal: exiting at once, with what was not yet written lost"
                ));
                std::process::exit(130);
            }
            crate::log::info(format_args!(
                "stopping: finishing what is under way (a second signal exits at once)"
            ));
        });
        flag
    })
    .clone()
}
