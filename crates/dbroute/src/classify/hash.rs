//! A small, fast, non-cryptographic hasher (the Fx algorithm) for the classification cache and
//! function sets. Keys are always compared in full, so a weak hash costs only a cache miss,
//! never a wrong answer.

use std::hash::Hasher;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Fx-style hasher: rotate, xor, multiply, eight bytes at a time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The hash of `bytes`, mixed so that its low bits (the cache slot) depend on every byte.
///
/// Texts of 32 bytes or more go through four independent lanes, 32 bytes per round, so the
/// multiplications overlap instead of waiting on each other; the tail and shorter texts take
/// one lane.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut blocks = bytes.chunks_exact(32);
    let mut h = FastHasher::default();
    if bytes.len() >= 32 {
        let mut lanes = [0u64, 1, 2, 3];
        for block in &mut blocks {
            for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = (lane.rotate_left(5) ^ read_u64(word)).wrapping_mul(SEED);
            }
        }
        h.add(
            lanes[0]
                ^ lanes[1].rotate_left(16)
                ^ lanes[2].rotate_left(32)
                ^ lanes[3].rotate_left(48),
        );
    }
    h.write(blocks.remainder());
    h.add(bytes.len() as u64);
    let h = h.finish();
    h ^ (h >> 29)
}

#[inline]
fn read_u64(word: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(word);
    u64::from_le_bytes(bytes)
}
