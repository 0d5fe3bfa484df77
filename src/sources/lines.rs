//! Line framing shared by every line-based source (files, stdin, sockets).
//!
//! Lines end at `\n`, `\r\n` or `\r` (what Spark's `socketTextStream` accepts), a final line
//! without an ending still counts, and a line longer than the limit is dropped whole and
//! counted, without ever being held in memory.

use std::io::{self, ErrorKind, Read};

/// A run of complete lines read in one go: one buffer, many ranges into it.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The bytes the ranges point into; empty once [`Chunk::check_utf8`] made them text (read
    /// lines with [`Chunk::iter`] or [`Chunk::text_line`], which look in either).
    pub data: Vec<u8>,
    /// Each line's byte range in `data`, without its ending.
    pub lines: Vec<(usize, usize)>,
    /// For resumable sources, one per line: the source position just after that line (a file
    /// byte offset, a Kafka offset + 1), saved in checkpoints; empty for other sources.
    pub positions: Vec<u64>,
    /// For sources that stamp each line (a Kafka message timestamp), one per line: that time
    /// in ms since the epoch, used as the event time when the decoder finds none; else empty.
    pub times: Vec<u64>,
    /// For sources that know each line's author (the generator), one per line: the author's
    /// key (`record::author_key` of the name); else empty.
    pub authors: Vec<u64>,
    /// The bytes as text, once [`Chunk::check_utf8`] found all of them UTF-8: the ranges then
    /// point into it, and `data` is empty.
    text: Option<String>,
    /// Each line's counting keys, once [`Chunk::find_keys`] found them.
    keys: Option<Box<LineKeys>>,
}

/// Bytes of keys a chunk may carry whatever its size (see [`Chunk::find_keys`]).
const KEYS_SLACK: usize = 64 << 10;

/// Each line's counting keys, found on a source's reader thread ([`Chunk::find_keys`]) so
/// that the worker, the busier side, only counts them: with the tutorial's one worker on two
/// cores, finding and lower-casing the tags was a third of the worker's time, while the
/// reader thread was idle half of it.
#[derive(Debug)]
pub struct LineKeys {
    /// The rule they were found by.
    pub mode: hashtag::Mode,
    /// Every key, one after another.
    keys: String,
    /// Where each key ends in `keys`. A tag left out as too long has an empty key (a real
    /// key is never empty: it starts with `#`).
    ends: Vec<usize>,
    /// Where each line's keys end in `ends`.
    lines: Vec<usize>,
}

impl LineKeys {
    /// Keys of the given lines, made up (tests: to see which keys a worker counted).
    #[cfg(test)]
    pub(crate) fn made_up(mode: hashtag::Mode, lines: &[&[Option<&str>]]) -> LineKeys {
        let mut k = LineKeys {
            mode,
            keys: String::new(),
            ends: Vec::new(),
            lines: Vec::new(),
        };
        for line in lines {
            for key in *line {
                k.keys.push_str(key.unwrap_or_default());
                k.ends.push(k.keys.len());
            }
            k.lines.push(k.ends.len());
        }
        k
    }

    /// Lines with keys.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when it holds no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The keys of line `i`, in the order of its tags: `None` for one left out as too long
    /// ([`hashtag::KeyCache::bounded_key`]).
    pub fn line(&self, i: usize) -> impl Iterator<Item = Option<&str>> {
        let span = |v: &[usize], i: usize| (i.checked_sub(1).map_or(0, |p| v[p]), v[i]);
        let (from, to) = span(&self.lines, i);
        (from..to).map(move |k| {
            let (s, e) = span(&self.ends, k);
            self.keys.get(s..e).filter(|key| !key.is_empty())
        })
    }
}

/// A reader thread's share of its worker's work on text lines (`prefetch.rs`, `dealer.rs`):
/// it checks each chunk for UTF-8 whole ([`Chunk::check_utf8`]) and, with a rule to find keys
/// by, finds the lines' keys ([`Chunk::find_keys`]) while the worker is behind. Holds the
/// thread's own key cache.
pub struct KeyFinder {
    mode: Option<hashtag::Mode>,
    cache: hashtag::KeyCache,
    key: String,
}

impl KeyFinder {
    /// A finder by `mode` (`None`: it only checks UTF-8; the worker finds the keys).
    pub fn new(mode: Option<hashtag::Mode>) -> KeyFinder {
        KeyFinder {
            mode,
            cache: hashtag::KeyCache::default(),
            key: String::new(),
        }
    }

    /// Readies `chunk` for its worker: checked for UTF-8, and its keys found only if the
    /// worker is `behind` (it has a chunk waiting already), asked once the check is done.
    /// When it has none, this thread is the slower side, and the worker finds the keys of
    /// this chunk itself: so the two sides balance (each is about half of the work on the
    /// tutorial's one worker); finding every chunk's keys here made the reader the
    /// bottleneck.
    pub fn ready(&mut self, chunk: &mut Chunk, behind: impl FnOnce() -> bool) {
        chunk.check_utf8();
        if let Some(mode) = self.mode.filter(|_| behind()) {
            chunk.find_keys(mode, &mut self.cache, &mut self.key);
        }
    }
}

impl Chunk {
    /// The bytes the ranges point into.
    fn bytes(&self) -> &[u8] {
        self.text.as_ref().map_or(&self.data, |t| t.as_bytes())
    }

    /// The lines of this chunk, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let bytes = self.bytes();
        self.lines.iter().map(move |&(s, e)| &bytes[s..e])
    }

    /// Line `i` as text, if the whole chunk was checked ([`Chunk::check_utf8`]); else the
    /// line is only bytes, for the decoder to check.
    pub fn text_line(&self, i: usize) -> Option<&str> {
        let (s, e) = *self.lines.get(i)?;
        // Ranges start and end at line endings (ASCII) or the ends: char boundaries.
        self.text.as_deref()?.get(s..e)
    }

    /// Checks every byte for UTF-8 in one pass (a source's reader thread does it, so the
    /// worker need not check each line): when all of it is, the lines are text.
    pub fn check_utf8(&mut self) {
        if self.text.is_none() {
            match String::from_utf8(std::mem::take(&mut self.data)) {
                Ok(t) => self.text = Some(t),
                Err(e) => self.data = e.into_bytes(),
            }
        }
    }

    /// Finds each line's counting keys by `mode` ([`LineKeys`]), when the chunk is text
    /// ([`Chunk::check_utf8`]); `cache` and `key` are the calling thread's own.
    ///
    /// Keys that would take more memory than the chunk's own bytes (a line of `# # # …`, tags
    /// whose normal forms are long; beyond 64 KiB) are not kept: the worker finds
    /// those itself, and a queue of chunks holds no more than about twice their bytes.
    pub fn find_keys(
        &mut self,
        mode: hashtag::Mode,
        cache: &mut hashtag::KeyCache,
        key: &mut String,
    ) {
        self.keys = None;
        let Some(text) = self.text.as_deref() else {
            return;
        };
        let mut found = LineKeys {
            mode,
            keys: String::new(),
            ends: Vec::new(),
            lines: Vec::with_capacity(self.lines.len()),
        };
        for &(s, e) in &self.lines {
            // Ranges end at line endings or the ends (char boundaries): never missing.
            let Some(line) = text.get(s..e) else {
                return;
            };
            // Spark's rule jumps from '#' to '#' itself: the check would read the line twice.
            if mode == hashtag::Mode::Spark || !hashtag::has_no_sign(mode, line) {
                hashtag::for_each_tag(mode, line, |tag| {
                    if cache.bounded_key(mode, tag, key) {
                        found.keys.push_str(key);
                    }
                    found.ends.push(found.keys.len());
                });
            }
            found.lines.push(found.ends.len());
            if found.keys.len() + 8 * found.ends.len() > text.len().max(KEYS_SLACK) {
                return;
            }
        }
        self.keys = Some(Box::new(found));
    }

    /// The lines' counting keys, if [`Chunk::find_keys`] found them.
    pub fn keys(&self) -> Option<&LineKeys> {
        self.keys.as_deref()
    }

    /// Sets the lines' keys (tests).
    #[cfg(test)]
    pub(crate) fn set_keys(&mut self, keys: LineKeys) {
        self.keys = Some(Box::new(keys));
    }

    /// Appends one line (used by generated sources).
    pub fn push_line(&mut self, line: &[u8]) {
        self.keys = None;
        if let Some(t) = self.text.take() {
            self.data = t.into_bytes();
        }
        let start = self.data.len();
        self.data.extend_from_slice(line);
        self.lines.push((start, self.data.len()));
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when the chunk holds no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// What one call to [`LineReader::read_chunk`] found.
#[derive(Debug)]
pub enum Step {
    /// Some complete lines (possibly none, if a read ended mid-line).
    Lines(Chunk),
    /// The reader would block or timed out: no data now, try again.
    Idle,
    /// End of stream; the final partial line, if any, was returned before.
    Eof,
}

/// Splits a byte stream into lines, chunk by chunk.
///
/// Reads go into one buffer. A read that brings many lines hands the buffer itself to its
/// chunk; one that brings few (a slow socket) copies them out and keeps the buffer, so a
/// chunk never holds much more memory than its lines and a large read size costs nothing
/// on a slow stream.
pub struct LineReader<R> {
    inner: R,
    /// The read buffer: `buf[..pending]` is the current, unfinished line.
    buf: Vec<u8>,
    pending: usize,
    /// Lines in the previous chunk: the next chunk's line list is sized from it.
    last_lines: usize,
    max_line: usize,
    /// The previous chunk ended in `\r`: a `\n` right after it is part of that ending.
    skip_lf: bool,
    /// The current line has grown past `max_line`: drop bytes until its end.
    discarding: bool,
    /// Stream offset of the first byte of `buf`.
    offset: u64,
    /// Lines dropped for being too long.
    pub too_long: u64,
    eof: bool,
    read_size: usize,
}

impl<R: Read> LineReader<R> {
    /// A reader over `inner` that drops lines longer than `max_line` bytes.
    pub fn new(inner: R, max_line: usize) -> Self {
        Self::with_offset(inner, max_line, 0)
    }

    /// Like [`LineReader::new`], for a stream whose first byte is at `offset` of a file.
    pub fn with_offset(inner: R, max_line: usize, offset: u64) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            pending: 0,
            last_lines: 0,
            max_line: max_line.max(1),
            skip_lf: false,
            discarding: false,
            offset,
            too_long: 0,
            eof: false,
            read_size: 1 << 20,
        }
    }

    /// Stream offset where the next line not yet returned starts.
    pub fn next_line_offset(&self) -> u64 {
        self.offset
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Sets how many bytes one read asks for (default 1 MiB).
    pub fn set_read_size(&mut self, n: usize) {
        self.read_size = n.max(1);
    }

    /// Reads once and returns the complete lines found so far.
    pub fn read_chunk(&mut self) -> io::Result<Step> {
        if self.eof {
            return Ok(Step::Eof);
        }
        let old = self.pending;
        let want = old + self.read_size;
        if self.buf.len() < want {
            self.buf.reserve_exact(want - self.buf.len());
            self.buf.resize(want, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[old..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Step::Idle);
                }
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
            if self.discarding {
                // A line too long to keep ends with the stream: its last bytes, held as
                // pending while under the limit again, are skipped too.
                self.offset += self.pending as u64;
                self.pending = 0;
            }
            return Ok(self.finish());
        }
        Ok(Step::Lines(self.split(old, old + n)))
    }

    /// End of stream: the unfinished line, if any, counts as a line.
    fn finish(&mut self) -> Step {
        let mut chunk = Chunk::default();
        if self.discarding {
            // Counted when it grew past the limit.
            self.discarding = false;
        } else if self.pending > 0 {
            let len = std::mem::take(&mut self.pending);
            chunk.data = self.buf[..len].to_vec();
            chunk.lines.push((0, len));
            self.offset += len as u64;
        }
        self.buf = Vec::new();
        if chunk.is_empty() {
            Step::Eof
        } else {
            Step::Lines(chunk)
        }
    }

    /// Splits `buf[..filled]` (whose bytes before `new_from` were scanned already and hold no
    /// ending): the complete lines leave as a chunk, the unfinished one moves to the front.
    fn split(&mut self, new_from: usize, filled: usize) -> Chunk {
        let buf = &self.buf[..filled];
        let mut lines = Vec::with_capacity(self.last_lines + self.last_lines / 8);
        let mut start = 0usize;
        let mut pos = new_from;
        if self.skip_lf && pos < buf.len() {
            self.skip_lf = false;
            if buf[pos] == b'\n' {
                // The `\n` of a `\r\n` split across two reads: the line ended at the `\r`, so
                // nothing is pending before it.
                start = pos + 1;
                pos += 1;
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', &buf[pos..]) {
            let end = pos + i;
            let mut next = end + 1;
            if buf[end] == b'\r' {
                match buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if self.discarding {
                // The end of a line counted when it grew past the limit.
                self.discarding = false;
            } else if end - start > self.max_line {
                self.too_long += 1;
            } else {
                lines.push((start, end));
            }
            start = next;
            pos = next;
        }
        // The complete lines leave as a chunk, the unfinished tail stays for the next read.
        // Lines that fill most of the buffer take it along (the tail moves to a new one);
        // fewer are copied out, so a chunk never holds a mostly empty buffer.
        let data = if start > 0 && 2 * start >= self.buf.capacity() {
            let mut fresh = vec![0; filled - start + self.read_size];
            fresh[..filled - start].copy_from_slice(&buf[start..]);
            let mut data = std::mem::replace(&mut self.buf, fresh);
            data.truncate(start);
            data
        } else {
            let data = buf[..start].to_vec();
            self.buf.copy_within(start..filled, 0);
            data
        };
        self.pending = filled - start;
        self.offset += start as u64;
        self.last_lines = lines.len();
        if self.pending > self.max_line {
            // Counted now, not at its end: a line may never end (`/dev/zero`), and its count
            // must show while it is being skipped.
            if !self.discarding {
                self.too_long += 1;
            }
            self.discarding = true;
            self.offset += self.pending as u64;
            self.pending = 0;
        }
        Chunk {
            data,
            lines,
            ..Chunk::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line's keys, in order, with `None` for a tag too long to count; none for a chunk
    /// that is not text, and none left after a line is pushed.
    #[test]
    fn keys_are_found_line_by_line() {
        let long = format!("#{}", "x".repeat(hashtag::MAX_KEY_BYTES));
        let mut c = Chunk::default();
        for line in [
            "#Rust, and #rust",
            "",
            "no tags",
            &format!("{long} #É"),
            "#",
        ] {
            c.push_line(line.as_bytes());
        }
        let (mut cache, mut key) = (hashtag::KeyCache::default(), String::new());
        c.find_keys(hashtag::Mode::Spark, &mut cache, &mut key);
        assert!(
            c.keys().is_none(),
            "found before the chunk was checked as text"
        );
        c.check_utf8();
        c.find_keys(hashtag::Mode::Spark, &mut cache, &mut key);
        let keys = c.keys().expect("a text chunk");
        let line = |i| keys.line(i).collect::<Vec<_>>();
        assert_eq!(line(0), [Some("#rust,"), Some("#rust")]);
        assert!(line(1).is_empty() && line(2).is_empty());
        assert_eq!(line(3), [None, Some("#é")]);
        assert_eq!(line(4), [Some("#")]);
        c.find_keys(hashtag::Mode::Hashtags, &mut cache, &mut key);
        let keys = c.keys().expect("a text chunk");
        assert_eq!(keys.mode, hashtag::Mode::Hashtags);
        assert_eq!(
            keys.line(0).collect::<Vec<_>>(),
            [Some("#rust"), Some("#rust")]
        );
        assert_eq!(keys.line(4).count(), 0);
        c.push_line(b"#more");
        assert!(
            c.keys().is_none(),
            "keys of fewer lines than the chunk holds"
        );
        // Keys bigger than the text (8 bytes of offset a tag besides the key) are not kept.
        let mut hashes = Chunk::default();
        hashes.push_line("# ".repeat(40_000).as_bytes());
        hashes.check_utf8();
        hashes.find_keys(hashtag::Mode::Spark, &mut cache, &mut key);
        assert!(hashes.keys().is_none());
    }

    /// A reader thread checks every chunk for UTF-8, and finds keys only for a worker that
    /// is behind, by its rule; without one (the worker finds them) it only checks.
    #[test]
    fn a_finder_finds_keys_only_for_a_worker_behind() {
        let chunk = |line: &[u8]| {
            let mut c = Chunk::default();
            c.push_line(line);
            c
        };
        let mut finder = KeyFinder::new(Some(hashtag::Mode::Hashtags));
        let mut idle = chunk(b"#Go home");
        finder.ready(&mut idle, || false);
        assert_eq!(idle.text_line(0), Some("#Go home"));
        assert!(
            idle.keys().is_none(),
            "found for a worker with nothing waiting"
        );
        let mut behind = chunk(b"#Go home");
        finder.ready(&mut behind, || true);
        let keys = behind.keys().expect("found for a worker behind");
        assert_eq!(keys.mode, hashtag::Mode::Hashtags);
        assert_eq!(keys.line(0).collect::<Vec<_>>(), [Some("#go")]);
        let mut bad = chunk(b"#go \xff");
        finder.ready(&mut bad, || true);
        assert!(bad.text_line(0).is_none() && bad.keys().is_none());
        let mut checks_only = KeyFinder::new(None);
        let mut c = chunk(b"#Go home");
        checks_only.ready(&mut c, || panic!("asked with no rule to find keys by"));
        assert!(c.text_line(0).is_some() && c.keys().is_none());
    }

    /// A reader that returns the given pieces one read at a time.
    struct Pieces(Vec<Vec<u8>>);
    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let p = self.0.remove(0);
            out[..p.len()].copy_from_slice(&p);
            Ok(p.len())
        }
    }

    fn lines_of(pieces: &[&[u8]], max: usize) -> (Vec<String>, u64) {
        let mut r = LineReader::new(Pieces(pieces.iter().map(|p| p.to_vec()).collect()), max);
        let mut out = Vec::new();
        loop {
            match r.read_chunk().unwrap() {
                Step::Lines(c) => {
                    out.extend(c.iter().map(|l| String::from_utf8_lossy(l).into_owned()))
                }
                Step::Idle => {}
                Step::Eof => break,
            }
        }
        (out, r.too_long)
    }

    #[test]
    fn every_ending_and_a_final_partial_line() {
        let (l, _) = lines_of(&[b"a\nb\r\nc\rd"], 100);
        assert_eq!(l, ["a", "b", "c", "d"]);
    }

    #[test]
    fn crlf_split_across_reads_is_one_ending() {
        let (l, _) = lines_of(&[b"a\r", b"\nb\r", b"c\n"], 100);
        assert_eq!(l, ["a", "b", "c"]);
    }

    #[test]
    fn empty_lines_are_kept() {
        let (l, _) = lines_of(&[b"\n\nx\n"], 100);
        assert_eq!(l, ["", "", "x"]);
    }

    /// Every read size, so that reads end mid-line, mid-`\r\n`, and just after an ending,
    /// and chunks both take the read buffer (full reads) and copy out of it (sparse ones).
    #[test]
    fn same_lines_whatever_the_read_size() {
        let text: &[u8] = b"first #a\r\nsecond\rthird #b #c\n\nlast line, no ending";
        let want = [
            "first #a",
            "second",
            "third #b #c",
            "",
            "last line, no ending",
        ];
        for size in 1..=text.len() + 1 {
            let mut r = LineReader::new(text, 100);
            r.set_read_size(size);
            let mut got = Vec::new();
            while let Step::Lines(c) = r.read_chunk().unwrap() {
                // A chunk holds at most about twice the memory of its lines.
                assert!(c.data.capacity() <= 2 * c.data.len(), "read size {size}");
                got.extend(c.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
            }
            assert_eq!(got, want, "read size {size}");
            assert_eq!(r.next_line_offset(), text.len() as u64);
        }
    }

    /// A line that never ends (`/dev/zero`) is counted as soon as it is too long, and the
    /// reader holds no more than the limit and one read.
    #[test]
    fn an_endless_line_is_counted_at_once_in_bounded_memory() {
        let mut r = LineReader::new(std::io::repeat(0), 1000);
        r.set_read_size(4096);
        for _ in 0..1000 {
            match r.read_chunk().unwrap() {
                Step::Lines(c) => assert!(c.is_empty()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(r.too_long, 1);
        assert!(
            r.buf.capacity() <= 2 * (1000 + 4096),
            "{}",
            r.buf.capacity()
        );
    }

    /// Found by the `lines` fuzz target (issue 13): a last line dropped for its length, whose
    /// tail came in a read shorter than the limit, left the offset short of the end.
    #[test]
    fn a_too_long_last_line_ends_at_the_end_of_the_stream() {
        let text: &[u8] = b"ok\nlast line, no ending";
        for size in 1..=text.len() {
            let mut r = LineReader::new(text, 5);
            r.set_read_size(size);
            while let Step::Lines(_) = r.read_chunk().unwrap() {}
            assert_eq!(r.next_line_offset(), text.len() as u64, "read size {size}");
            assert_eq!(r.too_long, 1, "read size {size}");
        }
    }

    #[test]
    fn long_lines_are_dropped_and_counted_without_buffering() {
        let long = vec![b'x'; 50];
        let (l, n) = lines_of(&[b"ok\n", &long, &long, b"\nafter\n", &long], 20);
        assert_eq!(l, ["ok", "after"]);
        assert_eq!(n, 2);
    }
}
