//! `sources::lines::LineReader`, the line framing of files, stdin, sockets and the X stream,
//! fed by reads that end anywhere (and by empty "would block" reads).
//!
//! Properties, for several read sizes and line limits:
//! - the lines are those of the obvious whole-input splitter ([`crate::model::lines`]), less
//!   the ones longer than the limit, which are counted in `too_long`, once each;
//! - at the end, `next_line_offset()` is the input's length (a checkpoint resumes there);
//! - a chunk never holds more than twice the bytes of its lines;
//! - the reader holds at most about the limit plus one read, however long a line is.

use std::io::{self, Read};

use tagstream::sources::lines::{LineReader, Step};

use crate::meter;
use crate::model;
use crate::pieces::pieces;

/// A reader giving one piece per read; an empty piece is a read that would block.
struct Pieces<'a> {
    pieces: std::vec::IntoIter<&'a [u8]>,
    cur: &'a [u8],
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.cur.is_empty() {
            match self.pieces.next() {
                None => return Ok(0),
                Some([]) => return Err(io::ErrorKind::WouldBlock.into()),
                Some(p) => self.cur = p,
            }
        }
        let n = self.cur.len().min(out.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur = &self.cur[n..];
        Ok(n)
    }
}

/// Reads `data` cut by `salt` with `LineReader` (reads of `read_size`, lines of at most
/// `max_line`): the lines and the count of those too long. Checks the reader's own bounds.
pub fn read_all(data: &[u8], salt: u64, read_size: usize, max_line: usize) -> (Vec<Vec<u8>>, u64) {
    let cut = pieces(data, salt);
    let reads = cut.len();
    let input = Pieces {
        pieces: cut.into_iter(),
        cur: &[],
    };
    let mut r = LineReader::new(input, max_line);
    r.set_read_size(read_size);
    let mut lines = Vec::new();
    let mut idle = 0;
    loop {
        let (step, held) = meter::peak(|| r.read_chunk().expect("reads never fail here"));
        // The read buffer (the unfinished line, at most the limit, and one read), a chunk
        // taking it along, and the chunk's line ranges (16 bytes a line of at least a byte,
        // doubled by growth): bounded by the limit and the read size, not by a line's length.
        let bound = 40 * (max_line + read_size) + 4096;
        assert!(
            held <= bound,
            "read_chunk held {held} bytes (bound {bound})"
        );
        match step {
            Step::Lines(c) => {
                assert!(
                    c.data.capacity() <= 2 * c.data.len(),
                    "a chunk of {} bytes of lines holds {}",
                    c.data.len(),
                    c.data.capacity()
                );
                lines.extend(c.iter().map(<[u8]>::to_vec));
            }
            Step::Idle => {
                idle += 1;
                assert!(idle <= reads, "more idle reads than empty reads");
            }
            Step::Eof => break,
        }
    }
    assert!(matches!(r.read_chunk(), Ok(Step::Eof)), "EOF is final");
    assert_eq!(r.next_line_offset(), data.len() as u64, "offset at the end");
    (lines, r.too_long)
}

/// The target.
pub fn run(data: &[u8]) {
    for (salt, read_size, max_line) in [(0, 1 << 16, 1 << 16), (1, 7, 5), (2, 64, 16), (3, 1, 1)] {
        let (got, too_long) = read_all(data, salt, read_size, max_line);
        let all = model::lines(data);
        let want: Vec<&[u8]> = all
            .iter()
            .copied()
            .filter(|l| l.len() <= max_line)
            .collect();
        assert_eq!(got, want, "lines (read size {read_size}, limit {max_line})");
        assert_eq!(
            too_long,
            (all.len() - want.len()) as u64,
            "lines too long (read size {read_size}, limit {max_line})"
        );
    }
}
