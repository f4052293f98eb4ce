//! The writer's workload: seeded random `apply` scripts of sets, deletes and reads, and the
//! model (a sorted map) that says what the database holds after each acknowledged line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A database's content as the model knows it: key → value.
pub type Content = BTreeMap<Vec<u8>, Vec<u8>>;

/// A seeded splitmix64 generator: the same seed gives the same scripts and kill delays.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6a09_e667_f3bc_c908)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One operation of a script, as the model applies it.
#[derive(Debug, Clone)]
pub enum Step {
    /// `set KEY VALUE`.
    Set(Vec<u8>, Vec<u8>),
    /// `del KEY` (the key is present when the line runs).
    Del(Vec<u8>),
    /// `get KEY`: the writer acknowledges it with the value it read.
    Get(Vec<u8>),
    /// `sync` or `reorganize`: no change of content.
    Other(&'static str),
}

impl Step {
    /// Applies the step to `content`.
    pub fn apply(&self, content: &mut Content) {
        match self {
            Step::Set(k, v) => {
                content.insert(k.clone(), v.clone());
            }
            Step::Del(k) => {
                content.remove(k);
            }
            Step::Get(_) | Step::Other(_) => {}
        }
    }
}

/// Lowercase hex, `-` for the empty string (docs/cli.md).
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").expect("writing to a String cannot fail");
    }
    s
}

/// Decodes lowercase hex (`-` is empty); `None` on anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text == "-" {
        return Some(Vec::new());
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What a workload may contain for one format.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Largest value length (gnu and dumb take multi-block values; ndbm's overflow pages too).
    pub max_value: usize,
    /// Whether `reorganize` is in the mix (gnu and dumb implement it).
    pub reorganize: bool,
}

/// A seeded script of `len` steps over a pool of 96 keys, starting from `start` (deletes name
/// only keys present at their line). Returns the steps and the `apply` text (line i+1 is
/// step i).
pub fn script(rng: &mut Rng, start: &Content, len: usize, mix: Mix) -> (Vec<Step>, String) {
    let mut content = start.clone();
    let mut steps = Vec::with_capacity(len);
    let mut text = String::new();
    for _ in 0..len {
        let key = format!("k{:03}", rng.below(96)).into_bytes();
        let roll = rng.below(100);
        let step = if roll < 55 {
            let n = match rng.below(10) {
                0..=5 => rng.below(40) as usize,
                6..=8 => rng.below(600) as usize,
                _ => rng.below(mix.max_value as u64 + 1) as usize,
            };
            let fill = rng.next_u64();
            let value: Vec<u8> = (0..n)
                .map(|i| (fill >> ((i % 8) * 8)) as u8 ^ i as u8)
                .collect();
            Step::Set(key, value)
        } else if roll < 75 {
            match content
                .keys()
                .nth(rng.below(content.len().max(1) as u64) as usize)
            {
                Some(k) => Step::Del(k.clone()),
                None => Step::Get(key),
            }
        } else if roll < 98 {
            Step::Get(key)
        } else if roll < 99 || !mix.reorganize {
            Step::Other("sync")
        } else {
            Step::Other("reorganize")
        };
        match &step {
            Step::Set(k, v) => writeln!(text, "set {} {}", hex(k), hex(v)),
            Step::Del(k) => writeln!(text, "del {}", hex(k)),
            Step::Get(k) => writeln!(text, "get {}", hex(k)),
            Step::Other(word) => writeln!(text, "{word}"),
        }
        .expect("writing to a String cannot fail");
        step.apply(&mut content);
        steps.push(step);
    }
    (steps, text)
}
