//! Named points where tests make the engine crash, fail a write or pause (`REESTR_FAULT`,
//! `REESTR_FAIL`, `REESTR_PAUSE`); each does nothing unless its variable names it.

use std::fs;
use std::io;
use std::path::Path;

/// Fails an operation with "no space left on device" when `REESTR_FAIL` names its point (tests
/// of write failures that a privileged mount cannot simulate). Points: `outbox-write`,
/// `spool-create`, `keep-received`.
pub fn injected_failure(point: &str) -> io::Result<()> {
    match std::env::var("REESTR_FAIL") {
        Ok(p) if p == point => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("injected failure at {point}"),
        )),
        _ => Ok(()),
    }
}

/// Kills the process at a named point when `REESTR_FAULT` names it (crash tests).
///
/// `REESTR_FAULT=point` aborts at the first time the point is reached; `point:N` at the N-th.
/// Points: `claimed`, `validated`, `response-kept`, `committed`, `outbox-written`,
/// `source-removed`, `done`.
pub fn fault(point: &str) {
    static COUNTS: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());
    let Ok(spec) = std::env::var("REESTR_FAULT") else {
        return;
    };
    let (name, nth) = match spec.split_once(':') {
        Some((n, k)) => (n.to_string(), k.parse::<u32>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if name != point {
        return;
    }
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let count = match counts.iter_mut().find(|(n, _)| *n == name) {
        Some((_, c)) => {
            *c = c.saturating_add(1);
            *c
        }
        None => {
            counts.push((name, 1));
            1
        }
    };
    if count == nth {
        eprintln!("REESTR_FAULT: aborting at {point}");
        std::process::abort();
    }
}

/// Holds the process at a named point while `REESTR_PAUSE` is `point:FILE`: creates FILE and
/// waits until it is removed (at most `PAUSE_AT_MOST`). Tests use it to look at the store
/// from another process while a batch holds its transaction. Points: `validated` (the rows
/// evaluated, the books writing their last changes), `response-kept` (just before the commit),
/// `import-read` (an export read and loaded, before it is found to have stayed one version),
/// `audit-walked` (`audit verify` has walked the journal's chain, before it reads the tables
/// that point into it), `status-read` (`status` has read the set-aside files, before the
/// answers).
pub fn pause(point: &str) {
    let Ok(spec) = std::env::var("REESTR_PAUSE") else {
        return;
    };
    let Some((name, file)) = spec.split_once(':') else {
        return;
    };
    if name != point || fs::write(file, point).is_err() {
        return;
    }
    // In range: a constant of seconds after now.
    #[allow(clippy::arithmetic_side_effects)]
    let until = std::time::Instant::now() + PAUSE_AT_MOST;
    while Path::new(file).exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The longest a [`pause`] holds the process.
const PAUSE_AT_MOST: std::time::Duration = std::time::Duration::from_secs(120);
