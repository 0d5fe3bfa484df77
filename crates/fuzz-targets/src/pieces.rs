//! Cuts an input into pieces the same way every time, so that targets of incremental parsers
//! (line readers, the SSE parser) see reads end anywhere: mid-line, mid-`\r\n`, mid-UTF-8,
//! and on empty reads. The cuts come from a generator seeded by the input itself, so a
//! mutation of the input also moves the cuts, and a crash reproduces from the input alone.

/// A small deterministic generator (xorshift64*), seeded by FNV-1a of the input.
pub struct Rng(u64);

impl Rng {
    /// Seeded by `data` and `salt` (so one input can be cut several ways).
    pub fn new(data: &[u8], salt: u64) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    /// The next number.
    pub fn u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.u64() % n as u64) as usize
        }
    }
}

/// `data` cut into pieces: mostly short ones (1–8 bytes, where boundaries bite), some long
/// ones, and some empty ones (an empty read, which a reader must treat as "nothing yet").
/// Joined, the pieces are `data`.
pub fn pieces(data: &[u8], salt: u64) -> Vec<&[u8]> {
    let mut rng = Rng::new(data, salt);
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = match rng.below(8) {
            0 => 0,
            1 => 1 + rng.below(256),
            _ => 1 + rng.below(8),
        }
        .min(rest.len());
        let (piece, tail) = rest.split_at(n);
        out.push(piece);
        rest = tail;
    }
    out
}
