//! The binary format of checkpoints (issue 6), shared by [`crate::Shard`] and
//! [`crate::Merger`]: compact, versioned, deterministic, and read without trusting a byte.
//!
//! ```text
//! magic     4 bytes   "TSws" (shard) or "TSwm" (merger)
//! version   1 byte    4
//! length    8 bytes   of the body, little-endian
//! body                unsigned LEB128 varints and length-prefixed byte strings
//! checksum  8 bytes   XXH3-64 of everything before it, little-endian
//! ```
//!
//! Every body starts with the window shape (window, slide, batch in ms) and the parameters
//! that change the output (k, …), so that a checkpoint is refused by a run with another
//! shape. The reader checks the header, the length and the checksum before the body, bounds
//! every count by the bytes left (a corrupt count cannot make it allocate), and reports each
//! problem as one line naming it.

use std::fmt;

use crate::{Compact, WindowSpec};

/// The format version written, and the only one read. 2: panes carry their floor and
/// dropped occurrences and shards their bound (issue 15), shards their trends (issue 14).
/// 3: author pairs are bounded samples, each set with its level (`crate::authors`).
/// 4: the merger notes whether the window before its next held data (gaps skipped).
const VERSION: u8 = 4;
/// Magic, version and body length.
const HEADER: usize = 4 + 1 + 8;
/// The checksum.
const TRAILER: usize = 8;

/// What a checkpoint holds: a shard's state or the merger's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kind {
    magic: [u8; 4],
    name: &'static str,
}

/// A [`crate::Shard`]'s checkpoint.
pub(crate) const SHARD: Kind = Kind {
    magic: *b"TSws",
    name: "shard",
};

/// A [`crate::Merger`]'s checkpoint.
pub(crate) const MERGER: Kind = Kind {
    magic: *b"TSwm",
    name: "merger",
};

fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Appends one checkpoint to a buffer.
pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Writer<'a> {
    /// Writes the header of a `kind` checkpoint, then the window shape.
    pub(crate) fn begin(out: &'a mut Vec<u8>, kind: Kind, spec: &WindowSpec) -> Self {
        let start = out.len();
        out.extend_from_slice(&kind.magic);
        out.push(VERSION);
        out.extend_from_slice(&[0; 8]); // the body length, set by `finish`
        let mut w = Writer { out, start };
        for ms in [spec.window_ms(), spec.slide_ms(), spec.batch_ms()] {
            w.u64(ms);
        }
        w
    }

    /// An unsigned LEB128 varint: 7 bits a byte, low bits first.
    pub(crate) fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    pub(crate) fn bool(&mut self, b: bool) {
        self.out.push(u8::from(b));
    }

    /// A length, then the bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    pub(crate) fn option(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u64(v);
        }
    }

    /// Sets the body length and appends the checksum.
    pub(crate) fn finish(self) {
        let body = (self.out.len() - self.start - HEADER) as u64;
        self.out[self.start + 5..self.start + HEADER].copy_from_slice(&body.to_le_bytes());
        let sum = checksum(&self.out[self.start..]);
        self.out.extend_from_slice(&sum.to_le_bytes());
    }
}

/// Reads the body of one checkpoint. Every method returns `Err` with a one-line message on
/// bytes that do not fit; none panics.
pub(crate) struct Reader<'a> {
    kind: Kind,
    body: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the magic, the version, the length and the checksum of a `kind` checkpoint,
    /// then that it was made for the window shape `spec`.
    pub(crate) fn open(bytes: &'a [u8], kind: Kind, spec: &WindowSpec) -> Result<Self, String> {
        let what = kind.name;
        let truncated = |want: u64| {
            format!(
                "{what} checkpoint is truncated: {} of {want} bytes",
                bytes.len()
            )
        };
        let magic = &bytes[..bytes.len().min(4)];
        if magic != &kind.magic[..magic.len()] {
            let other = [SHARD, MERGER].into_iter().find(|k| k.magic == magic);
            return Err(match other {
                Some(other) => format!(
                    "this is a {} checkpoint, not a {what} checkpoint",
                    other.name
                ),
                None => format!("not a tagstream {what} checkpoint (bad magic bytes)"),
            });
        }
        if bytes.len() < HEADER {
            return Err(truncated((HEADER + TRAILER) as u64));
        }
        if bytes[4] != VERSION {
            return Err(format!(
                "{what} checkpoint has format version {}; this build reads version {VERSION}",
                bytes[4]
            ));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[5..HEADER]);
        let body = u64::from_le_bytes(len);
        let want = body.saturating_add((HEADER + TRAILER) as u64);
        let have = bytes.len() as u64;
        if have < want {
            return Err(truncated(want));
        }
        if have > want {
            return Err(format!(
                "{what} checkpoint has {} bytes after its end",
                have - want
            ));
        }
        let (content, sum) = bytes.split_at(bytes.len() - TRAILER);
        let mut stored = [0u8; 8];
        stored.copy_from_slice(sum);
        if checksum(content) != u64::from_le_bytes(stored) {
            return Err(format!("{what} checkpoint is corrupt (checksum mismatch)"));
        }
        let mut r = Reader {
            kind,
            body: &content[HEADER..],
            pos: 0,
        };
        let (window, slide, batch) = (r.u64()?, r.u64()?, r.u64()?);
        if (window, slide, batch) != (spec.window_ms(), spec.slide_ms(), spec.batch_ms()) {
            return Err(format!(
                "{what} checkpoint has window {}/{}/{}, this run {}/{}/{} (window/slide/batch)",
                Compact(window),
                Compact(slide),
                Compact(batch),
                Compact(spec.window_ms()),
                Compact(spec.slide_ms()),
                Compact(spec.batch_ms()),
            ));
        }
        Ok(r)
    }

    /// An error about a checkpoint whose checksum holds but whose content does not fit
    /// together: written by something else, or by a bug.
    pub(crate) fn bad(&self, what: impl fmt::Display) -> String {
        format!("{} checkpoint is inconsistent: {what}", self.kind.name)
    }

    /// Reads the next pane of a list in ascending order (after `prev`) that must be in an open
    /// window of a state whose next window is `cur`; `what` names the list's panes.
    pub(crate) fn open_pane(
        &mut self,
        what: &str,
        prev: Option<u64>,
        cur: u64,
        spec: &WindowSpec,
    ) -> Result<u64, String> {
        let pane = self.u64()?;
        let lo = cur.saturating_sub(spec.window_panes());
        if prev.is_some_and(|p| pane <= p) || pane < lo || !spec.holds(pane) {
            return Err(self.bad(format_args!(
                "{what} {pane} is out of order or in no open window (next window {cur})"
            )));
        }
        Ok(pane)
    }

    fn next(&mut self) -> Result<u8, String> {
        let b = self
            .body
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.bad("its body ends early"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.next()?;
            if shift == 63 && b > 1 {
                return Err(self.bad("a number does not fit in 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        unreachable!("the tenth byte either ends the number or is refused")
    }

    pub(crate) fn bool(&mut self) -> Result<bool, String> {
        match self.next()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.bad(format_args!("{b} is not a boolean"))),
        }
    }

    pub(crate) fn option(&mut self) -> Result<Option<u64>, String> {
        Ok(if self.bool()? {
            Some(self.u64()?)
        } else {
            None
        })
    }

    /// A length-prefixed byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u64()?;
        let rest = (self.body.len() - self.pos) as u64;
        if len > rest {
            return Err(self.bad("a string runs past the end"));
        }
        let b = &self.body[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(b)
    }

    /// A number of items of at least `min_bytes` bytes each: refused if the bytes left
    /// cannot hold them, so that it is safe to allocate for.
    pub(crate) fn count(&mut self, min_bytes: usize) -> Result<usize, String> {
        let n = self.u64()?;
        let rest = (self.body.len() - self.pos) / min_bytes.max(1);
        if n > rest as u64 {
            return Err(self.bad(format_args!("a count of {n} runs past the end")));
        }
        Ok(n as usize)
    }

    /// A parameter that must be the same as this run's (k, the counts limit).
    pub(crate) fn param(&mut self, name: &str, this_run: usize) -> Result<(), String> {
        let v = self.u64()?;
        if v != this_run as u64 {
            return Err(format!(
                "{} checkpoint has {name} {v}, this run {this_run}",
                self.kind.name
            ));
        }
        Ok(())
    }

    /// Checks that the whole body was read.
    pub(crate) fn finish(self) -> Result<(), String> {
        if self.pos != self.body.len() {
            return Err(self.bad(format_args!(
                "{} bytes are left over",
                self.body.len() - self.pos
            )));
        }
        Ok(())
    }
}

/// Sets the length and checksum of a checkpoint whose body was changed (tests only): the
/// reader then gets past the checksum, into the body's own checks.
#[cfg(test)]
pub(crate) fn reseal(bytes: &mut Vec<u8>) {
    if bytes.len() < HEADER + TRAILER {
        return;
    }
    bytes.truncate(bytes.len() - TRAILER);
    let body = (bytes.len() - HEADER) as u64;
    bytes[5..HEADER].copy_from_slice(&body.to_le_bytes());
    let sum = checksum(bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
}

/// Asserts that `refused` holds for every single-bit flip of `bytes` (tests only).
#[cfg(test)]
pub(crate) fn assert_every_bit_flip_refused(bytes: &[u8], refused: impl Fn(&[u8]) -> bool) {
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(refused(&flipped), "bit {bit}");
    }
}

/// Changes a checkpoint's body behind a valid checksum (tests only): each `(at, byte)` writes
/// `byte` at `at` within the body, then optionally cuts the body at `cut`, and reseals.
#[cfg(test)]
pub(crate) fn damage(
    bytes: &mut Vec<u8>,
    changes: &[(proptest::sample::Index, u8)],
    cut: proptest::sample::Index,
    truncate: bool,
) {
    let body = HEADER..bytes.len() - TRAILER;
    for (at, byte) in changes {
        bytes[body.start + at.index(body.len())] = *byte;
    }
    if truncate {
        bytes.truncate(body.start + cut.index(body.len()));
        bytes.extend_from_slice(&[0; TRAILER]);
    }
    reseal(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WindowSpec {
        WindowSpec::new(10_000, 60_000, 10_000).unwrap()
    }

    fn sample() -> Vec<u8> {
        let mut out = vec![0xAA]; // a checkpoint may be appended after other bytes
        let mut w = Writer::begin(&mut out, SHARD, &spec());
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            w.u64(v);
        }
        w.bytes(b"tag");
        w.option(None);
        w.option(Some(5));
        w.finish();
        out.remove(0);
        out
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let mut r = Reader::open(&bytes, SHARD, &spec()).unwrap();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.u64().unwrap(), v);
        }
        assert_eq!(r.bytes().unwrap(), b"tag");
        assert_eq!((r.option().unwrap(), r.option().unwrap()), (None, Some(5)));
        r.finish().unwrap();
    }

    #[test]
    fn errors_name_the_problem() {
        let bytes = sample();
        let err = |b: &[u8]| Reader::open(b, SHARD, &spec()).err().unwrap();
        assert_eq!(
            err(&bytes[..10]),
            "shard checkpoint is truncated: 10 of 21 bytes"
        );
        assert_eq!(
            err(&bytes[..bytes.len() - 1]),
            format!(
                "shard checkpoint is truncated: {} of {} bytes",
                bytes.len() - 1,
                bytes.len()
            )
        );
        assert_eq!(err(b""), "shard checkpoint is truncated: 0 of 21 bytes");
        assert_eq!(
            err(b"{\"json\": 1}"),
            "not a tagstream shard checkpoint (bad magic bytes)"
        );
        assert_eq!(
            Reader::open(&bytes, MERGER, &spec()).err().unwrap(),
            "this is a shard checkpoint, not a merger checkpoint"
        );
        let mut v1 = bytes.clone();
        v1[4] = 1;
        assert_eq!(
            err(&v1),
            "shard checkpoint has format version 1; this build reads version 4"
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(err(&longer), "shard checkpoint has 1 bytes after its end");
        let mut flipped = bytes.clone();
        flipped[20] ^= 4;
        assert_eq!(
            err(&flipped),
            "shard checkpoint is corrupt (checksum mismatch)"
        );
        let other = WindowSpec::new(10_000, 30_000, 10_000).unwrap();
        assert_eq!(
            Reader::open(&bytes, SHARD, &other).err().unwrap(),
            "shard checkpoint has window 1m/10s/10s, this run 30s/10s/10s (window/slide/batch)"
        );
    }

    #[test]
    fn body_checks() {
        let open = |body: &[u8]| {
            let mut out = Vec::new();
            let w = Writer::begin(&mut out, MERGER, &spec());
            w.finish();
            out.truncate(out.len() - TRAILER);
            out.extend_from_slice(body);
            out.extend_from_slice(&[0; TRAILER]);
            reseal(&mut out);
            out
        };
        let bytes = open(&[0xff; 10]);
        let mut r = Reader::open(&bytes, MERGER, &spec()).unwrap();
        assert_eq!(
            r.u64().unwrap_err(),
            "merger checkpoint is inconsistent: a number does not fit in 64 bits"
        );
        let bytes = open(&[5, 1, 2]);
        let mut r = Reader::open(&bytes, MERGER, &spec()).unwrap();
        assert_eq!(
            r.count(1).unwrap_err(),
            "merger checkpoint is inconsistent: a count of 5 runs past the end"
        );
        let bytes = open(&[2, 7]);
        let mut r = Reader::open(&bytes, MERGER, &spec()).unwrap();
        assert_eq!(
            r.param("k", 3).unwrap_err(),
            "merger checkpoint has k 2, this run 3"
        );
        assert_eq!(
            r.bool().unwrap_err(),
            "merger checkpoint is inconsistent: 7 is not a boolean"
        );
        assert_eq!(
            r.u64().unwrap_err(),
            "merger checkpoint is inconsistent: its body ends early"
        );
        let bytes = open(&[9, b'x']);
        let mut r = Reader::open(&bytes, MERGER, &spec()).unwrap();
        assert_eq!(
            r.bytes().unwrap_err(),
            "merger checkpoint is inconsistent: a string runs past the end"
        );
        let bytes = open(&[1]);
        let r = Reader::open(&bytes, MERGER, &spec()).unwrap();
        assert_eq!(
            r.finish().unwrap_err(),
            "merger checkpoint is inconsistent: 1 bytes are left over"
        );
    }
}
