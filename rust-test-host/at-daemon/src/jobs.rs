//! The daemon's jobs: four kinds of self-contained CPU work, each a named
//! `#[inline(never)]` function so that a profile can attribute time to it.
//!
//! Designed CPU split (shares of the CPU time spent in jobs):
//!
//! | job               | share | what it does                                   |
//! |-------------------|-------|------------------------------------------------|
//! | `parse_records`   | 40 %  | formats and parses CSV-like records, aggregates per method in a HashMap |
//! | `hash_blocks`     | 30 %  | fills a buffer, hashes it in 4 KiB blocks, folds the block hashes |
//! | `sort_batches`    | 20 %  | sorts a batch of integers and a batch of pairs, dedups |
//! | `compress_chunks` | 10 %  | LZ77-style compression of a semi-repetitive text chunk |
//!
//! The scheduler (main.rs) holds that split by feedback: it measures each
//! job's thread CPU time and dispatches, at random, among the kinds at or
//! below their share, so the split holds whatever the machine. The sizes are
//! calibrated so that every kind takes about half a millisecond (each job
//! varies from 0.5x to 1.5x of that, drawn from its seed): the split is then
//! also a split of job counts, and no kind is favoured by a sampler for
//! being longer or shorter than the others.
//! Every job builds its own input from a seed (no shared state, no I/O) and
//! builds and drops its own collections, so all of its CPU time is under its
//! own frame.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ParseRecords,
    HashBlocks,
    SortBatches,
    CompressChunks,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::ParseRecords, Kind::HashBlocks, Kind::SortBatches, Kind::CompressChunks];

    /// The function name as it appears in a profile (`at_daemon::jobs::<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::ParseRecords => "parse_records",
            Kind::HashBlocks => "hash_blocks",
            Kind::SortBatches => "sort_batches",
            Kind::CompressChunks => "compress_chunks",
        }
    }

    /// The designed share of job CPU time (sums to 1).
    pub fn design_share(self) -> f64 {
        match self {
            Kind::ParseRecords => 0.40,
            Kind::HashBlocks => 0.30,
            Kind::SortBatches => 0.20,
            Kind::CompressChunks => 0.10,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn run(self, seed: u64) -> u64 {
        match self {
            Kind::ParseRecords => parse_records(seed),
            Kind::HashBlocks => hash_blocks(seed),
            Kind::SortBatches => sort_batches(seed),
            Kind::CompressChunks => compress_chunks(seed),
        }
    }
}

/// xorshift64*: deterministic input data without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    #[inline(always)]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Work size of one job in 1/64ths of the nominal size, 32..=95 (0.5x to
/// 1.5x), drawn from the seed: varied job lengths keep the job sequence from
/// being periodic, which a periodic sampling timer could alias with.
fn size_64ths(seed: u64) -> usize {
    32 + (Rng::new(seed ^ 0xA5A5_5A5A).next() >> 58) as usize
}

fn scaled(nominal: usize, seed: u64) -> usize {
    nominal * size_64ths(seed) / 64
}

struct Record<'a> {
    id: u64,
    user: &'a str,
    amount_cents: u64,
    method: &'a str,
}

const RECORDS_PER_JOB: usize = 1400;

/// Formats a batch of request records as text, parses it back and sums the
/// amounts per method.
#[inline(never)]
pub fn parse_records(seed: u64) -> u64 {
    const METHODS: [&str; 4] = ["GET", "PUT", "POST", "DELETE"];
    let mut rng = Rng::new(seed);
    let n = scaled(RECORDS_PER_JOB, seed);
    let mut text = String::with_capacity(n * 40);
    for i in 0..n {
        let r = rng.next();
        let _ = writeln!(
            text,
            "{},user{:05},{}.{:02},{}",
            i,
            r % 50_000,
            (r >> 20) % 10_000,
            (r >> 40) % 100,
            METHODS[(r >> 60) as usize % 4]
        );
    }
    let mut records = Vec::with_capacity(n);
    for line in black_box(&text).lines() {
        let mut fields = line.split(',');
        let id = fields.next().and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let user = fields.next().unwrap_or("");
        let amount = fields.next().unwrap_or("0.0");
        let (units, cents) = amount.split_once('.').unwrap_or((amount, "0"));
        let amount_cents = units.parse::<u64>().unwrap_or(0) * 100 + cents.parse::<u64>().unwrap_or(0);
        let method = fields.next().unwrap_or("");
        records.push(Record { id, user, amount_cents, method });
    }
    let mut per_method: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut users: HashMap<&str, u64> = HashMap::new();
    for r in &records {
        let e = per_method.entry(r.method).or_default();
        e.0 += 1;
        e.1 += r.amount_cents;
        *users.entry(r.user).or_default() += r.id;
    }
    per_method.values().map(|&(n, s)| n ^ s).sum::<u64>() ^ users.len() as u64
}

const HASH_BUFFER: usize = 96 * 1024;
const HASH_BLOCK: usize = 4096;
const HASH_ROUNDS: u64 = 16;

/// Hashes a buffer in blocks (FNV-1a style over 8-byte words with a
/// multiply-xorshift finisher) and folds the block hashes.
#[inline(never)]
pub fn hash_blocks(seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; scaled(HASH_BUFFER / HASH_BLOCK, seed) * HASH_BLOCK];
    for chunk in buf.chunks_exact_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    let buf = black_box(buf);
    let mut block_hashes = Vec::with_capacity(buf.len() / HASH_BLOCK);
    for round in 0..HASH_ROUNDS {
        block_hashes.clear();
        for block in buf.chunks(HASH_BLOCK) {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
            for w in block.chunks_exact(8) {
                let v = u64::from_le_bytes(w.try_into().unwrap());
                h = (h ^ v).wrapping_mul(0x0000_0100_0000_01b3);
                h ^= h >> 29;
            }
            h ^= h >> 33;
            h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 33;
            block_hashes.push(h);
        }
    }
    block_hashes.iter().fold(0u64, |acc, &h| acc.rotate_left(5) ^ h)
}

const SORT_BATCH: usize = 13_000;

/// Sorts a batch of integers and a batch of (key, value) pairs, and dedups.
#[inline(never)]
pub fn sort_batches(seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let n = scaled(SORT_BATCH, seed);
    let mut keys: Vec<u64> = (0..n).map(|_| rng.next() % 1_000_000).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut pairs: Vec<(u32, u32)> =
        (0..n / 2).map(|_| { let r = rng.next(); ((r >> 32) as u32 % 5000, r as u32) }).collect();
    pairs.sort();
    let keys = black_box(keys);
    keys.len() as u64 ^ keys[keys.len() / 2] ^ pairs[pairs.len() / 3].1 as u64
}

const CHUNK: usize = 72 * 1024;

/// Compresses a semi-repetitive text chunk with a small LZ77 (4-byte hash
/// chains of length one) into literal runs and (offset, length) matches.
#[inline(never)]
pub fn compress_chunks(seed: u64) -> u64 {
    const WORDS: [&[u8]; 12] = [
        b"error ", b"job ", b"queue ", b"worker ", b"done ", b"retry ", b"timeout ", b"ok ",
        b"scheduler ", b"batch ", b"record ", b"\n",
    ];
    let mut rng = Rng::new(seed);
    let len = scaled(CHUNK, seed);
    let mut input = Vec::with_capacity(len + 16);
    while input.len() < len {
        let r = rng.next();
        input.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize]);
        if r >> 61 == 0 {
            input.extend_from_slice(&(r >> 8).to_le_bytes()[..3]);
        }
    }
    let input = black_box(input);
    let mut table = vec![u32::MAX; 1 << 12];
    let mut out: Vec<u8> = Vec::with_capacity(len / 2);
    let mut i = 0;
    let mut literal_start = 0;
    while i + 4 <= input.len() {
        let word = u32::from_le_bytes(input[i..i + 4].try_into().unwrap());
        let slot = (word.wrapping_mul(2_654_435_761) >> 20) as usize;
        let cand = table[slot];
        table[slot] = i as u32;
        if cand != u32::MAX && input[cand as usize..cand as usize + 4] == input[i..i + 4] {
            let cand = cand as usize;
            let mut len = 4;
            while i + len < input.len() && len < 255 && input[cand + len] == input[i + len] {
                len += 1;
            }
            out.push(0x80 | ((i - literal_start).min(127)) as u8);
            out.extend_from_slice(&input[literal_start..i]);
            out.extend_from_slice(&((i - cand) as u16).to_le_bytes());
            out.push(len as u8);
            i += len;
            literal_start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&input[literal_start..]);
    out.len() as u64 ^ out.iter().step_by(97).map(|&b| b as u64).sum::<u64>()
}
