//! The benchmark's floor: the engine's own reader alone, inflating the registry entry of an
//! archive and hashing it with SHA-256, nothing else (see `scripts/bench.sh`).
//!
//! ```sh
//! cargo run --release --example floor -- ARCHIVE.zip [ENTRY]
//! ```
//!
//! `ENTRY` defaults to `registry.csv`. Prints the entry's size, its SHA-256 and the rate.

use reestr::archive;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: floor ARCHIVE.zip [ENTRY]");
        return ExitCode::from(2);
    };
    let entry = args.next().unwrap_or_else(|| archive::REGISTRY.to_string());
    match run(&path, &entry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {}: {e}", path.display());
            ExitCode::from(1)
        }
    }
}

fn run(path: &std::path::Path, entry: &str) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let index = zip::ZipArchive::new(std::fs::File::open(path)?)?
        .index_for_name(entry)
        .ok_or_else(|| format!("no entry {entry}"))?;
    let mut reader = archive::open_entry(path, index)?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        total += n as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}  {entry}\n{total} bytes in {secs:.3} s, {:.0} MB/s",
        hex::encode(sha.finalize()),
        total as f64 / secs / 1e6
    );
    Ok(())
}
