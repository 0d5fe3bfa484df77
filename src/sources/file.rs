//! Files (split into byte ranges among all workers), standard input, and files that are
//! streams (FIFOs, character devices, Unix sockets), which are read like standard input.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::dealer::Dealer;
use super::lines::{LineReader, Step};
use super::{Partition, Poll, SourceContext};
use crate::metrics::SourceCounters;
use std::sync::atomic::Ordering::Relaxed;

/// One worker's byte range of a file: the lines that start in `[start, end)`.
pub struct FilePartition {
    reader: Option<LineReader<File>>,
    /// What this file is, for checkpoints (see [`fingerprint`]).
    identity: String,
    path: std::path::PathBuf,
    start: u64,
    end: u64,
    /// The file's size when opened (its identity holds it too).
    len: u64,
    ctx: SourceContext,
    counted_long: u64,
}

impl FilePartition {
    /// Opens the range of worker `index` of `peers`.
    pub fn open(
        path: &Path,
        index: usize,
        peers: usize,
        ctx: &SourceContext,
    ) -> Result<FilePartition, String> {
        let err = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        let mut file = File::open(path).map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        if meta.is_dir() {
            return Err(format!("cannot read {}: it is a directory", path.display()));
        }
        let len = meta.len();
        let start = len * index as u64 / peers as u64;
        let end = len * (index as u64 + 1) / peers as u64;
        let mut reader = None;
        if start < end {
            // A line belongs to the range it starts in: unless the range starts the file, the
            // first line is the one after the line that began before the range.
            let first = if start == 0 {
                Some(0)
            } else {
                first_line_start(&mut file, start, end).map_err(err)?
            };
            if let Some(first) = first {
                file.seek(SeekFrom::Start(first)).map_err(err)?;
                reader = Some(LineReader::with_offset(file, ctx.max_line, first));
            }
        }
        Ok(FilePartition {
            reader,
            identity: fingerprint(path, len).map_err(err)?,
            path: path.to_owned(),
            start,
            end,
            len,
            ctx: ctx.clone(),
            counted_long: 0,
        })
    }
}

/// What a file is, so that a checkpoint is never restored against another input: its path,
/// size and modification time, and a hash of its first and last 64 KiB (a copy elsewhere, or
/// the same name rewritten, shows as a different file).
pub fn fingerprint(path: &Path, len: u64) -> std::io::Result<String> {
    use std::io::Read;
    const EDGE: u64 = 64 << 10;
    let mut f = File::open(path)?;
    let modified = f
        .metadata()?
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut head = Vec::with_capacity(EDGE as usize);
    (&mut f).take(EDGE).read_to_end(&mut head)?;
    let mut tail = Vec::with_capacity(EDGE as usize);
    f.seek(SeekFrom::Start(len.saturating_sub(EDGE)))?;
    f.take(EDGE).read_to_end(&mut tail)?;
    Ok(format!(
        "{} ({len} bytes, modified {}.{:09}, head {:016x}, tail {:016x})",
        path.display(),
        modified / 1_000_000_000,
        modified % 1_000_000_000,
        xxhash_rust::xxh3::xxh3_64(&head),
        xxhash_rust::xxh3::xxh3_64(&tail)
    ))
}

/// Where the first line that starts at or after `start` (> 0) begins: just past the first
/// line ending (`\n`, `\r\n` or `\r`, as [`LineReader`] reads them) at or after byte
/// `start - 1`. That ending closes the line that began before the range (belonging to, and
/// counted by, the previous range, however long), or is the one `start` follows. `None` if
/// no ending comes before `end`: no line starts in the range. Read in 64 KiB pieces; a
/// byte at a time once cost a million reads for a tail of `--max-line`.
fn first_line_start(file: &mut File, start: u64, end: u64) -> std::io::Result<Option<u64>> {
    let mut at = start - 1;
    file.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut read = |buf: &mut [u8]| loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    };
    loop {
        let n = read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        let Some(i) = memchr::memchr2(b'\n', b'\r', &buf[..n]) else {
            at += n as u64;
            if at >= end {
                return Ok(None); // the range lies inside one line: none starts in it
            }
            continue;
        };
        let next = at + i as u64 + 1;
        if buf[i] == b'\n' {
            return Ok(Some(next));
        }
        // A `\r`: with a `\n` after it, one ending of two bytes.
        let lf = match buf[i + 1..n].first() {
            Some(&b) => b == b'\n',
            None => read(&mut buf[..1])? == 1 && buf[0] == b'\n',
        };
        return Ok(Some(next + u64::from(lf)));
    }
}

impl Partition for FilePartition {
    fn holds_watermark(&self) -> bool {
        self.reader.is_some()
    }

    fn identity(&self) -> Option<String> {
        Some(self.identity.clone())
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        // A saved position past the range end is where the last line that started in the
        // range ended (it straddled the end): the range is done. Past the file's end it is
        // no position of this file.
        if pos < self.start || (pos > self.end && pos > self.len) {
            return Err(format!(
                "position {pos} is outside this worker's byte range {}..{} of {} (was the file \
                 changed?)",
                self.start,
                self.end,
                self.path.display()
            ));
        }
        if pos >= self.end {
            self.reader = None;
            return Ok(());
        }
        let err = |e: std::io::Error| format!("cannot read {}: {e}", self.path.display());
        let mut file = File::open(&self.path).map_err(err)?;
        // A line that a read cut after its `\r` was saved as ending there: its `\n` is the
        // rest of that ending, not an empty line (a resumed `\r\n` file read one).
        let mut pos = pos;
        if pos > 0 {
            let mut two = [0u8; 2];
            file.seek(SeekFrom::Start(pos - 1)).map_err(err)?;
            if file.read(&mut two).map_err(err)? == 2 && two == *b"\r\n" {
                pos += 1;
            }
        }
        file.seek(SeekFrom::Start(pos)).map_err(err)?;
        self.reader = Some(LineReader::with_offset(file, self.ctx.max_line, pos));
        self.counted_long = 0;
        Ok(())
    }

    fn poll(&mut self) -> Poll {
        let Some(r) = self.reader.as_mut() else {
            return Poll::Done;
        };
        if self.ctx.stopping() || r.next_line_offset() >= self.end {
            self.reader = None;
            return Poll::Done;
        }
        let before = r.next_line_offset();
        let step = r.read_chunk();
        self.ctx.metrics.skip_n(
            crate::metrics::Skip::LineTooLong,
            r.too_long - self.counted_long,
        );
        self.counted_long = r.too_long;
        match step {
            Ok(Step::Lines(mut c)) => {
                // Keep only the lines that start before the range end (the chunk's data
                // starts at stream offset `before`).
                let end = self.end;
                let keep = c
                    .lines
                    .iter()
                    .take_while(|&&(s, _)| before + (s as u64) < end)
                    .count();
                // Where each kept line ends in the file: where the next one starts (the chunk's
                // data ends right after its last line's ending).
                let next = c
                    .lines
                    .iter()
                    .skip(1)
                    .map(|&(s, _)| s)
                    .chain([c.data.len()]);
                c.positions = next.take(keep).map(|s| before + s as u64).collect();
                c.lines.truncate(keep);
                Poll::Lines(c)
            }
            Ok(Step::Idle) => Poll::Idle,
            Ok(Step::Eof) => {
                // The end came before the range's: the file shrank while it was read (a log
                // truncated in place, a file rewritten). The lines past it are not read, and
                // the results would look complete: the run fails instead. A file whose size
                // says more than it holds (sysfs says 4096) has not shrunk: it is read as is.
                let at = r.next_line_offset();
                let shrank = r.get_ref().metadata().is_ok_and(|m| m.len() < self.end);
                if at < self.end && shrank {
                    self.ctx.fail(format!(
                        "{} ended at byte {at} while being read, though it had {} bytes when \
                         opened (truncated or rewritten?): the lines after were not read",
                        self.path.display(),
                        self.len
                    ));
                }
                self.reader = None;
                Poll::Done
            }
            Err(e) => {
                // Results without the rest of the file would look complete: the run fails.
                self.ctx
                    .fail(format!("cannot read {}: {e}", self.path.display()));
                self.reader = None;
                Poll::Done
            }
        }
    }
}

/// True when `path` (after symlinks) is neither a regular file nor a directory: a FIFO, a
/// character device such as `/dev/zero` or a terminal, a block device, a Unix socket. Such a
/// file has no size to split into byte ranges and cannot be read twice: it is a stream.
/// (A path that cannot be looked at is not one: opening it as a file reports the error.)
pub fn is_stream(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The counters' name of a file source.
pub fn name(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Reads a file that is a stream to its end, on one thread, dealing lines to the workers
/// like standard input. It is opened here, not before: opening a FIFO waits for its writer.
pub fn read_stream(path: &Path, deal: &mut Dealer, ctx: &SourceContext) {
    let counters = ctx.metrics.source(&name(path));
    let input: Box<dyn Read + Send> = match open_stream(path) {
        Ok(r) => r,
        Err(e) => return ctx.fail(format!("cannot read {}: {e}", path.display())),
    };
    let _open = counters.connection();
    pump(input, &path.display().to_string(), deal, ctx, &counters);
}

/// A stream file, opened for reading: a Unix socket is connected to, anything else opened.
fn open_stream(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::metadata(path)?.file_type().is_socket() {
            return Ok(Box::new(std::os::unix::net::UnixStream::connect(path)?));
        }
    }
    let file = File::open(path)?;
    grow_pipe(&file);
    Ok(Box::new(file))
}

/// The size a pipe read as a source is grown to: Linux's default most for a user
/// (`/proc/sys/fs/pipe-max-size`).
#[cfg(target_os = "linux")]
const PIPE_BYTES: usize = 1 << 20;

/// Grows the pipe `fd` reads (standard input after `cmd |`, a FIFO) to [`PIPE_BYTES`] if it
/// is one and smaller. A pipe holds 64 KiB by default: the writer and this reader then take
/// turns every 64 KiB, and 1M lines piped from `cat` took 40% longer. Anything that is not a
/// pipe, or a size refused (a lower most, the user's quota of pipe memory), is left as it is.
#[cfg(target_os = "linux")]
fn grow_pipe(fd: impl std::os::fd::AsFd) {
    use rustix::pipe::{fcntl_getpipe_size, fcntl_setpipe_size};
    if fcntl_getpipe_size(&fd).is_ok_and(|n| n < PIPE_BYTES) {
        let _ = fcntl_setpipe_size(&fd, PIPE_BYTES);
    }
}

#[cfg(not(target_os = "linux"))]
fn grow_pipe<T>(_fd: T) {}

/// Reads standard input to its end, dealing lines to the workers.
pub fn read_stdin(deal: &mut Dealer, ctx: &SourceContext) {
    let counters = ctx.metrics.source("stdin");
    let _open = counters.connection();
    let stdin = std::io::stdin();
    grow_pipe(&stdin);
    pump(stdin.lock(), "stdin", deal, ctx, &counters);
}

/// Reads `input` to its end (or shutdown), dealing its lines and counting them; a line longer
/// than `--max-line` is skipped and counted without being held.
fn pump(
    input: impl Read,
    what: &str,
    deal: &mut Dealer,
    ctx: &SourceContext,
    counters: &SourceCounters,
) {
    let mut r = LineReader::new(input, ctx.max_line);
    let mut counted = 0;
    loop {
        let step = r.read_chunk();
        ctx.metrics
            .skip_n(crate::metrics::Skip::LineTooLong, r.too_long - counted);
        counted = r.too_long;
        match step {
            Ok(Step::Lines(c)) => {
                counters.records.fetch_add(c.len() as u64, Relaxed);
                if !deal.deal(c) {
                    return;
                }
            }
            Ok(Step::Idle) => {}
            Ok(Step::Eof) => return,
            Err(e) => {
                crate::log::warn(format_args!("{what}: {e}"));
                return;
            }
        }
        if ctx.stopping() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A temp file of this process for the test named `name`: each test has its own, as the
    /// tests run side by side.
    fn temp_file(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tagstream-unit-{name}-{}", std::process::id()))
    }

    /// A pipe read as a source is grown to 1 MiB (as far as the system allows), and its
    /// bytes come through whole; a regular file is left alone.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_read_is_grown() {
        use rustix::pipe::fcntl_getpipe_size;
        let (reader, mut writer) = std::io::pipe().unwrap();
        let before = fcntl_getpipe_size(&reader).unwrap();
        grow_pipe(&reader);
        let most: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let after = fcntl_getpipe_size(&reader).unwrap();
        if most >= PIPE_BYTES {
            assert_eq!(after, PIPE_BYTES);
        } else {
            assert!(after >= before, "shrunk from {before} to {after}");
        }
        // A writer of a grown pipe may write that much before any read.
        let lines = "#a b\n".repeat(after / 5);
        std::io::Write::write_all(&mut writer, lines.as_bytes()).unwrap();
        drop(writer);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut &reader, &mut got).unwrap();
        assert_eq!(got, lines);
        let path = temp_file("grow-pipe");
        std::fs::write(&path, "#a\n").unwrap();
        grow_pipe(File::open(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
    }

    /// A context whose lines may be `max_line` bytes long.
    fn context(max_line: usize) -> SourceContext {
        let mut ctx = SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        ctx.max_line = max_line;
        ctx
    }

    /// The lines `p` reads until it is done, as text.
    fn lines_of(p: &mut FilePartition) -> Vec<String> {
        let mut lines = Vec::new();
        while let Poll::Lines(c) = p.poll() {
            lines.extend(c.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
        }
        lines
    }

    /// The lines of `path` split into `peers` ranges, read range after range.
    fn split(path: &Path, peers: usize, ctx: &SourceContext) -> Vec<String> {
        (0..peers)
            .flat_map(|index| lines_of(&mut FilePartition::open(path, index, peers, ctx).unwrap()))
            .collect()
    }

    /// A range whose last line straddles its end saves the end of that line: restoring it
    /// finds the range done (found by the damaged-checkpoint test under CI timing). Positions
    /// before the range or past the file's end are refused.
    #[test]
    fn a_position_past_the_range_end_inside_the_file_is_done() {
        let path = temp_file("seek");
        std::fs::write(&path, "aaaa\nbbbbbbbbbb\ncc\n").unwrap();
        let ctx = SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        // 19 bytes in 2 ranges: [0, 9) and [9, 19); "bbbbbbbbbb\n" starts in the first.
        let mut p = FilePartition::open(&path, 0, 2, &ctx).unwrap();
        let mut positions = Vec::new();
        while let Poll::Lines(c) = p.poll() {
            positions.extend(c.positions);
        }
        assert_eq!(positions, [5, 16]);
        let mut restored = FilePartition::open(&path, 0, 2, &ctx).unwrap();
        assert_eq!(restored.seek(16), Ok(()));
        assert!(matches!(restored.poll(), Poll::Done));
        let mut second = FilePartition::open(&path, 1, 2, &ctx).unwrap();
        assert!(second.seek(5).unwrap_err().contains("outside"));
        assert!(restored.seek(20).unwrap_err().contains("outside"));
        std::fs::remove_file(&path).unwrap();
    }

    /// A line too long to keep that straddles the start of a range is the previous range's
    /// (read and counted there); the next range starts at the line after it. It once dropped
    /// that line too, counted nowhere.
    #[test]
    fn a_too_long_line_across_a_range_start_costs_no_other_line() {
        let path = temp_file("long");
        let long = "L".repeat(100);
        // 6 + 101 + 6 + 6 bytes: the second range starts at byte 59, inside the long line.
        std::fs::write(&path, format!("first\n{long}\nafter\nlast!\n")).unwrap();
        let ctx = context(16);
        assert_eq!(split(&path, 2, &ctx), ["first", "after", "last!"]);
        let skipped = ctx.metrics.skipped(crate::metrics::Skip::LineTooLong);
        assert_eq!(skipped, 1);
        std::fs::remove_file(&path).unwrap();
    }

    /// Lines longer than one read of the search for a range's first line (64 KiB), empty
    /// lines and a last line without an ending: split among any number of ranges, every line
    /// is read exactly once, in order.
    #[test]
    fn any_split_reads_every_line_once_across_long_lines() {
        let path = temp_file("split");
        let want: Vec<String> = vec![
            "a".into(),
            "b".repeat(200_000),
            String::new(),
            "c".into(),
            "d".repeat(70_000),
            "e".repeat(65_535),
            String::new(),
            "last".into(),
        ];
        std::fs::write(&path, want.join("\n")).unwrap();
        let ctx = context(1 << 20);
        for peers in [1, 2, 3, 4, 7, 64, 1000] {
            let lines = split(&path, peers, &ctx);
            assert!(lines == want, "{peers} ranges: {} lines", lines.len());
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// Every ending the reader knows (`\n`, `\r\n`, a bare `\r`) and empty lines, in files
    /// split into 1 to len + 1 ranges (so a range starts at every byte, next to every kind of
    /// ending): each line read exactly once. Ranges once looked for `\n` alone, and a file of
    /// `\r` endings lost every line past the first range.
    #[test]
    fn ranges_starting_at_any_byte_agree_with_every_line_ending() {
        let path = temp_file("cr");
        let ctx = context(1 << 20);
        let want = ["a", "", "bb", "", "c", "dd", "", "e", "ff"];
        for ends in [
            ["\r", "\r", "\r"],
            ["\r\n", "\n", "\r"],
            ["\n", "\r\n", "\r\n"],
        ] {
            for last in [true, false] {
                let mut text: String = (want.iter().enumerate())
                    .map(|(i, l)| format!("{l}{}", ends[i % 3]))
                    .collect();
                if !last {
                    text.truncate(text.trim_end_matches(['\r', '\n']).len());
                }
                std::fs::write(&path, &text).unwrap();
                for peers in 1..=text.len() + 1 {
                    let lines = split(&path, peers, &ctx);
                    assert!(lines == want, "{text:?} in {peers} ranges: {lines:?}");
                }
            }
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// A `\r\n` whose `\r` is the last byte of the first 64 KiB the search for a range's
    /// first line reads: the `\n` is read on its own and is part of that ending.
    #[test]
    fn a_crlf_across_the_search_s_first_read_is_one_ending() {
        let path = temp_file("crlf");
        // 131,092 bytes: range 1 starts at 65,546; its search reads 65,545..=131,080, whose
        // last byte is the `\r`.
        let long = "a".repeat(131_080);
        std::fs::write(&path, format!("{long}\r\nbbbbbbbb\r\n")).unwrap();
        let lines = split(&path, 2, &context(1 << 20));
        assert!(
            lines == [long, "bbbbbbbb".to_owned()],
            "{} lines",
            lines.len()
        );
        std::fs::remove_file(&path).unwrap();
    }

    /// A resume at a position saved just after a `\r` whose `\n` came in the next read
    /// starts after the `\n`: it read an empty line, one record more than a run never
    /// stopped.
    #[test]
    fn a_resume_between_cr_and_lf_reads_no_empty_line() {
        // Not the other seek test's file: the tests run side by side.
        let path = temp_file("seek-crlf");
        std::fs::write(&path, "ab\r\ncd\r\nef\r\n").unwrap();
        let ctx = context(1 << 20);
        for (pos, want) in [
            (3, &["cd", "ef"][..]),
            (4, &["cd", "ef"][..]),
            (8, &["ef"][..]),
        ] {
            let mut p = FilePartition::open(&path, 0, 1, &ctx).unwrap();
            p.seek(pos).unwrap();
            assert_eq!(lines_of(&mut p), want, "at {pos}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// A file that shrinks while it is read fails the run in one line (it ended with exit 0
    /// and results that looked complete); one read to its end does not.
    #[test]
    fn a_file_truncated_while_read_fails_the_run() {
        let path = temp_file("trunc");
        let line = "x #tag\n".repeat(1 << 20); // 7 MiB: more than one read
        std::fs::write(&path, &line).unwrap();
        let ctx = SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        let mut whole = FilePartition::open(&path, 0, 1, &ctx).unwrap();
        while let Poll::Lines(_) = whole.poll() {}
        assert_eq!(ctx.failure(), None);
        let mut p = FilePartition::open(&path, 0, 1, &ctx).unwrap();
        assert!(matches!(p.poll(), Poll::Lines(_)));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(2 << 20)
            .unwrap();
        while let Poll::Lines(_) = p.poll() {}
        let e = ctx.failure().expect("the run fails");
        assert!(
            e.contains("ended at byte 2097152") && e.contains("7340032 bytes when opened"),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
