//! The `reestr` command line. See the README for commands and exit codes.

// No panics on input, as in the library (see its lib.rs).
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

use clap::{Parser, Subcommand};

/// The registry pipeline allocates many small strings on one thread and frees them on the
/// other; mimalloc handles that far better than the system allocator (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use reestr::config::Config;
use reestr::engine::{Engine, EngineError, Handled};
use reestr::respond::one_line;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code: something could not be handled or verified (details on stderr).
const EXIT_INCOMPLETE: u8 = 1;
/// Exit code: the engine could not run (configuration, store, folders).
const EXIT_CANNOT_RUN: u8 = 3;
/// Exit code: another engine holds the data folder.
const EXIT_LOCKED: u8 = 4;
/// Exit code (`run --strict`): every archive handled, some answered NAK or set aside.
const EXIT_NAK: u8 = 5;

#[derive(Parser)]
#[command(
    name = "reestr",
    version,
    about = "Receiver for MUNIS offline payment registries (munis-offline/1)"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "reestr.toml")]
    config: PathBuf,
    /// Log format on stderr: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the folders and the store; safe to repeat.
    Init,
    /// Billing exports of invoices.
    Invoices {
        #[command(subcommand)]
        command: InvoicesCommand,
    },
    /// Handle every archive now in the inbox, then exit.
    Run {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// Exit with code 5 when some archive was answered NAK or set aside.
        #[arg(long)]
        strict: bool,
    },
    /// Handle archives as they arrive, until SIGINT or SIGTERM.
    Watch,
    /// What waits, what was set aside and why, the last batches, and gaps.
    Status {
        /// How many recent batches to show.
        #[arg(long, default_value_t = 20)]
        last: usize,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Put a set-aside file back into the inbox for another try (recorded in the journal).
    Release {
        /// The set-aside file: its kept name or path, its SHA-256 (or 8+ leading digits), or its original name.
        file: String,
        /// Put it back under this name instead of the original one.
        #[arg(long = "as")]
        new_name: Option<String>,
    },
    /// Validate an archive and print what its response would say; change nothing.
    Check {
        /// The archive.
        file: PathBuf,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Re-run a batch against the store as it was before it was first processed.
    Replay {
        /// The archive (found by its SHA-256; it may have been renamed).
        file: PathBuf,
        /// Folder for the response.
        #[arg(long)]
        out: PathBuf,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Copy the data folder (the store as of one committed state, and every kept file its
    /// journal names) into a new or empty folder, then audit the copy; takes no lock.
    Backup {
        /// The folder to write: new, or empty.
        #[arg(long)]
        to: PathBuf,
        /// An earlier backup: a kept file it holds with the same bytes is hard-linked from it
        /// instead of copied.
        #[arg(long, value_name = "EARLIER")]
        link_from: Option<PathBuf>,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write the bundled sample set (billing export, inbound archives, key) into a folder.
    Sample {
        /// Target folder.
        #[arg(long, default_value = "samples")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum InvoicesCommand {
    /// Load a billing export (agreement §9); safe to repeat.
    Import {
        /// The export file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the journal and every kept file against it.
    Verify {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// Also rebuild the books from the kept evidence alone (every kept export and every
        /// ACKed archive, judged again in journal order) and compare every payment
        /// of the store and every response sent with them; takes about as long as the batches
        /// took.
        #[arg(long)]
        rebuild: bool,
        /// A journal entry's number and hash copied elsewhere after an earlier audit or run
        /// (the `head` this command prints): the journal must still hold that entry with that
        /// hash. Repeatable.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Vec<reestr::journal::Anchor>,
    },
}

/// `println!` that never panics: when stdout is a pipe whose reader has gone (`reestr status |
/// head`), the rest of the output is dropped and the command goes on to its end and exit code;
/// any other failure to write is said on stderr.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                say_err!("warning: cannot write to stdout: {e}");
            }
        }
    }};
}

/// `eprintln!` that never panics (a closed stderr loses the line, nothing more).
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REESTR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        b.json().init();
    } else {
        // Colours only on a terminal (not in cron mail, journald or a log file), and never
        // with NO_COLOR set (no-color.org).
        use std::io::IsTerminal;
        let colour = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        // Field values (file names, reasons, errors) as one line of printable ASCII, as `run`
        // prints them: a file name holding an LF or an escape sequence cannot split a line of
        // a cron mail or rewrite the terminal. Messages are the engine's own text.
        use tracing_subscriber::field::MakeExt;
        let fields = tracing_subscriber::fmt::format::debug_fn(
            |w: &mut tracing_subscriber::fmt::format::Writer<'_>,
             field: &tracing::field::Field,
             value: &dyn std::fmt::Debug| {
                if field.name() == "message" {
                    write!(w, "{value:?}")
                } else {
                    write!(w, "{}={}", field.name(), one_line(&format!("{value:?}")))
                }
            },
        )
        .delimited(" ");
        b.with_target(false)
            .with_ansi(colour)
            .fmt_fields(fields)
            .init();
    }
}

/// Whether stderr carries JSON lines (`--log-format json`): the final error line too.
static JSON_LOG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Reports why the command stops (one line on stderr, JSON with `--log-format json`) and
/// gives its exit code.
fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    if JSON_LOG.get().copied().unwrap_or(false) {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "fields": {"message": msg.to_string(), "exit_code": code},
        });
        say_err!("{line}");
    } else {
        // Line ends kept (an import names every bad line on a line of its own); other control
        // characters, from file names or echoed values, escaped.
        say_err!("error: {}", reestr::respond::for_terminal(&msg.to_string()));
    }
    ExitCode::from(code)
}

/// A command that stops before it does anything (exit 3: configuration, store or folders;
/// exit 4: another process holds the data folder's lock): `run --json` still prints its
/// document on stdout, nothing handled and the error said, then the error line goes to stderr.
fn stop(command: &Command, code: u8, e: impl std::fmt::Display) -> ExitCode {
    let said = e.to_string();
    if let Command::Run { json: true, .. } = command {
        let nothing = reestr::engine::RunOutcome::default();
        say!("{}", document(&nothing, Some(&said)));
    }
    fail(code, said)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    let _ = JSON_LOG.set(cli.log_format == "json");
    if let Command::Sample { out } = &cli.command {
        return match reestr::sample::write_samples(out) {
            Ok(files) => {
                for f in files {
                    say!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(
                EXIT_CANNOT_RUN,
                format!("writing samples into {}: {e}", out.display()),
            ),
        };
    }
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => return stop(&cli.command, EXIT_CANNOT_RUN, e),
    };
    let needs_lock = matches!(
        cli.command,
        Command::Run { .. }
            | Command::Watch
            | Command::Replay { .. }
            | Command::Invoices { .. }
            | Command::Release { .. }
    );
    // The lock is taken before the store is opened (`Engine::open_locked`).
    let opened = match &cli.command {
        Command::Init => Engine::init(cfg),
        Command::Status { .. } | Command::Audit { .. } | Command::Backup { .. } => {
            Engine::open_read_only(cfg)
        }
        _ if needs_lock => Engine::open_locked(cfg),
        _ => Engine::open(cfg),
    };
    let mut engine = match opened {
        Ok(e) => e,
        Err(e @ EngineError::Locked(..)) => return stop(&cli.command, EXIT_LOCKED, e),
        Err(e) => return stop(&cli.command, EXIT_CANNOT_RUN, e),
    };
    let exchanges = matches!(
        cli.command,
        Command::Run { .. } | Command::Watch | Command::Status { .. } | Command::Release { .. }
    );
    if exchanges && let Err(e) = engine.require_exchange_folders() {
        return stop(&cli.command, EXIT_CANNOT_RUN, e);
    }
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, engine.cancel.clone()) {
            tracing::warn!(error = %e, "cannot catch signals");
        }
    }
    let bar = progress_bar(&cli.log_format);
    if let Some(pb) = bar.clone() {
        engine.progress = Some(Box::new(move |done, total| {
            pb.set_length(total.max(done));
            pb.set_position(done);
        }));
    }
    match cli.command {
        Command::Init => {
            say!(
                "initialised: inbox {}, outbox {}, data {}",
                engine.cfg.inbox.display(),
                engine.cfg.outbox.display(),
                engine.cfg.data.display()
            );
            ExitCode::SUCCESS
        }
        Command::Invoices {
            command: InvoicesCommand::Import { file },
        } => match engine.import_invoices(&file) {
            Ok(Ok(r)) => {
                say!(
                    "{}: {} invoices, {} inserted or changed",
                    r.file,
                    r.rows,
                    r.changed
                );
                ExitCode::SUCCESS
            }
            Ok(Err(e)) => {
                say_err!("error: export {} refused, nothing loaded:", file.display());
                for p in &e.problems {
                    say_err!("  {p}");
                }
                ExitCode::from(EXIT_INCOMPLETE)
            }
            Err(e) => fail(EXIT_CANNOT_RUN, e),
        },
        Command::Run { json, strict } => {
            let started = std::time::Instant::now();
            let out = engine.run();
            if let Some(pb) = &bar {
                pb.finish_and_clear();
            }
            if let Err(e) = reestr::metrics::write(
                &engine,
                started.elapsed().as_secs_f64(),
                out.error.is_none(),
            ) {
                tracing::error!(error = %e, "cannot write the metrics file");
            }
            let any_nak = out
                .handled
                .iter()
                .any(|h| h.result == "NAK" || h.result == "SET_ASIDE");
            if json {
                say!("{}", run_document(&out));
            } else {
                print_outcome(&out);
            }
            match out.error {
                None if strict && any_nak => ExitCode::from(EXIT_NAK),
                None => ExitCode::SUCCESS,
                Some(e @ EngineError::Store(_)) => fail(
                    EXIT_CANNOT_RUN,
                    format!("{e}; the archive in hand was not applied and stays in the inbox"),
                ),
                Some(e @ EngineError::Pipeline(reestr::pipeline::PipelineError::Cancelled)) => {
                    fail(EXIT_INCOMPLETE, e)
                }
                Some(e) => fail(
                    EXIT_INCOMPLETE,
                    format!("{e}; the archive stays in the inbox for the next run"),
                ),
            }
        }
        Command::Check { file, json } => match engine.check(&file) {
            Ok(r) => {
                if json {
                    say!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                } else {
                    say!(
                        "{}: would answer {}{}",
                        file.display(),
                        r.result,
                        r.code
                            .as_deref()
                            .map(|c| format!(" {c}"))
                            .unwrap_or_default()
                    );
                    if let Some(m) = &r.message {
                        say!("  {}", one_line(m));
                    }
                    if let Some(c) = &r.control {
                        say!("--- control.txt\n{c}");
                    }
                    if let (Some(c), Some(b)) = (&r.result_csv, &r.result_csv_bytes) {
                        // As it is (in the registry's encoding) into a file or a pipe; on a
                        // terminal, decoded, with control characters a registry may echo
                        // escaped.
                        use std::io::{IsTerminal, Write};
                        if std::io::stdout().is_terminal() {
                            say!("--- result.csv\n{}", reestr::respond::for_terminal(c));
                        } else {
                            let mut out = std::io::stdout().lock();
                            let shown = out
                                .write_all(b"--- result.csv\n")
                                .and_then(|()| out.write_all(b))
                                .and_then(|()| out.write_all(b"\n"));
                            if let Err(e) = shown
                                && e.kind() != std::io::ErrorKind::BrokenPipe
                            {
                                return fail(EXIT_INCOMPLETE, e);
                            }
                        }
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(EXIT_INCOMPLETE, e),
        },
        Command::Replay { file, out, json } => {
            match engine.replay(&file, &out) {
                Ok(r) => {
                    if json {
                        say!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    } else {
                        say!(
                            "{} -> {} ({}{})",
                            file.display(),
                            out.join(&r.response).display(),
                            r.result,
                            r.code
                                .as_deref()
                                .map(|c| format!(" {c}"))
                                .unwrap_or_default()
                        );
                        // The schema of then, kept, or another one in force.
                        let schema = r.schema_changed.as_deref().map_or(String::new(), |c| {
                            if r.judged_under_kept_schema {
                                format!(", judged under the kept schema of its time, not the one in force ({c})")
                            } else {
                                format!(", judged then under another schema than the one in force ({c})")
                            }
                        });
                        // The books before it, rebuilt with exports under their kept schemas.
                        let schema = if r.exports_under_kept_schemas.is_empty() {
                            schema
                        } else {
                            format!(
                                "{schema}; the invoices before it loaded again under the kept export schemas of their time, not the one in force: {}",
                                r.exports_under_kept_schemas.join("; ")
                            )
                        };
                        match r.identical {
                            Some(true) => say!(
                                "identical to the response sent (sha256 {}){schema}",
                                r.response_sha256
                            ),
                            Some(false) => say!(
                                "DIFFERS from the response sent: replayed {}, sent {}{}{}",
                                r.response_sha256,
                                r.sent_sha256.as_deref().unwrap_or("?"),
                                reestr::engine::other_version(r.answered_by.as_deref()),
                                schema
                            ),
                            None => say!("never received: computed against the current store"),
                        }
                    }
                    if r.identical == Some(false) {
                        ExitCode::from(EXIT_INCOMPLETE)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    // `--json` answers on stdout when replay cannot run too (a key changed since,
                    // say), as `run --json` does.
                    if json {
                        say!("{}", serde_json::json!({ "error": e.to_string() }));
                    }
                    fail(EXIT_INCOMPLETE, e)
                }
            }
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    json,
                    rebuild,
                    anchor,
                },
        } => match engine.journal_head().and_then(|head| {
            // The head read first, so that the audit covers it; the anchors' problems are the
            // audit's.
            let (mut problems, n, judged) = engine.audit_with(rebuild)?;
            problems.extend(engine.against_anchors(&anchor)?);
            Ok((problems, n, judged, head))
        }) {
            Ok((problems, n, judged, head)) => {
                if json {
                    let mut doc = serde_json::json!({
                        "entries": n,
                        "problems": problems,
                        "head": head,
                        "anchors_checked": anchor.len(),
                    });
                    if let (Some(j), Some(fields)) = (judged, doc.as_object_mut()) {
                        fields.insert("rebuilt_batches".into(), j.judged.into());
                        fields.insert(
                            "responses_not_compared".into(),
                            j.responses_not_compared.into(),
                        );
                    }
                    say!("{doc}");
                } else if problems.is_empty() {
                    say!(
                        "journal: {n} entries, chain intact; every kept file matches; the store agrees with it"
                    );
                    match judged {
                        Some(j) if j.responses_not_compared > 0 => say!(
                            "rebuilt from the kept evidence ({} batches judged again): every payment agrees, and every response compared ({} not compared: signed with a key no longer configured; list it in former_key_files)",
                            j.judged,
                            j.responses_not_compared
                        ),
                        Some(j) => say!(
                            "rebuilt from the kept evidence ({} batches judged again): every payment and response agrees",
                            j.judged
                        ),
                        None => {}
                    }
                } else {
                    for p in &problems {
                        say!("PROBLEM: {p}");
                    }
                }
                if !json {
                    if !anchor.is_empty() && problems.is_empty() {
                        say!("anchors: {} checked, each held", anchor.len());
                    }
                    if let Some(h) = &head {
                        say!(
                            "head: {h} (copy it elsewhere; `audit verify --anchor {h}` later finds a journal rewritten up to it)"
                        );
                    }
                }
                if problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_INCOMPLETE)
                }
            }
            Err(e) => fail(EXIT_CANNOT_RUN, e),
        },
        Command::Backup {
            to,
            link_from,
            json,
        } => match engine.backup(&to, link_from.as_deref()) {
            Ok(r) => {
                if json {
                    say!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                } else {
                    say!(
                        "backup in {}: the store as of journal entry {} ({} bytes), {} kept files ({} bytes)",
                        r.to,
                        r.entries,
                        r.store_bytes,
                        r.files,
                        r.file_bytes
                    );
                    if let Some(earlier) = &link_from {
                        say!(
                            "{} of them ({} bytes) hard-linked from {}",
                            r.linked,
                            r.linked_bytes,
                            earlier.display()
                        );
                    }
                    if let Some(h) = &r.head {
                        say!(
                            "head: {h} (the copy's last journal entry, an anchor for `audit verify --anchor`)"
                        );
                    }
                    if r.problems.is_empty() {
                        say!(
                            "audit verify of the copy: chain intact; every kept file matches; the store agrees with it"
                        );
                    }
                    for p in &r.problems {
                        say!("PROBLEM: {p}");
                    }
                }
                if r.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_INCOMPLETE)
                }
            }
            Err(e) => fail(EXIT_CANNOT_RUN, e),
        },
        Command::Watch => {
            let result = reestr::watch::watch(
                &mut engine,
                |h| print_run(std::slice::from_ref(h), false),
                |e, handled| {
                    let ok = !handled.is_empty();
                    if let Err(err) = reestr::metrics::write(e, 0.0, ok) {
                        tracing::error!(error = %err, "cannot write the metrics file");
                    }
                },
            );
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ EngineError::Store(_)) => fail(EXIT_CANNOT_RUN, e),
                Err(e) => fail(EXIT_INCOMPLETE, e),
            }
        }
        Command::Status { last, json } => {
            match reestr::status::status(&engine, chrono::Utc::now(), last) {
                Ok(s) => {
                    if json {
                        say!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                    } else {
                        print_status(&s);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_CANNOT_RUN, e),
            }
        }
        Command::Release { file, new_name } => {
            match reestr::status::release(&mut engine, &file, new_name.as_deref()) {
                Ok(r) => {
                    say!(
                        "released set-aside file {} into the inbox as {}",
                        r.id,
                        r.released_as
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_INCOMPLETE, e),
            }
        }
        Command::Sample { .. } => ExitCode::SUCCESS,
    }
}

fn progress_bar(log_format: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if log_format != "text" || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} rows {pos}/{len} {wide_bar} {per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    Some(pb)
}

fn print_status(s: &reestr::status::Status) {
    say!("inbox: {} file(s)", s.waiting.len());
    for w in &s.waiting {
        say!(
            "  {:<48} {:>12} bytes  {}",
            one_line(&w.name),
            w.bytes,
            match w.state {
                "settling" => "waiting (settling)",
                "held" => "waiting for an earlier batch still settling (agreement §7.2 order)",
                "bad name" => "name not of the agreement's form; will be set aside",
                "temporary" => "temporary name, left alone",
                "folder" => "folder, left alone",
                "link" => "link, left alone",
                other => other,
            }
        );
    }
    say!("set aside: {} file(s)", s.set_aside.len());
    for a in &s.set_aside {
        say!(
            "  {:<48} kept as set-aside/{}\n    {}",
            one_line(&a.original_name),
            a.kept_as,
            one_line(&a.reason)
        );
    }
    say!("last batches:");
    for r in &s.recent {
        say!(
            "  {} {:<40} {:<7} {:<4} {}",
            r.recorded_at,
            r.batch_id,
            r.result,
            r.code.as_deref().unwrap_or(""),
            r.response
        );
    }
    if s.gaps.is_empty() && s.missing_rec.is_empty() {
        say!("gaps: none");
    }
    for g in s.gaps.iter().chain(&s.missing_rec) {
        say!("GAP: {g}");
    }
}

/// `run --json`'s document.
fn run_document(out: &reestr::engine::RunOutcome) -> String {
    document(out, out.error.as_ref().map(ToString::to_string).as_deref())
}

/// `run --json`'s document of `out`, with `error` as its error.
fn document(out: &reestr::engine::RunOutcome, error: Option<&str>) -> String {
    let doc = serde_json::json!({
        "handled": out.handled,
        "left": out.left,
        "held": out.held,
        "finished": out.finished,
        "error": error,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// What a run did, as text: the deliveries it finished for an earlier run, the files it left,
/// then what it handled (or that there was nothing to do).
fn print_outcome(out: &reestr::engine::RunOutcome) {
    // A run stopped by the receiver itself before it did anything says so on stderr alone.
    if out.error.is_some() && out.handled.is_empty() && out.finished.is_empty() {
        return;
    }
    for r in &out.finished {
        say!(
            "{r:<40} FINISHED   a delivery an earlier run applied but could not complete; response written now"
        );
    }
    for name in &out.left {
        say!("{name:<40} LEFT       still being written; left in the inbox for the next run");
    }
    for name in &out.held {
        say!(
            "{name:<40} LEFT       an earlier batch (agreement §7.2 order) is still being written; left for the next run"
        );
    }
    let quiet = out.finished.is_empty() && out.left.is_empty() && out.held.is_empty();
    if out.handled.is_empty() {
        if quiet {
            say!("inbox: nothing to do");
        }
        return;
    }
    print_run(&out.handled, true);
}

/// Prints handled archives, one line each, and with `totals_line` a line of totals.
fn print_run(handled: &[Handled], totals_line: bool) {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for h in handled {
        let n = totals.entry(h.result.clone()).or_default();
        *n = n.saturating_add(1);
        let who = one_line(h.batch_id.as_deref().unwrap_or(&h.file));
        match h.result.as_str() {
            "ACK" | "RESENT" => {
                let statuses: Vec<String> =
                    h.statuses.iter().map(|(c, n)| format!("{c}:{n}")).collect();
                let accepted = h.statuses.get(&1).copied().unwrap_or(0);
                say!(
                    "{who:<40} {:<9} rows {:>6}  accepted {:>6}  rejected {:>6}  [{}]",
                    h.result,
                    h.rows,
                    accepted,
                    h.rows.saturating_sub(accepted),
                    statuses.join(" ")
                );
            }
            "NAK" => say!(
                "{who:<40} NAK {}    {}",
                h.code.as_deref().unwrap_or(""),
                one_line(h.message.as_deref().unwrap_or(""))
            ),
            _ => say!(
                "{who:<40} SET ASIDE  {}",
                one_line(h.message.as_deref().unwrap_or(""))
            ),
        }
    }
    if totals_line {
        let t: Vec<String> = totals.iter().map(|(k, v)| format!("{k} {v}")).collect();
        say!("handled {} archive(s): {}", handled.len(), t.join(", "));
    }
}
