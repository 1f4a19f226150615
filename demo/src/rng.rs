//! Deterministic random streams: one seeded generator per (seed, stream, chunk), so output
//! does not depend on the number of threads or the order in which chunks finish.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Independent random streams.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Population = 1,
    GaiaSource = 2,
    Xp = 3,
    Epoch = 4,
    Templates = 5,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for `stream` in chunk `chunk` (StdRng, i.e. ChaCha12 for rand 0.9: the bytes
/// are reproducible for a given build of this crate and its locked dependencies).
pub(crate) fn rng_for(seed: u64, stream: Stream, chunk: u64) -> StdRng {
    let s = splitmix64(splitmix64(seed) ^ splitmix64(((stream as u64) << 40) ^ chunk));
    StdRng::seed_from_u64(s)
}
