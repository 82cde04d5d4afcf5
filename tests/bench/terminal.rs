//! Terminal engine benchmarks: ingest into the emulator, frame build + encode, scrollback memory.
//!
//! Run: `cargo bench --bench terminal`

#![allow(clippy::print_stdout)]

use std::time::Instant;

use sam_core::terminal::{Engine, Size};

const INGEST_MIB: usize = 32;

fn colored_lines(count: usize, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..count {
        let color = 31 + (n % 7);
        let body: String = (0..width.saturating_sub(12))
            .map(|i| char::from(b'a' + ((n + i) % 26) as u8))
            .collect();
        out.extend_from_slice(format!("\x1b[{color}m{n:>8}\x1b[0m {body}\r\n").as_bytes());
    }
    out
}

fn median_us(samples: impl Iterator<Item = std::time::Duration>) -> f64 {
    let mut samples: Vec<f64> = samples.map(|d| d.as_secs_f64() * 1e6).collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // Ingest: colored 120-column lines, fed in 64 KiB chunks through one persistent parser.
    let mut stream = Vec::new();
    let line_block = colored_lines(10_000, 120);
    while stream.len() < INGEST_MIB * 1024 * 1024 {
        stream.extend_from_slice(&line_block);
    }
    let mut engine = Engine::new(
        Size {
            cols: 120,
            rows: 40,
        },
        10_000,
    );
    let start = Instant::now();
    for chunk in stream.chunks(64 * 1024) {
        engine.feed(chunk);
    }
    let ingest = stream.len() as f64 / 1e6 / start.elapsed().as_secs_f64();

    // Frames on a full 200×50 screen.
    let mut engine = Engine::new(
        Size {
            cols: 200,
            rows: 50,
        },
        0,
    );
    engine.feed(&colored_lines(50, 200));
    // Medians of single rounds: this machine's two cores are shared and noisy.
    let rounds = 2000;
    let mut full_bytes = 0;
    let full_us = median_us((0..rounds).map(|_| {
        let start = Instant::now();
        full_bytes = engine.frame(true).expect("frame").len();
        start.elapsed()
    }));
    let mut line_bytes = 0;
    let line_us = median_us((0..rounds).map(|n| {
        let start = Instant::now();
        engine.feed(format!("\x1b[25;1H\x1b[32mline {n}\x1b[0m\x1b[K").as_bytes());
        line_bytes = engine.frame(false).expect("frame").len();
        start.elapsed()
    }));

    // Memory: 10 000 lines of scrollback at 200 columns.
    let before = rss_kib();
    let mut big = Engine::new(
        Size {
            cols: 200,
            rows: 50,
        },
        10_000,
    );
    big.feed(&colored_lines(10_050, 200));
    let after = rss_kib();
    assert_eq!(big.history_lines(), 10_000);

    println!("{:<56} {:>12}", "measure", "value");
    println!(
        "{:<56} {:>8.0} MB/s",
        "ingest into Term (120 cols, colored lines, 64 KiB chunks)", ingest
    );
    println!(
        "{:<56} {:>8.1} us",
        "full 200x50 frame: build + encode (median)", full_us
    );
    println!("{:<56} {:>8} B", "full 200x50 frame: size", full_bytes);
    println!(
        "{:<56} {:>8.1} us",
        "one-line change: feed + build + encode (median)", line_us
    );
    println!("{:<56} {:>8} B", "one-line change: size", line_bytes);
    println!(
        "{:<56} {:>8.1} MB",
        "one terminal, 10 000 lines x 200 cols scrollback (RSS)",
        (after.saturating_sub(before)) as f64 / 1024.0
    );
}
