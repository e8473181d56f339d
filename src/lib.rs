//! reestr: the receiving side of the MUNIS offline payment registry exchange
//! (`munis-offline/1`). See `ARCHITECTURE.md` for the map and `../shared/AGREEMENT.md` for the
//! contract.
//!
//! Pipeline stages, in order: [`inbox`] → [`archive`] → [`integrity`] →
//! [`control`]/[`dialect`]/[`schema`] → [`validate`] → [`reconcile`] → [`respond`] →
//! [`journal`]. [`pipeline`] is the pure core tying stages 2–7 together; [`engine`] is the
//! shell around it.

// `unsafe` is refused everywhere except in `bind`, which says why it is sound.
#![deny(unsafe_code)]
#![warn(missing_docs)]
// No panics on input: non-test code neither unwraps nor indexes unchecked, and no arithmetic can
// overflow unseen (checked or saturating); an `allow` on the smallest item says "In range:" why
// it cannot panic or overflow.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::string_slice,
        clippy::unreachable,
        clippy::arithmetic_side_effects
    )
)]

pub mod amount;
pub mod archive;
pub mod bench_data;
pub mod bind;
pub mod charset;
pub mod code;
pub mod config;
pub mod control;
pub mod dialect;
pub mod echo;
pub mod engine;
pub mod fsutil;
pub mod ident;
pub mod inbox;
pub mod index;
pub mod integrity;
pub mod invoices;
pub mod journal;
pub mod metrics;
pub mod name;
pub mod pipeline;
pub mod reconcile;
pub mod respond;
pub mod sample;
pub mod schema;
pub mod status;
pub mod store;
pub mod validate;
pub mod watch;

/// The engine version, recorded in the store and the journal.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The running test binary, set to run the one test `name` (its path in the crate) with its
/// output not captured: tests that need a second process (one that tries a lock, one that is
/// killed) run themselves as it.
#[cfg(test)]
pub(crate) fn this_test_alone(name: &str) -> std::io::Result<std::process::Command> {
    let mut c = std::process::Command::new(std::env::current_exe()?);
    c.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    Ok(c)
}
