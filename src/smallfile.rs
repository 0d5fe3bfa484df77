//! Files that hold a few lines (a hosts list, a token, a config file): read whole, up to
//! [`LIMIT`]. `--hosts /dev/zero` once grew to 24 GB before the kernel killed the run.

use std::io::Read;
use std::path::Path;

/// The most a small file may hold: far more than any hosts list, token or config.
pub const LIMIT: u64 = 1 << 20;

/// Reads `path` as text, refusing one over [`LIMIT`] bytes (a device or a FIFO that does not
/// end included) in one line that names `what` the file is meant to be.
pub fn read(path: &Path, what: &str) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("cannot read {what} {}: {e}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(LIMIT + 1).read_to_end(&mut bytes))
        .map_err(fail)?;
    // The size first: a cut at the limit may split a character.
    if bytes.len() as u64 > LIMIT {
        return Err(format!(
            "{what} {}: over {} KiB",
            path.display(),
            LIMIT >> 10
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| format!("cannot read {what} {}: not UTF-8 text", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_end_is_refused_and_a_small_one_read() {
        let err = read(Path::new("/dev/zero"), "hosts file").unwrap_err();
        assert_eq!(err, "hosts file /dev/zero: over 1024 KiB");
        let err = read(Path::new("/nonexistent/x"), "config file").unwrap_err();
        assert!(
            err.starts_with("cannot read config file /nonexistent/x: "),
            "{err}"
        );
        let p = std::env::temp_dir().join(format!("tagstream-small-{}", std::process::id()));
        std::fs::write(&p, "a:1\nb:2\n").unwrap();
        assert_eq!(read(&p, "hosts file").unwrap(), "a:1\nb:2\n");
        std::fs::remove_file(&p).unwrap();
    }
}
