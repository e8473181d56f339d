//! Writes the benchmark's data set (see `reestr::bench_data` and `scripts/bench.sh`):
//!
//! ```sh
//! cargo run --release --example gen_bench -- --rows 1000000 --out target/bench/data
//! ```
//!
//! Options: `--rows N` (default 1,000,000), `--invoices N` (default: as many as rows),
//! `--seed N`, `--out DIR` (default `target/bench/data`). Prints the summary as JSON.

use reestr::bench_data::{self, Spec};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut spec = Spec::new(1_000_000);
    let mut invoices = None;
    let mut out = PathBuf::from("target/bench/data");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed: Result<(), String> = match a.as_str() {
            "--rows" => value("--rows").and_then(|v| {
                spec.rows = number(&v)?;
                Ok(())
            }),
            "--invoices" => value("--invoices").and_then(|v| {
                invoices = Some(number(&v)?);
                Ok(())
            }),
            "--seed" => value("--seed").and_then(|v| {
                spec.seed = number(&v)?;
                Ok(())
            }),
            "--out" => value("--out").map(|v| out = PathBuf::from(v)),
            "-h" | "--help" => {
                println!(
                    "gen_bench [--rows N] [--invoices N] [--seed N] [--out DIR]\n\
                     writes DIR/invoices.csv, DIR/inbox/{}, DIR/registry-utf8.csv, DIR/MUNIS.key",
                    bench_data::ARCHIVE_NAME
                );
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(e) = parsed {
            eprintln!("gen_bench: {e}");
            return ExitCode::from(2);
        }
    }
    spec.invoices = invoices.unwrap_or(spec.rows).max(spec.rows);
    if spec.rows == 0 {
        eprintln!("gen_bench: --rows must be at least 1");
        return ExitCode::from(2);
    }
    let started = std::time::Instant::now();
    match bench_data::generate(spec, &out) {
        Ok(summary) => {
            eprintln!(
                "gen_bench: {} rows, {} invoices in {:.1} s",
                spec.rows,
                spec.invoices,
                started.elapsed().as_secs_f64()
            );
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_bench: writing into {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}

fn number(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("not a number: {s}"))
}
