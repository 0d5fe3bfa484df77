//! `dataflow::checkpoint::WorkerState::decode`: a worker's checkpoint file.
//!
//! The file ends with a checksum, so most fuzzed bytes stop there; each input is therefore
//! also decoded "resealed" (its last 8 bytes replaced by the checksum of the rest), which
//! takes it into the body's own checks. And the input, read as a recipe, builds a state that
//! must survive encode → decode.
//!
//! Properties:
//! - decoding never panics, and holds at most a small multiple of the file's size, whatever
//!   counts and lengths the file claims;
//! - a file that decodes is exactly the encoding of what it decoded to (one state, one file);
//! - decode(encode(state)) = state.

use tagstream::dataflow::checkpoint::{Shape, ShareClock, ShareId, WorkerState, REANCHOR_AFTER};

use crate::meter;
use crate::pieces::Rng;

/// The shape every seed was made with (tests/corpus.rs writes the seeds).
pub const SHAPE: Shape = Shape {
    batch_ms: 10_000,
    window_ms: 60_000,
    slide_ms: 10_000,
    peers: 2,
};

/// `bytes` with its last 8 bytes replaced by the checksum of the rest.
pub fn reseal(bytes: &[u8]) -> Option<Vec<u8>> {
    let body = bytes.len().checked_sub(8)?;
    let mut out = bytes[..body].to_vec();
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Some(out)
}

fn decode(bytes: &[u8]) {
    let (got, held) = meter::peak(|| WorkerState::decode(bytes, &SHAPE));
    // Per share, at least 19 bytes of file become a position, a clock and an id (72 bytes),
    // doubled by growth.
    meter::assert_within("WorkerState::decode", held, bytes.len(), 16, 1024);
    if let Ok(s) = got {
        assert_eq!(
            s.encode(&SHAPE),
            bytes,
            "a decoded file is the encoding of its state"
        );
    }
}

/// A state built from the input as a recipe.
pub fn recipe(data: &[u8]) -> WorkerState {
    let mut rng = Rng::new(data, 7);
    let mut s = WorkerState {
        epoch: rng.u64(),
        worker: rng.u64() % 4,
        input_time: rng.u64(),
        ..WorkerState::default()
    };
    for i in 0..rng.below(5) {
        let opt = |rng: &mut Rng| (rng.below(3) > 0).then(|| rng.u64());
        s.positions.push(opt(&mut rng));
        let (max_time, flags) = (opt(&mut rng), rng.below(8));
        // A run of skipped records: the last one's time and 1 to REANCHOR_AFTER − 1 of them.
        let run = 1 + rng.below(REANCHOR_AFTER as usize - 1) as u32;
        s.clocks.push(ShareClock {
            max_time,
            holds: flags & 1 != 0,
            done: flags & 2 != 0,
            skew_run: (flags & 4 != 0).then(|| (rng.u64(), run)),
        });
        let from = rng.below(data.len() + 1);
        let to = from + rng.below(data.len() - from + 1);
        s.shares.push(ShareId {
            source: i as u32,
            identity: String::from_utf8_lossy(&data[from..to]).into_owned(),
        });
    }
    let from = rng.below(data.len() + 1);
    s.shard = data[from..].to_vec();
    s.merger = data[..from].to_vec();
    s
}

/// The target.
pub fn run(data: &[u8]) {
    decode(data);
    if let Some(resealed) = reseal(data) {
        decode(&resealed);
    }
    let s = recipe(data);
    let bytes = s.encode(&SHAPE);
    assert_eq!(WorkerState::decode(&bytes, &SHAPE).as_ref(), Ok(&s));
}
