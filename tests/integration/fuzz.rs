//! Property test: mutated YAML never makes the loaders panic, for a bounded time.

// The time budget of this test is wall-clock time by design.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use husky::config::{EnvSource, validate_daemon, validate_husky};

use crate::util::fixtures;

/// xorshift64*: a small deterministic generator (seeded from the fixture corpus).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    ":",
    "- ",
    "  ",
    "\n",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "#",
    "---\n",
    "\t",
    "0900",
    "every:",
    "on:[",
    "after:",
    "${env:X}",
    "{{ outputs.a.b }}",
    "~",
    "null",
    "-1",
    "1e999",
    "\u{feff}",
    "é",
    "\\",
    "|\n  ",
    ">\n  ",
    "? ",
    "%YAML 1.2\n",
    "jobs:",
    "version: \"1\"\n",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                for (i, c) in tok.chars().enumerate() {
                    bytes.insert(at + i, c);
                }
            }
            2 if !bytes.is_empty() => {
                let src = rng.below(bytes.len());
                let len = rng.below(40).min(bytes.len() - src);
                let chunk: Vec<char> = bytes[src..src + len].to_vec();
                for (i, c) in chunk.into_iter().enumerate() {
                    bytes.insert(at.min(bytes.len()) + i, c);
                }
            }
            _ => {
                if at < bytes.len() {
                    bytes[at] = char::from(b' ' + (rng.below(95) as u8));
                }
            }
        }
    }
    bytes.into_iter().collect()
}

fn corpus(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                if let Ok(t) = std::fs::read_to_string(e.path()) {
                    out.push(t);
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn mutated_yaml_never_panics() {
    let husky_seeds = corpus(&fixtures().join("config"));
    let daemon_seeds = corpus(&fixtures().join("daemon"));
    assert!(husky_seeds.len() >= 10 && daemon_seeds.len() >= 5, "fixture corpus is missing");
    let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
    let budget = std::env::var("HUSKY_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let deadline = std::time::Instant::now() + Duration::from_secs(budget);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = 0u64;
    while std::time::Instant::now() < deadline {
        let (seeds, husky) =
            if rng.below(3) == 0 { (&daemon_seeds, false) } else { (&husky_seeds, true) };
        let mut text = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            text = mutate(&mut rng, &text);
        }
        if husky {
            let loaded = validate_husky(Path::new("fuzz.yaml"), &text, &env);
            // Every diagnostic is located inside the text (or at 1:1 for an empty one).
            let lines = text.lines().count().max(1) + 1;
            for d in &loaded.diagnostics {
                let pos = d.pos.expect("text diagnostics have a position");
                assert!(
                    pos.line >= 1 && pos.line <= lines,
                    "{d} outside {lines} lines of:\n{text}"
                );
            }
        } else {
            let _ = validate_daemon(Path::new("fuzz-huskyd.yaml"), &text);
        }
        cases += 1;
    }
    assert!(cases > 100, "only {cases} cases ran");
    eprintln!("fuzz: {cases} mutated documents in {budget}s");
}
