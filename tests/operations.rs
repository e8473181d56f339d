//! Operations: the inbox, keeping, invoice imports, `audit verify`, keys, the command line and
//! the store's refusals.

mod common;
use common::*;
use reestr::charset::Charset;
use reestr::config::Config;
use reestr::engine::Engine;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, Invoice, PAY_HEADER, Rng};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

const MFO: &str = "00014";
const PAY1: &str = "MUNIS_SUDBILLING_PAY_20261121_001.zip";
const PAY2: &str = "MUNIS_SUDBILLING_PAY_20261121_002.zip";
const PAY3: &str = "MUNIS_SUDBILLING_PAY_20261121_003.zip";
/// A reference archive answered NAK B04.
const PAY4: &str = "MUNIS_SUDBILLING_PAY_20261121_004.zip";
const REV1: &str = "MUNIS_SUDBILLING_REV_20261121_001.zip";
const REC1: &str = "MUNIS_SUDBILLING_REC_20261121_001.zip";

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ----- our own invoices and batches -------------------------------------------------------

/// Invoices `(legal entity, amount due, status)`, numbered `7000…0001`, `7000…0002`, …
fn invoices(specs: &[(bool, &str, &str)]) -> Vec<Invoice> {
    let mut rng = Rng::new(42);
    specs
        .iter()
        .enumerate()
        .map(|(i, (legal, due, status))| Invoice {
            no: format!("7{:019}", i + 1),
            payer_type: if *legal { "J" } else { "P" }.into(),
            payer_id: if *legal {
                sample::tin(&mut rng)
            } else {
                sample::pinfl(&mut rng)
            },
            payer_name: "Karimova Dilnoza".into(),
            amount_due: (*due).into(),
            status: (*status).into(),
        })
        .collect()
}

fn pay_row(id: &str, v: &Invoice, amount: &str) -> Vec<String> {
    vec![
        id.into(),
        "2026-11-21 10:00:00".into(),
        v.no.clone(),
        v.payer_type.clone(),
        v.payer_id.clone(),
        "Karimova Dilnoza".into(),
        amount.into(),
        "860".into(),
        MFO.into(),
        sample::account(MFO, &mut Rng::new(id.len() as u64 + 7)),
        String::new(),
    ]
}

fn pay(seq: &str, rows: &[Vec<String>]) -> Batch {
    Batch::new(BatchType::PAY, seq, Charset::Utf8, &PAY_HEADER, rows, 6)
}

fn write_export(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write export");
    p
}

/// Imports `text` as the export `name`, which must be refused; returns why.
fn refused_export(rx: &mut Rx, name: &str, text: &str) -> reestr::invoices::ExportError {
    let p = write_export(rx.dir.path(), name, text);
    let why = rx
        .engine
        .import_invoices(&p)
        .expect("runs")
        .expect_err("refused");
    // The copy made for keeping while the export was read is gone with the refusal.
    let imports = rx.dir.path().join("var/imports");
    assert!(imports.is_dir(), "{imports:?}");
    let left: Vec<String> = list(&imports)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        left.is_empty(),
        "a refused export left {left:?} in {imports:?}"
    );
    why
}

/// A receiver that has loaded an export of these invoices.
fn receiver_with(specs: &[(bool, &str, &str)]) -> (Rx, Vec<Invoice>) {
    let mut rx = Rx::new();
    let inv = invoices(specs);
    let p = write_export(rx.dir.path(), "invoices.csv", &sample::invoices_csv(&inv));
    rx.engine.import_invoices(&p).expect("runs").expect("valid");
    (rx, inv)
}

fn count(conn: &rusqlite::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

// ----- the inbox ---------------------------------------------------------------------------

#[test]
fn temporary_and_hidden_files_are_left_alone() {
    let mut rx = Rx::new();
    let bytes = reference(PAY1);
    // The temporary names of §1: `*.part`, or a name starting with `.`.
    let names = [
        "MUNIS_SUDBILLING_PAY_20261121_001.zip.part",
        ".MUNIS_SUDBILLING_PAY_20261121_001.zip",
        ".hidden.zip",
    ];
    for n in names {
        rx.drop_in(n, &bytes);
    }
    let handled = rx.run();
    assert!(handled.is_empty(), "{handled:?}");
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(rx.inbox(), want);
    assert!(rx.outbox().is_empty());
    assert!(list(&rx.engine.layout.received()).is_empty());
    assert!(list(&rx.engine.layout.set_aside()).is_empty());
    // Renamed into place, it is taken.
    std::fs::rename(
        rx.engine.cfg.inbox.join(names[0]),
        rx.engine.cfg.inbox.join(PAY1),
    )
    .expect("rename");
    let handled = rx.run();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].file, PAY1);
}

#[test]
fn a_name_ending_in_tmp_is_not_a_temporary_name_and_is_set_aside() {
    // §1 names the temporary forms; any other name not of the §2 form is set aside.
    let mut rx = Rx::new();
    rx.drop_in("MUNIS_SUDBILLING_PAY_20261121_001.tmp", &reference(PAY1));
    let handled = rx.run();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].result, "SET_ASIDE", "{handled:?}");
    assert!(rx.inbox().is_empty());
}

#[test]
fn the_lock_holder_removes_only_hidden_names_ending_in_tmp_from_the_outbox_and_data_folders() {
    let mut rx = Rx::new();
    rx.engine.lock().expect("lock");
    let outbox = rx.engine.cfg.outbox.clone();
    let received = rx.engine.layout.received();
    // Left by an interrupted run: hidden and ending in `.tmp`.
    std::fs::write(outbox.join(".X_ACK.zip.1.tmp"), b"half").expect("plant");
    std::fs::write(received.join(".ab.zip.2.tmp"), b"half").expect("plant");
    // Not this engine's temporary names, or not files: left alone.
    let others = [
        outbox.join(".partner-note"),
        outbox.join("report.tmp"),
        received.join(".kept"),
    ];
    for p in &others {
        std::fs::write(p, b"theirs").expect("plant");
    }
    std::fs::create_dir(outbox.join(".folder.tmp")).expect("folder");
    assert_eq!(rx.engine.clean_temporaries().expect("clean"), 2);
    assert_eq!(
        list(&outbox),
        [".folder.tmp", ".partner-note", "report.tmp"]
    );
    assert_eq!(list(&received), [".kept"]);
    for p in &others {
        assert_eq!(read(p), b"theirs", "{}", p.display());
    }
}

#[test]
fn a_delivery_to_finish_whose_response_name_was_edited_into_a_path_or_hidden_name_is_refused() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    assert_eq!(rx.process(PAY1, &reference(PAY1)).result, "ACK");
    let sent = rx.outbox();
    for bad in [
        "../MUNIS_SUDBILLING_PAY_20261121_001_ACK.zip",
        ".MUNIS_SUDBILLING_PAY_20261121_001_ACK.zip",
        "MUNIS_SUDBILLING_PAY_20261121_001_ACK.txt",
    ] {
        // A delivery committed but not finished, its response's name edited.
        let n = rx
            .engine
            .store
            .conn
            .execute(
                "UPDATE deliveries SET state = 'committed', response_name = ?1",
                [bad],
            )
            .expect("edit");
        assert_eq!(n, 1);
        let e = rx.engine.run().error.map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                format!(
                    "the store names a response {bad:?}, which is not a response's file name: edited? (`reestr audit verify` says more)"
                )
                .as_str()
            ),
            "{bad}"
        );
        assert_eq!(rx.outbox(), sent, "{bad}: nothing else written");
        assert!(!rx.engine.cfg.outbox.join(bad).exists(), "{bad}");
    }
}

#[test]
fn run_leaves_a_file_that_cannot_settle_within_its_wait() {
    // A settle time longer than `run_wait`: the run does not wait in vain, it says what it left.
    let mut rx = Rx::with_settings("settle_seconds = 3600");
    rx.import_reference_invoices();
    let p = rx.drop_in(PAY1, &reference(PAY1));
    let started = std::time::Instant::now();
    let out = rx.engine.run();
    assert!(out.error.is_none() && out.handled.is_empty(), "{out:?}");
    assert_eq!(out.left, [PAY1], "named as left for the next run");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no wait for a file that cannot settle in time"
    );
    assert_eq!(rx.inbox(), [PAY1]);
    assert!(rx.outbox().is_empty());
    set_mtime(&p, SystemTime::now() - Duration::from_secs(7200));
    let handled = rx.run();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].result, "ACK");
    assert!(rx.inbox().is_empty(), "a handled archive leaves the inbox");

    // With no settle time a fresh file is taken at once.
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    rx.drop_in(PAY1, &reference(PAY1));
    let handled = rx.run();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].result, "ACK");
}

/// Copies `whole` into `path` in place, `step` bytes at a time, `pause` apart (a sender that
/// copies without renaming, §1); with `mtime`, every write leaves that modification time.
fn copy_in_place(
    path: &Path,
    whole: Vec<u8>,
    step: usize,
    pause: Duration,
    mtime: Option<SystemTime>,
) -> std::thread::JoinHandle<()> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        for chunk in whole.chunks(step) {
            let mut f = std::fs::File::options()
                .append(true)
                .create(true)
                .open(&path)
                .expect("open");
            std::io::Write::write_all(&mut f, chunk).expect("write");
            if let Some(t) = mtime {
                f.set_modified(t).expect("set mtime");
            }
            drop(f);
            std::thread::sleep(pause);
        }
    })
}

#[test]
fn run_waits_for_a_file_still_being_copied_in_place_then_answers_it() {
    // `cp archive inbox/ && reestr run`: the run answers the archive, and takes it only once
    // the copy is complete. No grace time: taken half-written, it would be B01.
    let mut rx = Rx::with_settings("settle_seconds = 0.5\nunreadable_grace_seconds = 0");
    rx.import_reference_invoices();
    let p = rx.engine.cfg.inbox.join(PAY1);
    let writer = copy_in_place(&p, reference(PAY1), 200, Duration::from_millis(150), None);
    std::thread::sleep(Duration::from_millis(50));
    let out = rx.engine.run();
    writer.join().expect("writer");
    assert!(out.error.is_none() && out.left.is_empty(), "{out:?}");
    assert_eq!(out.handled.len(), 1, "{out:?}");
    assert_eq!(out.handled[0].result, "ACK", "{out:?}");
    assert!(rx.inbox().is_empty());
}

#[test]
fn run_takes_an_in_place_copy_that_keeps_its_sources_old_time_as_soon_as_it_is_whole() {
    // `cp -p` or a Windows copy: the time is old (past the settle time, within the grace), the
    // zip unreadable until the last chunk. The run waits for it, not for the grace time.
    let mut rx = Rx::with_settings(
        "settle_seconds = 1\nunreadable_grace_seconds = 30\nrun_wait_seconds = 20",
    );
    rx.import_reference_invoices();
    let p = rx.engine.cfg.inbox.join(PAY1);
    let old = SystemTime::now() - Duration::from_secs(10);
    let pause = Duration::from_millis(150);
    let writer = copy_in_place(&p, reference(PAY1), 200, pause, Some(old));
    std::thread::sleep(Duration::from_millis(50));
    let started = std::time::Instant::now();
    let out = rx.engine.run();
    writer.join().expect("writer");
    assert_eq!(out.handled.len(), 1, "{out:?}");
    assert_eq!(out.handled[0].result, "ACK", "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "taken when whole, not after the grace time: {:?}",
        started.elapsed()
    );
}

#[test]
fn run_answers_a_truncated_archive_dropped_just_before_it_once_its_grace_time_is_over() {
    let mut rx = Rx::with_settings("settle_seconds = 0.2\nunreadable_grace_seconds = 1");
    rx.drop_in(PAY1, &reference(PAY1)[..100]);
    let handled = rx.run();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(
        (handled[0].result.as_str(), handled[0].code.as_deref()),
        ("NAK", Some("B01"))
    );
}

#[test]
fn a_file_dated_in_the_future_is_taken_once_seen_unchanged_for_the_settle_time() {
    let mut rx = Rx::with_settings("settle_seconds = 1");
    let p = rx.drop_in(PAY1, &reference(PAY1));
    set_mtime(&p, SystemTime::now() + Duration::from_secs(3600));
    let mut seen = reestr::inbox::Stability::new();
    let first = rx
        .engine
        .scan(reestr::inbox::Look::Watch(&mut seen))
        .expect("scan");
    assert_eq!((first.ready.len(), first.pending.len()), (0, 1));
    std::thread::sleep(Duration::from_millis(1100));
    let later = rx
        .engine
        .scan(reestr::inbox::Look::Watch(&mut seen))
        .expect("scan");
    assert_eq!(
        later.ready,
        std::slice::from_ref(&p),
        "an hour ahead, still taken once it stopped changing"
    );
    // `run` watches it the same way.
    let handled = rx.run();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(handled[0].file, PAY1);
}

#[test]
fn run_waits_for_an_unreadable_zip_that_still_grows_though_its_time_is_old() {
    // A writer whose clock runs an hour behind: the half-written archive looks old enough to
    // have settled and to be past its grace time, yet it still grows (§1).
    let old = SystemTime::now() - Duration::from_secs(3600);
    let whole = reference(PAY1);
    // A receiver with this much `run_wait`, and the writer started on its inbox.
    let start = |wait: &str| {
        let rx = Rx::with(&format!(
            "receiver = \"SUDBILLING\"\nsettle_seconds = 1\n{wait}{MUNIS_WITH_KEY}"
        ));
        let p = rx.engine.cfg.inbox.join(PAY1);
        let step = Duration::from_millis(200);
        let writer = copy_in_place(&p, whole[..1600].to_vec(), 100, step, Some(old));
        std::thread::sleep(Duration::from_millis(150));
        (rx, writer)
    };
    // A run that may wait one second leaves it.
    let (mut rx, writer) = start("run_wait_seconds = 1\n");
    let out = rx.engine.run();
    assert!(
        out.handled.is_empty(),
        "a growing file is not taken: {out:?}"
    );
    assert_eq!(out.left, [PAY1]);
    assert!(
        rx.outbox().is_empty(),
        "no B01 for a file still being written"
    );
    writer.join().expect("writer");

    // A run that may wait longer waits for the writer to stop; the archive it then takes
    // stays unreadable, and is answered B01 with every byte the writer wrote.
    let (mut rx, writer) = start("");
    let handled = rx.run();
    writer.join().expect("writer");
    assert_eq!(handled.len(), 1);
    assert_eq!(
        (handled[0].result.as_str(), handled[0].code.as_deref()),
        ("NAK", Some("B01"))
    );
    let nak = rx.response("SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip");
    let control =
        String::from_utf8(entry_of(&nak, "control.txt").expect("control.txt")).expect("utf-8");
    assert!(
        control.contains(&format!(
            "in_reply_to_sha256={}\n",
            sha256_hex(&whole[..1600])
        )),
        "taken only when whole: {control}"
    );
}

#[test]
fn run_leaves_the_batches_after_one_still_settling_then_takes_them_in_order() {
    // §7.2: PAY 002 is ready but PAY 001, before it in the agreed order, is still settling.
    let config =
        |wait: &str| settings_text(&format!("settle_seconds = 1\nrun_wait_seconds = {wait}"));
    let mut rx = Rx::with(&config("0.5"));
    rx.import_reference_invoices();
    let later = rx.drop_in(PAY2, &reference(PAY2));
    set_mtime(&later, SystemTime::now() - Duration::from_secs(7200));
    rx.drop_in(PAY1, &reference(PAY1));
    let out = rx.engine.run();
    assert!(out.error.is_none() && out.handled.is_empty(), "{out:?}");
    assert_eq!(
        (out.left, out.held),
        (vec![PAY1.to_string()], vec![PAY2.to_string()])
    );
    // A run that can wait for PAY 001 takes both, PAY 001 first.
    let dir = rx.dir.path().to_path_buf();
    std::fs::write(dir.join("reestr.toml"), config("60")).expect("config");
    rx.engine.cfg = Config::load(&dir.join("reestr.toml")).expect("config");
    let handled = rx.run();
    let ids: Vec<Option<&str>> = handled.iter().map(|h| h.batch_id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some("MUNIS_SUDBILLING_PAY_20261121_001"),
            Some("MUNIS_SUDBILLING_PAY_20261121_002")
        ]
    );
}

/// The file names in `paths`.
fn names_of(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_ready_batch_waits_for_the_earliest_batch_still_settling_whichever_the_scan_meets_first() {
    // §7.2: PAY 002 has settled; PAY 001, before it, and PAY 003 to 020, after it, are still
    // settling. It waits for PAY 001, however many later ones settle and in whatever order the
    // folder lists them. Twice, on another date, for another listing order.
    let rx = Rx::with_settings("settle_seconds = 3600\nunreadable_grace_seconds = 0");
    for date in ["20261121", "20261122"] {
        let name = |seq: u32| format!("MUNIS_SUDBILLING_PAY_{date}_{seq:03}.zip");
        for seq in 1..=20 {
            let p = rx.drop_in(&name(seq), b"settling or not, its bytes are not read yet");
            if seq == 2 {
                set_mtime(&p, SystemTime::now() - Duration::from_secs(7200));
            }
        }
        let scan = rx.engine.scan(reestr::inbox::Look::Once).expect("scan");
        assert_eq!(names_of(&scan.ready), Vec::<String>::new(), "{date}");
        assert_eq!(names_of(&scan.held), [name(2)], "{date}");
        assert_eq!(scan.pending.len(), 19, "{date}");
        for seq in 1..=20 {
            std::fs::remove_file(rx.engine.cfg.inbox.join(name(seq))).expect("remove");
        }
    }
}

#[test]
fn watch_takes_a_whole_archive_copied_with_an_old_time_only_once_seen_unchanged() {
    // `cp -p` into the inbox: the time is an hour old, yet `watch` has only just seen the file.
    let rx = Rx::with_settings("settle_seconds = 0.3");
    let p = rx.drop_in(PAY1, &reference(PAY1));
    set_mtime(&p, SystemTime::now() - Duration::from_secs(3600));
    let mut seen = reestr::inbox::Stability::new();
    let first = rx
        .engine
        .scan(reestr::inbox::Look::Watch(&mut seen))
        .expect("scan");
    assert_eq!(
        (names_of(&first.ready), names_of(&first.pending)),
        (vec![], vec![PAY1.to_string()]),
        "not taken at first sight"
    );
    std::thread::sleep(Duration::from_millis(400));
    let later = rx
        .engine
        .scan(reestr::inbox::Look::Watch(&mut seen))
        .expect("scan");
    assert_eq!(later.ready, std::slice::from_ref(&p));
}

#[test]
fn watch_judges_a_time_just_ahead_of_the_clock_as_the_time_of_the_last_change() {
    // Within the clock slack a time ahead is no clock skew: the file changed "now", and it has
    // not settled before its time is the settle time old, however long it has been seen.
    let settle = Duration::from_millis(300);
    let rx = Rx::with_settings("settle_seconds = 0.3");
    let p = rx.drop_in(PAY1, &reference(PAY1));
    let mtime = SystemTime::now() + Duration::from_millis(1900);
    set_mtime(&p, mtime);
    let mut seen = reestr::inbox::Stability::new();
    let first = rx
        .engine
        .scan(reestr::inbox::Look::Watch(&mut seen))
        .expect("scan");
    assert!(first.ready.is_empty(), "{first:?}");
    std::thread::sleep(Duration::from_millis(400));
    let later = rx
        .engine
        .scan(reestr::inbox::Look::Watch(&mut seen))
        .expect("scan");
    assert!(
        later.ready.is_empty() || SystemTime::now() >= mtime + settle,
        "taken before its time was the settle time old: {later:?}"
    );
}

#[test]
fn with_no_settle_time_a_file_stamped_just_ahead_of_the_clock_is_ready_at_once() {
    let rx = Rx::new();
    let p = rx.drop_in(PAY1, &reference(PAY1));
    set_mtime(&p, SystemTime::now() + Duration::from_millis(1900));
    let scan = rx.engine.scan(reestr::inbox::Look::Once).expect("scan");
    assert_eq!(scan.ready, std::slice::from_ref(&p), "{scan:?}");
}

#[test]
fn run_answers_a_truncated_archive_copied_with_an_old_time_once_settled_not_after_the_grace() {
    // The grace time of an unreadable zip runs from its time, as the settle time does (`run`):
    // an hour-old copy that stopped changing is answered B01 now, not left for the next run.
    let mut rx = Rx::with_settings("settle_seconds = 0.2\nunreadable_grace_seconds = 1800");
    let p = rx.drop_in(PAY1, &reference(PAY1)[..100]);
    set_mtime(&p, SystemTime::now() - Duration::from_secs(3600));
    let out = rx.engine.run();
    assert!(out.error.is_none() && out.left.is_empty(), "{out:?}");
    assert_eq!(out.handled.len(), 1, "{out:?}");
    assert_eq!(
        (
            out.handled[0].result.as_str(),
            out.handled[0].code.as_deref()
        ),
        ("NAK", Some("B01"))
    );
}

#[test]
fn run_says_once_that_it_waits_for_inbox_files_to_settle_and_does_not_spin() {
    let cli = Cli::new();
    cli.reconfigure("settle_seconds = 1");
    std::fs::write(cli.path("inbox").join(PAY1), reference(PAY1)).expect("drop");
    let o = cli
        .command(&["run"])
        .env("REESTR_LOG", "debug")
        .output()
        .expect("reestr runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let log = stderr(&o);
    assert_eq!(
        log.matches("waiting for inbox files to settle").count(),
        1,
        "{log}"
    );
    // It sleeps until the file can have settled: a scan or two, not one after another.
    let scans = log.matches("not taken yet").count();
    assert!((1..=5).contains(&scans), "{scans} scans: {log}");
    assert_eq!(list(&cli.path("inbox")), Vec::<String>::new(), "answered");
}

#[test]
fn status_warns_of_a_fifo_in_the_inbox_but_not_of_a_folder() {
    let cli = Cli::new();
    std::fs::create_dir(cli.path("inbox/folder.zip")).expect("folder");
    let fifo = cli.path("inbox").join(PAY1);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let o = cli.run(&["status"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let log = stderr(&o);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("not a regular file"))
        .map(|l| if l.contains(PAY1) { PAY1 } else { l })
        .collect();
    assert_eq!(warnings, [PAY1], "{log}");
}

#[test]
fn sigterm_while_run_waits_for_a_file_to_settle_exits_1_and_leaves_it() {
    let cli = Cli::new();
    cli.reconfigure("settle_seconds = 30");
    std::fs::write(cli.path("inbox").join(PAY1), reference(PAY1)).expect("drop");
    let child = cli
        .command(&["run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("LEFT"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read_dir(cli.path("inbox")).expect("inbox").count(),
        1,
        "the archive stays"
    );
}

#[test]
fn status_says_why_each_inbox_entry_is_there() {
    let rx = Rx::with_settings("settle_seconds = 3600");
    let settled = rx.drop_in(PAY1, &reference(PAY1));
    set_mtime(&settled, SystemTime::now() - Duration::from_secs(7200));
    rx.drop_in(PAY2, &reference(PAY2));
    // Settled, but after PAY2 in the §7.2 order: it waits for PAY2.
    let after = rx.drop_in(PAY4, &reference(PAY4));
    set_mtime(&after, SystemTime::now() - Duration::from_secs(7200));
    let junk = rx.drop_in("payments of monday.zip", &reference(PAY1));
    set_mtime(&junk, SystemTime::now() - Duration::from_secs(7200));
    rx.drop_in("MUNIS_SUDBILLING_PAY_20261121_009.zip.part", b"half");
    rx.drop_in(".hidden.zip", b"x");
    std::fs::create_dir(rx.engine.cfg.inbox.join("folder")).expect("folder");
    // A FIFO and a link named like archives: left alone, and the FIFO never opened (opening it
    // would wait for a writer, and status would hang).
    let fifo = rx
        .engine
        .cfg
        .inbox
        .join("MUNIS_SUDBILLING_PAY_20261121_007.zip");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    std::os::unix::fs::symlink(
        &settled,
        rx.engine
            .cfg
            .inbox
            .join("MUNIS_SUDBILLING_PAY_20261121_008.zip"),
    )
    .expect("symlink");
    let s = reestr::status::status(&rx.engine, chrono::Utc::now(), 5).expect("status");
    let got: Vec<(&str, &str, bool)> = s
        .waiting
        .iter()
        .map(|w| (w.name.as_str(), w.state, w.ready))
        .collect();
    assert_eq!(
        got,
        [
            (".hidden.zip", "temporary", false),
            (PAY1, "ready", true),
            (PAY2, "settling", false),
            (PAY4, "held", false),
            ("MUNIS_SUDBILLING_PAY_20261121_007.zip", "special", false),
            ("MUNIS_SUDBILLING_PAY_20261121_008.zip", "link", false),
            (
                "MUNIS_SUDBILLING_PAY_20261121_009.zip.part",
                "temporary",
                false
            ),
            ("folder", "folder", false),
            ("payments of monday.zip", "bad name", true),
        ]
    );
}

#[test]
fn handled_archives_leave_the_inbox_whatever_the_answer() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    rx.drop_in(PAY1, &reference(PAY1));
    rx.drop_in(PAY4, &reference(PAY4));
    rx.drop_in("payments.zip", &reference(PAY2));
    let handled = rx.run();
    let mut results: Vec<&str> = handled.iter().map(|h| h.result.as_str()).collect();
    results.sort();
    assert_eq!(results, ["ACK", "NAK", "SET_ASIDE"]);
    assert!(rx.inbox().is_empty(), "{:?}", rx.inbox());
    assert!(rx.run().is_empty());
}

/// The set-aside files: (kept files, reason files' text).
fn set_aside_contents(rx: &Rx) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let dir = rx.engine.layout.set_aside();
    let mut kept = Vec::new();
    let mut reasons = Vec::new();
    for n in list(&dir) {
        let b = read(&dir.join(&n));
        match String::from_utf8(b.clone()) {
            Ok(t) if t.contains("reason") => reasons.push(t),
            _ => kept.push((n, b)),
        }
    }
    (kept, reasons)
}

#[test]
fn names_not_of_the_agreements_form_are_set_aside_with_a_reason_and_no_response() {
    let mut rx = Rx::new();
    let files: [(&str, Vec<u8>); 3] = [
        ("payments.zip", reference(PAY1)),
        ("MUNIS_SUDBILLING_PAY_20261340_001.zip", reference(PAY2)),
        ("x.txt", b"just some text\n".to_vec()),
    ];
    for (n, b) in &files {
        rx.drop_in(n, b);
    }
    let handled = rx.run();
    assert_eq!(handled.len(), 3);
    for h in &handled {
        assert_eq!(h.result, "SET_ASIDE", "{h:?}");
        assert_eq!(h.response, None);
        assert!(h.message.as_deref().is_some_and(|m| !m.is_empty()));
    }
    assert!(rx.outbox().is_empty(), "no one to answer");
    assert!(rx.inbox().is_empty());
    assert!(list(&rx.engine.layout.received()).is_empty());
    let (kept, reasons) = set_aside_contents(&rx);
    for (name, bytes) in &files {
        let k = kept
            .iter()
            .find(|(_, b)| b == bytes)
            .unwrap_or_else(|| panic!("{name}: bytes kept"));
        assert_ne!(&k.0, name, "kept under a generated name");
        assert!(!k.0.contains(name));
        assert!(
            reasons.iter().any(|r| r.contains(&format!("\"{name}\""))),
            "{name}: a reason names it: {reasons:?}"
        );
    }
    let (problems, _) = rx.engine.audit().expect("audit");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn a_name_that_is_not_utf8_is_set_aside_once_and_leaves_the_inbox() {
    use std::os::unix::ffi::OsStrExt;
    let mut rx = Rx::new();
    let name = std::ffi::OsStr::from_bytes(b"MUNIS_\xff_PAY.zip");
    std::fs::write(rx.engine.cfg.inbox.join(name), reference(PAY1)).expect("write");
    let handled = rx.run();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].result, "SET_ASIDE", "{handled:?}");
    assert!(
        rx.inbox().is_empty(),
        "still in the inbox: {:?}",
        rx.inbox()
    );
    assert!(rx.run().is_empty(), "set aside again");
    let (kept, reasons) = set_aside_contents(&rx);
    assert_eq!((kept.len(), reasons.len()), (1, 1));
    // The name's exact bytes are kept beside the name shown with U+FFFD: in the reason file
    // and in the journal.
    let bytes = "\"original_name_bytes\": \"4d554e49535fff5f5041592e7a6970\"";
    assert!(reasons[0].contains(bytes), "{reasons:?}");
    let body: String = rx
        .engine
        .store
        .conn
        .query_row(
            "SELECT body FROM journal WHERE kind = 'set_aside'",
            [],
            |r| r.get(0),
        )
        .expect("journal");
    assert!(
        body.contains("\"original_name_bytes\":\"4d554e49535fff5f5041592e7a6970\""),
        "{body}"
    );
    let (problems, _) = rx.engine.audit().expect("audit");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn the_same_bytes_set_aside_under_two_names_keep_both_reasons() {
    let mut rx = Rx::new();
    let bytes = reference(PAY1);
    rx.drop_in("payments.zip", &bytes);
    assert_eq!(rx.run()[0].result, "SET_ASIDE");
    rx.drop_in("payments (copy).zip", &bytes);
    assert_eq!(rx.run()[0].result, "SET_ASIDE");
    let (kept, reasons) = set_aside_contents(&rx);
    assert!(kept.iter().any(|(_, b)| *b == bytes));
    for name in ["payments.zip", "payments (copy).zip"] {
        assert!(
            reasons.iter().any(|r| r.contains(&format!("\"{name}\""))),
            "{name}: a reason names it: {reasons:?}"
        );
    }
    let (problems, _) = rx.engine.audit().expect("audit");
    assert!(problems.is_empty(), "{problems:?}");
}

// ----- keeping -----------------------------------------------------------------------------

#[test]
fn every_received_archive_and_every_response_is_kept_by_its_sha256() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    for (name, result) in [(PAY1, "ACK"), (PAY4, "NAK")] {
        let bytes = reference(name);
        let h = rx.process(name, &bytes);
        assert_eq!(h.result, result);
        let kept = rx
            .engine
            .layout
            .received()
            .join(format!("{}.zip", sha256_hex(&bytes)));
        assert_eq!(read(&kept), bytes, "{name} kept");
        let resp = rx.response(h.response.as_deref().expect("response"));
        let kept = rx
            .engine
            .layout
            .sent()
            .join(format!("{}.zip", sha256_hex(&resp)));
        assert_eq!(read(&kept), resp, "response to {name} kept");
    }
    assert_eq!(list(&rx.engine.layout.received()).len(), 2);
    assert_eq!(list(&rx.engine.layout.sent()).len(), 2);
}

#[test]
fn a_backup_is_a_data_folder_of_one_committed_state_audited_as_the_original() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    for (name, result) in [(PAY1, "ACK"), (PAY4, "NAK")] {
        assert_eq!(rx.process(name, &reference(name)).result, result);
    }
    assert_eq!(
        rx.process("notes.txt", b"not an archive").result,
        "SET_ASIDE"
    );
    let var = rx.engine.layout.root.clone();
    let to = rx.dir.path().join("backup");
    let r = rx.engine.backup(&to, None).expect("backup runs");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.entries, 4, "the import, two deliveries and a set-aside");
    let head = rx.engine.journal_head().expect("head");
    assert_eq!(r.head, head, "the copy's head is the state copied");
    assert_eq!(head.map(|h| h.seq), Some(4));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [to.clone(), to.join("reestr.db"), to.join("received")] {
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert!(mode == 0o600 || mode == 0o700, "{}: {mode:o}", p.display());
        }
    }
    // Every kept file the journal names, byte for byte, and no other: the schemas kept for
    // types never judged are named by no entry.
    for dir in ["received", "sent", "set-aside", "imports", "schemas"] {
        let copied = list(&to.join(dir));
        for f in &copied {
            assert_eq!(
                read(&to.join(dir).join(f)),
                read(&var.join(dir).join(f)),
                "{dir}/{f}"
            );
        }
        if dir == "schemas" {
            assert_eq!(copied.len(), 2, "the export's and PAY's: {copied:?}");
        } else {
            assert_eq!(copied, list(&var.join(dir)), "{dir}");
        }
    }
    let n = u64::try_from(
        ["received", "sent", "set-aside", "imports", "schemas"]
            .iter()
            .map(|d| list(&to.join(d)).len())
            .sum::<usize>(),
    )
    .expect("small");
    assert_eq!(r.files, n);
    // The copy is a data folder: a replay there reproduces the response sent.
    let mut cfg = rx.engine.cfg.clone();
    cfg.data = to.clone();
    let mut copy = Engine::open(cfg).expect("the copy opens as a data folder");
    let pay1 = to.join(format!("received/{}.zip", sha256_hex(&reference(PAY1))));
    let replayed = copy
        .replay(&pay1, &rx.dir.path().join("replayed"))
        .expect("replay in the copy");
    assert_eq!(replayed.identical, Some(true));
    drop(copy);
    // Never into the data folder, even by a link or `..`.
    for inside in [
        var.join("backup"),
        var.join("received/b"),
        to.join("../var/x"),
    ] {
        let e = rx
            .engine
            .backup(&inside, None)
            .expect_err("inside the data folder");
        assert!(e.to_string().contains("a backup goes elsewhere"), "{e}");
        assert!(!inside.exists());
    }
    // Never over another folder.
    let e = rx.engine.backup(&to, None).expect_err("not empty");
    assert!(
        e.to_string().ends_with(
            "is not empty: a backup is written into a new or empty folder, never over another"
        ),
        "{e}"
    );
    // A kept file lost from the data folder is lost from the copy, and said.
    let sent = list(&var.join("sent"));
    let lost = sent.first().expect("a response kept");
    std::fs::remove_file(var.join("sent").join(lost)).expect("remove");
    let r = rx
        .engine
        .backup(&rx.dir.path().join("backup2"), None)
        .expect("backup runs");
    assert!(
        r.problems
            .iter()
            .any(|p| p.starts_with(&format!("kept file sent/{lost} (journal entry "))),
        "{:?}",
        r.problems
    );
    // A journal edited to name a file outside the kept folders: nothing is read or written
    // there, and it is said.
    edit_store(
        &rx,
        "UPDATE journal SET body = json_replace(body, '$.kept[0].path', '../reestr.db') WHERE kind = 'import'",
    );
    let r = rx
        .engine
        .backup(&rx.dir.path().join("backup3"), None)
        .expect("backup runs");
    assert!(
        r.problems.iter().any(|p| p
            == "kept file \"../reestr.db\" (journal entry 1): not a file of a kept folder (received, sent, set-aside, imports, schemas); not read"),
        "{:?}",
        r.problems
    );
    assert!(!rx.dir.path().join("reestr.db").exists());
}

/// README, backup: with `--link-from` an earlier backup, a kept file it holds at the same place
/// with the same bytes is hard-linked, not copied: a nightly backup costs the new files and the
/// store. A file there with other bytes, or a link, is not linked from; the copy is whole and
/// audits clean either way; an earlier backup inside the data folder is refused.
#[cfg(unix)]
#[test]
fn a_backup_links_the_kept_files_an_earlier_backup_holds_with_the_same_bytes() {
    use std::os::unix::fs::MetadataExt;
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    assert_eq!(rx.process(PAY1, &reference(PAY1)).result, "ACK");
    let var = rx.engine.layout.root.clone();
    let first = rx.dir.path().join("b1");
    let r = rx.engine.backup(&first, None).expect("backup runs");
    assert_eq!((r.linked, r.linked_bytes), (0, 0));
    let kept = ["received", "sent", "imports", "schemas"];
    let files_of = |dir: &Path| -> Vec<String> {
        kept.iter()
            .flat_map(|d| {
                list(&dir.join(d))
                    .into_iter()
                    .map(move |f| format!("{d}/{f}"))
            })
            .collect()
    };
    let before = files_of(&first);
    assert_eq!(before.len(), 5, "{before:?}");
    assert_eq!(rx.process(PAY4, &reference(PAY4)).result, "NAK");
    let second = rx.dir.path().join("b2");
    let r = rx
        .engine
        .backup(&second, Some(&first))
        .expect("backup runs");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let after = files_of(&second);
    assert_eq!(after.len(), 7, "two more: PAY4 and its NAK");
    let size = |p: &Path| std::fs::metadata(p).expect("meta").len();
    assert_eq!(r.linked, 5);
    assert_eq!(
        r.linked_bytes,
        before.iter().map(|f| size(&first.join(f))).sum::<u64>()
    );
    assert_eq!(r.files, 7);
    let ino = |p: &Path| std::fs::metadata(p).expect("meta").ino();
    for f in &after {
        assert_eq!(read(&second.join(f)), read(&var.join(f)), "{f}");
        let shared = first.join(f).exists() && ino(&second.join(f)) == ino(&first.join(f));
        assert_eq!(
            shared,
            before.contains(f),
            "{f}: linked exactly when the earlier backup holds it"
        );
    }
    // In the earlier backup: one file with other bytes of the same length (written anew, so
    // not through the link), one a link to the right bytes. Neither is linked from; the
    // copy holds the data folder's bytes.
    let changed = before
        .iter()
        .find(|f| f.starts_with("sent/"))
        .expect("sent");
    let linked = before
        .iter()
        .find(|f| f.starts_with("received/"))
        .expect("received");
    let mut other = read(&first.join(changed));
    other[0] ^= 1;
    std::fs::remove_file(first.join(changed)).expect("remove");
    std::fs::write(first.join(changed), &other).expect("other bytes");
    std::fs::remove_file(first.join(linked)).expect("remove");
    std::os::unix::fs::symlink(var.join(linked), first.join(linked)).expect("link");
    let third = rx.dir.path().join("b3");
    let r = rx.engine.backup(&third, Some(&first)).expect("backup runs");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!((r.files, r.linked), (7, 3));
    for f in [changed, linked] {
        assert_eq!(read(&third.join(f)), read(&var.join(f)), "{f}");
        assert_ne!(ino(&third.join(f)), ino(&first.join(f)), "{f}");
        assert!(
            std::fs::symlink_metadata(third.join(f))
                .expect("meta")
                .is_file(),
            "{f}"
        );
    }
    // Into another file system (a tmpfs at /dev/shm, when the tests' folder is on another),
    // nothing can be linked: everything is copied, and the copy is whole.
    let shm = Path::new("/dev/shm");
    let dev = |p: &Path| std::fs::metadata(p).expect("meta").dev();
    if shm.is_dir() && dev(shm) != dev(rx.dir.path()) {
        let elsewhere = tempfile::tempdir_in(shm).expect("a folder in /dev/shm");
        let r = rx
            .engine
            .backup(&elsewhere.path().join("b"), Some(&first))
            .expect("backup runs");
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!((r.files, r.linked), (7, 0));
    }
    // Never linked from the data folder itself, nor from what is not a folder.
    for earlier in [var.clone(), first.join("reestr.db")] {
        let to = rx.dir.path().join("b4");
        let e = rx.engine.backup(&to, Some(&earlier)).expect_err("refused");
        assert!(
            e.to_string()
                .contains("links are made from an earlier backup"),
            "{e}"
        );
        assert!(!to.exists(), "nothing written");
    }
}

#[test]
fn a_newer_response_replaces_the_older_in_the_outbox_and_both_stay_kept() {
    let (mut rx, inv) = receiver_with(&[(false, "1000.00", "OPEN")]);
    let b = pay("001", &[pay_row("30000000000001", &inv[0], "100.00")]);
    let nak_name = "SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip";
    // Signed with another key: B05.
    let first_in = b.zip(Some(&reestr::integrity::Key([7; 32])));
    let h = rx.process(&b.file_name(), &first_in);
    assert_eq!(h.code.as_deref(), Some("B05"));
    let first = rx.response(nak_name);
    // Corrected content, still wrong in another way: B08, another message.
    let mut b2 = b.clone();
    b2.rows += 1;
    let second_in = b2.zip(Some(&key()));
    let h = rx.process(&b2.file_name(), &second_in);
    assert_eq!(h.code.as_deref(), Some("B08"), "{:?}", h.message);
    let second = rx.response(nak_name);
    assert_ne!(first, second);
    assert_eq!(rx.outbox(), [nak_name], "the newer replaces the older");
    let c = String::from_utf8(entry_of(&second, "control.txt").expect("control")).expect("ascii");
    assert_eq!(control_value(&c, "error").as_deref(), Some("B08"));
    for (inb, resp) in [(&first_in, &first), (&second_in, &second)] {
        let kept = rx
            .engine
            .layout
            .sent()
            .join(format!("{}.zip", sha256_hex(resp)));
        assert_eq!(&read(&kept), resp, "both responses kept");
        let kept = rx
            .engine
            .layout
            .received()
            .join(format!("{}.zip", sha256_hex(inb)));
        assert_eq!(&read(&kept), inb, "both deliveries kept");
    }
    // Finally the right content: ACK, next to the NAK.
    let h = rx.process(&b.file_name(), &b.zip(Some(&key())));
    assert_eq!(h.result, "ACK");
    assert_eq!(
        rx.outbox(),
        [
            "SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip",
            "SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip"
        ]
    );
    assert_eq!(list(&rx.engine.layout.sent()).len(), 3);
}

// ----- invoice imports ----------------------------------------------------------------------

const INVOICES_SQL: &str = "SELECT * FROM invoices ORDER BY invoice_no";
const PAYMENTS_SQL: &str = "SELECT * FROM payments ORDER BY payment_id";

#[test]
fn loading_the_same_export_twice_changes_nothing() {
    let mut rx = Rx::new();
    let inv = invoices(&[
        (false, "1000.00", "OPEN"),
        (true, "250.50", "OPEN"),
        (false, "34000.00", "CANCELLED"),
    ]);
    let p = write_export(rx.dir.path(), "invoices.csv", &sample::invoices_csv(&inv));
    let r = rx.engine.import_invoices(&p).expect("runs").expect("valid");
    assert_eq!((r.rows, r.changed), (3, 3));
    let conn = &rx.engine.store.conn;
    let before = dump(conn, INVOICES_SQL);
    let journal = count(conn, "journal");
    assert_eq!(before.len(), 3);
    // A copy under another name is the same export.
    let copy = write_export(rx.dir.path(), "copy.csv", &sample::invoices_csv(&inv));
    for f in [&p, &copy] {
        let r = rx.engine.import_invoices(f).expect("runs").expect("valid");
        assert_eq!((r.rows, r.changed), (3, 0));
        let conn = &rx.engine.store.conn;
        assert_eq!(dump(conn, INVOICES_SQL), before);
        assert_eq!(count(conn, "journal"), journal);
    }
}

#[test]
fn an_export_whose_kept_copy_differs_is_refused_and_nothing_is_imported() {
    // An export is kept under the SHA-256 of the bytes loaded; a file already kept under that
    // name with other bytes is not trusted, and the import is rolled back.
    let mut rx = Rx::new();
    let csv = sample::invoices_csv(&invoices(&[(false, "1000.00", "OPEN")]));
    let p = write_export(rx.dir.path(), "invoices.csv", &csv);
    let sha = sha256_hex(csv.as_bytes());
    let kept = rx.engine.layout.imports().join(format!("{sha}.csv"));
    std::fs::write(&kept, b"not the export").expect("plant");
    let err = rx.engine.import_invoices(&p).expect_err("refused");
    assert!(
        err.to_string().contains("does not match the export"),
        "{err}"
    );
    let conn = &rx.engine.store.conn;
    assert_eq!(count(conn, "invoices"), 0);
    assert_eq!(count(conn, "imports"), 0);
    // Once that file is gone, the export is kept as loaded.
    std::fs::remove_file(&kept).expect("remove");
    let r = rx.engine.import_invoices(&p).expect("runs").expect("valid");
    assert_eq!((r.rows, r.changed), (1, 1));
    assert_eq!(std::fs::read(&kept).expect("kept"), csv.as_bytes());
}

#[test]
fn an_export_in_any_order_loads_the_same_invoices_and_counts_the_same_changes() {
    // Rows in ascending order are upserted as they come, the rest staged and upserted sorted
    // at the end: every order must give the same store and the same count of changes.
    let specs: Vec<(bool, &str, &str)> = (0..40)
        .map(|i| {
            (
                i % 3 == 0,
                "1000.00",
                if i % 7 == 0 { "CANCELLED" } else { "OPEN" },
            )
        })
        .collect();
    let first = invoices(&specs);
    let mut second = first.clone();
    for (i, v) in second.iter_mut().enumerate() {
        if i % 4 == 1 {
            v.amount_due = "1500.00".into(); // changed by the second export
        }
    }
    let orders: Vec<Vec<usize>> = vec![
        (0..40).collect(),                        // ascending
        (0..40).rev().collect(),                  // descending: all but one staged
        (0..20).chain((20..40).rev()).collect(),  // ascending, then not
        (0..40).map(|i| (i * 17) % 40).collect(), // shuffled
        (20..40).chain(0..20).collect(),          // two ascending runs
    ];
    let mut want: Option<(Vec<String>, Vec<String>)> = None;
    for order in &orders {
        let mut rx = Rx::new();
        // The same lines, reordered.
        let pick = |v: &[Invoice]| -> String {
            let csv = sample::invoices_csv(v);
            let lines: Vec<&str> = csv.lines().collect();
            let mut out = format!("{}\n", lines[0]);
            for &i in order {
                out.push_str(lines[i + 1]);
                out.push('\n');
            }
            out
        };
        let a = write_export(rx.dir.path(), "a.csv", &pick(&first));
        let r = rx.engine.import_invoices(&a).expect("runs").expect("valid");
        assert_eq!((r.rows, r.changed), (40, 40), "order {order:?}");
        let after_first = dump(&rx.engine.store.conn, INVOICES_SQL);
        let b = write_export(rx.dir.path(), "b.csv", &pick(&second));
        let r = rx.engine.import_invoices(&b).expect("runs").expect("valid");
        assert_eq!((r.rows, r.changed), (40, 10), "order {order:?}");
        let r = rx.engine.import_invoices(&b).expect("runs").expect("valid");
        assert_eq!((r.rows, r.changed), (40, 0), "order {order:?}: again");
        let after_second = dump(&rx.engine.store.conn, INVOICES_SQL);
        assert_eq!(after_first.len(), 40);
        match &want {
            None => want = Some((after_first, after_second)),
            Some((f, s)) => {
                assert_eq!(&after_first, f, "order {order:?}: first export");
                assert_eq!(&after_second, s, "order {order:?}: second export");
            }
        }
    }
}

#[test]
fn a_bad_line_after_rows_already_upserted_changes_nothing() {
    let mut rx = Rx::new();
    let inv = invoices(&[(false, "1000.00", "OPEN"), (true, "250.50", "OPEN")]);
    let mut csv = sample::invoices_csv(&inv);
    csv.push_str(
        "79999999999999999999;1706002;2-1706-2606/100;P;123;X;1.00;2026-06-20 10:37:20;OPEN\n",
    );
    let e = refused_export(&mut rx, "bad.csv", &csv);
    assert!(e.to_string().contains("line 4"), "{e}");
    let conn = &rx.engine.store.conn;
    assert_eq!(count(conn, "invoices"), 0);
    assert_eq!(count(conn, "imports"), 0);
}

#[test]
fn a_later_export_updates_invoices_and_never_touches_payments() {
    let mut rx = Rx::new();
    let mut inv = invoices(&[(false, "1000.00", "OPEN"), (false, "500.00", "OPEN")]);
    let p = write_export(rx.dir.path(), "a.csv", &sample::invoices_csv(&inv));
    rx.engine.import_invoices(&p).expect("runs").expect("valid");
    let h = rx.process(
        PAY1,
        &pay(
            "001",
            &[
                pay_row("30000000000001", &inv[0], "300.00"),
                pay_row("30000000000002", &inv[1], "500.00"),
            ],
        )
        .zip(Some(&key())),
    );
    assert_eq!(h.statuses.get(&1), Some(&2), "{h:?}");
    let payments = dump(&rx.engine.store.conn, PAYMENTS_SQL);

    inv[0].status = "CANCELLED".into();
    inv[0].amount_due = "2000.00".into();
    inv[1].amount_due = "800.00".into();
    let p = write_export(rx.dir.path(), "b.csv", &sample::invoices_csv(&inv));
    let r = rx.engine.import_invoices(&p).expect("runs").expect("valid");
    assert_eq!(r.changed, 2);
    let conn = &rx.engine.store.conn;
    let row = |no: &str| invoice_row(conn, no);
    assert_eq!(row(&inv[0].no), ("CANCELLED".into(), 200_000, 30_000));
    assert_eq!(row(&inv[1].no), ("OPEN".into(), 80_000, 50_000));
    assert_eq!(dump(conn, PAYMENTS_SQL), payments);

    let h = rx.process(
        PAY2,
        &pay(
            "002",
            &[
                pay_row("30000000000003", &inv[0], "0.01"),
                pay_row("30000000000004", &inv[1], "300.01"),
                pay_row("30000000000005", &inv[1], "300.00"),
            ],
        )
        .zip(Some(&key())),
    );
    let result = rx
        .response_entry("SUDBILLING_MUNIS_PAY_20261121_002_ACK.zip", "result.csv")
        .expect("result");
    let codes: Vec<String> = statuses(&result).into_iter().map(|r| r.2).collect();
    assert_eq!(codes, ["302", "303", "1"], "{h:?}");

    // A later export that leaves an invoice out (README, "Decisions"): §9 updates invoices by
    // `invoice_no` and deletes none, so the one left out stays as it was: known, here fully
    // paid (302, not 4).
    inv[0].status = "OPEN".into();
    let p = write_export(rx.dir.path(), "c.csv", &sample::invoices_csv(&inv[..1]));
    let r = rx.engine.import_invoices(&p).expect("runs").expect("valid");
    assert_eq!(r.changed, 1);
    let conn = &rx.engine.store.conn;
    let row = |no: &str| invoice_row(conn, no);
    assert_eq!(row(&inv[0].no), ("OPEN".into(), 200_000, 30_000));
    assert_eq!(row(&inv[1].no), ("OPEN".into(), 80_000, 80_000));
    rx.process(
        "MUNIS_SUDBILLING_PAY_20261121_003.zip",
        &pay(
            "003",
            &[
                pay_row("30000000000006", &inv[0], "0.01"),
                pay_row("30000000000007", &inv[1], "0.01"),
            ],
        )
        .zip(Some(&key())),
    );
    let result = rx
        .response_entry("SUDBILLING_MUNIS_PAY_20261121_003_ACK.zip", "result.csv")
        .expect("result");
    let codes: Vec<String> = statuses(&result).into_iter().map(|r| r.2).collect();
    assert_eq!(codes, ["1", "302"]);
}

/// An invoice's status, amount due and paid sum, in tiyin.
fn invoice_row(conn: &rusqlite::Connection, no: &str) -> (String, i64, i64) {
    conn.query_row(
        "SELECT status, amount_due, paid FROM invoices_paid WHERE invoice_no=?1",
        [no],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .expect("invoice")
}

fn export_lines(lines: &[&str]) -> String {
    let mut s =
        "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status\r\n"
            .to_string();
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s
}

#[test]
fn an_export_whose_header_differs_names_the_first_field_that_differs() {
    let mut rx = Rx::new();
    let line = "70000000000000000001;1703002;2-1/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;OPEN";
    for (header, what) in [
        (
            "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;Status",
            "field 9 is \"Status\" where the schema has \"status\"",
        ),
        (
            "invoice_no;court_code;case_no",
            "3 fields where the schema has 9, the next being \"payer_type\"",
        ),
        (
            "\"invoice_no\"x;court_code",
            "line 1, header column 1: text after a closing quote",
        ),
    ] {
        let e = refused_export(&mut rx, "h.csv", &format!("{header}\r\n{line}\r\n"));
        assert!(
            e.problems.len() == 1 && e.problems.iter().all(|p| p.contains(what)),
            "{what}: {:?}",
            e.problems
        );
    }
}

#[test]
fn an_export_with_invalid_lines_is_refused_whole_naming_every_line_and_field() {
    let mut rx = Rx::new();
    let inv = invoices(&[(false, "1000.00", "OPEN")]);
    let p = write_export(rx.dir.path(), "good.csv", &sample::invoices_csv(&inv));
    rx.engine.import_invoices(&p).expect("runs").expect("valid");
    let conn = &rx.engine.store.conn;
    let before = (dump(conn, INVOICES_SQL), count(conn, "journal"));
    let pid = &inv[0].payer_id;
    let mut bad_pinfl = pid.clone().into_bytes();
    bad_pinfl[13] = if bad_pinfl[13] == b'9' {
        b'0'
    } else {
        bad_pinfl[13] + 1
    };
    let bad_pinfl = String::from_utf8(bad_pinfl).expect("digits");
    let text = export_lines(&[
        // line 2: an update of the loaded invoice, valid
        &format!(
            "{};1703002;2-1/2026;P;{pid};Karimova Dilnoza;9999.00;2026-10-01 09:00:00;CANCELLED",
            inv[0].no
        ),
        "123;1703002;2-2/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;OPEN", // 3
        "70000000000000000003;1703002;2-3/2026;J;212345678;MChJ;100.00;2026-10-01 09:00:00;OPEN", // 4 ok
        "70000000000000000004;1703002;2-4/2026;P;31210932040247;Ali;abc;2026-10-01 09:00:00;OPEN", // 5
        "70000000000000000005;1703002;2-5/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;CLOSED", // 6
        "70000000000000000006;1703002;2-6/2026;P;31210932040247;;100.00;2026-10-01 09:00:00;OPEN", // 7
        &format!(
            "70000000000000000007;1703002;2-7/2026;P;{bad_pinfl};Ali;100.00;2026-10-01 09:00:00;OPEN"
        ), // 8
        "70000000000000000008;1703002;2-8/2026;P;31210932040247;Ali;100.00;OPEN", // 9: fields
    ]);
    let e = refused_export(&mut rx, "bad.csv", &text);
    let all = e.problems.join("\n");
    for (line, field) in [
        ("line 3", "invoice_no"),
        ("line 5", "amount_due"),
        ("line 6", "status"),
        ("line 7", "payer_name"),
        ("line 8", "payer_id"),
        ("line 9", ""),
    ] {
        assert!(
            e.problems
                .iter()
                .any(|p| p.contains(&format!("{line} ")) || p.contains(&format!("{line},")))
                && e.problems
                    .iter()
                    .any(|p| p.contains(line) && p.contains(field)),
            "{line} {field} named: {all}"
        );
    }
    for ok in ["line 2", "line 4"] {
        assert!(
            !e.problems.iter().any(|p| p.contains(&format!("{ok} "))),
            "{ok} is valid: {all}"
        );
    }
    assert_eq!(e.problems.len(), 6, "{all}");
    let conn = &rx.engine.store.conn;
    assert_eq!(
        (dump(conn, INVOICES_SQL), count(conn, "journal")),
        before,
        "nothing of it is loaded"
    );
}

#[test]
fn an_export_names_every_bad_field_of_a_line_and_every_line_after_a_broken_quote() {
    let mut rx = Rx::new();
    let text = export_lines(&[
        // line 2: text after a closing quote (the CSV rules of §5)
        "\"70000000000000000001\"x;1703002;2-1/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;OPEN",
        // line 3: two bad fields
        "70000000000000000002;;2-2/2026;P;31210932040247;Ali;0.00;2026-10-01 09:00:00;OPEN",
        // line 4: valid
        "70000000000000000003;1703002;2-3/2026;J;212345678;MChJ;100.00;2026-10-01 09:00:00;OPEN",
        // line 5: a broken quote again, then line 6 a bad status
        "70000000000000000005;\"1703002\" ;2-5/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;OPEN",
        "70000000000000000006;1703002;2-6/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;CLOSED",
        // line 7: a bad payer type beside a payer id valid for neither type: both named
        "70000000000000000007;1703002;2-7/2026;X;412345678;Ali;100.00;2026-10-01 09:00:00;OPEN",
        // line 8: a bad payer type beside a valid TIN: only the type is named
        "70000000000000000008;1703002;2-8/2026;X;212345678;MChJ;100.00;2026-10-01 09:00:00;OPEN",
    ]);
    let e = refused_export(&mut rx, "bad.csv", &text);
    let all = e.problems.join("\n");
    for (line, what) in [
        ("line 2, field invoice_no", "closing quote"),
        ("line 3", "court_code"),
        ("line 3", "amount_due"),
        ("line 5, field court_code", "closing quote"),
        ("line 6", "status"),
        ("line 7", "payer_type"),
        ("line 7", "payer_id: neither a valid PINFL nor a valid TIN"),
        ("line 8", "payer_type"),
    ] {
        assert!(
            e.problems
                .iter()
                .any(|p| p.contains(&format!("bad.csv {line}")) && p.contains(what)),
            "{line} {what} named: {all}"
        );
    }
    assert!(!all.contains("line 8 (row 7), field payer_id"), "{all}");
    assert_eq!(e.problems.len(), 8, "{all}");
    assert!(!all.contains("registry.csv"), "the export is named: {all}");
    assert_eq!(
        count(&rx.engine.store.conn, "invoices"),
        0,
        "nothing loaded"
    );
}

#[test]
fn an_export_with_a_field_longer_than_held_names_it_and_every_line_after_it() {
    // §9: every bad line and field is named. A field longer than `max_field_bytes` (1 MiB) is
    // read to its end but not held: a problem of its own line and field, and the lines after
    // it are still judged. Its bytes not held are still checked as UTF-8.
    let mut rx = Rx::new();
    let good =
        "70000000000000000003;1703002;2-3/2026;J;212345678;MChJ;100.00;2026-10-01 09:00:00;OPEN";
    let long = "Ali \"\"aka\"\"\r\n".repeat(200_000); // 3 MB in short lines, quotes doubled
    let mut bad_deep = long.clone().into_bytes();
    let at = bad_deep.len() - 1000;
    bad_deep[at] = 0xFF;
    let bad_deep = String::from_utf8_lossy(&bad_deep).replace('\u{FFFD}', "\u{1}");
    let many = vec!["x"; 100].join(";");
    let text = export_lines(&[
        good,
        // line 3: payer_name far too long, in one quoted field of many lines
        &format!(
            "70000000000000000004;1703002;2-4/2026;J;212345678;\"{long}\";100.00;2026-10-01 09:00:00;OPEN"
        ),
        // the next line after the long record: a bad status
        "70000000000000000005;1703002;2-5/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;CLOSED",
        // a row of 100 fields: its true count is named
        &many,
    ]);
    let lines_of_long = long.matches('\n').count() as u64;
    let status_line = 4 + lines_of_long;
    let e = refused_export(&mut rx, "long.csv", &text);
    let all = e.problems.join("\n");
    assert_eq!(e.problems.len(), 3, "{all}");
    assert!(
        e.problems[0].contains(
            "long.csv line 3 (row 2), field payer_name: payer_name: longer than 1048576 bytes"
        ),
        "{all}"
    );
    assert!(
        e.problems[1].contains(&format!("line {status_line} (row 3), field status")),
        "{all}"
    );
    assert!(
        e.problems[2].contains("row has 100 fields, the header has 9"),
        "{all}"
    );
    assert_eq!(
        count(&rx.engine.store.conn, "invoices"),
        0,
        "nothing loaded"
    );

    // An invalid byte deep inside the long field, past what is held: named as not UTF-8.
    let mut bytes = export_lines(&[&format!(
        "70000000000000000004;1703002;2-4/2026;J;212345678;\"{bad_deep}\";100.00;2026-10-01 09:00:00;OPEN"
    )])
    .into_bytes();
    let at = bytes.iter().position(|&b| b == 1).expect("the marked byte");
    bytes[at] = 0xFF;
    let p = rx.dir.path().join("deep.csv");
    std::fs::write(&p, &bytes).expect("write");
    let e = rx
        .engine
        .import_invoices(&p)
        .expect("runs")
        .expect_err("refused");
    assert_eq!(
        e.problems,
        ["deep.csv line 2, field payer_name: not valid UTF-8"],
        "{:?}",
        e.problems
    );
    // The same long field, valid: refused for its length alone.
    let p = write_export(
        rx.dir.path(),
        "valid-bytes.csv",
        &export_lines(&[&format!(
            "70000000000000000004;1703002;2-4/2026;J;212345678;\"{long}\";100.00;2026-10-01 09:00:00;OPEN"
        )]),
    );
    let e = rx
        .engine
        .import_invoices(&p)
        .expect("runs")
        .expect_err("refused");
    assert_eq!(e.problems.len(), 1, "{:?}", e.problems);
    assert!(
        e.problems[0].contains("field payer_name: payer_name: longer than"),
        "{:?}",
        e.problems
    );
}

#[test]
fn an_export_with_a_repeated_invoice_no_is_refused() {
    let mut rx = Rx::new();
    let inv = invoices(&[(false, "1000.00", "OPEN"), (false, "500.00", "OPEN")]);
    let mut text = sample::invoices_csv(&inv);
    let again = sample::invoices_csv(&inv[..1]);
    text.push_str(again.split_once("\r\n").expect("header").1);
    let e = refused_export(&mut rx, "dup.csv", &text);
    assert!(
        e.problems
            .iter()
            .any(|p| p.contains("line 4") && p.contains("invoice_no")),
        "{:?}",
        e.problems
    );
    assert_eq!(count(&rx.engine.store.conn, "invoices"), 0);
}

#[test]
fn a_repeated_invoice_no_is_named_whatever_else_is_wrong_on_either_line() {
    // §9: invoice_no is unique, and a refused export names every bad line and field: the
    // repeat too, not only once the other faults are mended.
    let mut rx = Rx::new();
    let good = "10000000000000000001;A1;C1;J;212345678;Firma;10.00;2026-01-10 10:00:00;OPEN";
    let bad_tin = "10000000000000000001;A1;C1;J;112345678;Firma;10.00;2026-01-10 10:00:00;OPEN";
    // A line with the wrong number of fields still carries its invoice_no (its key judged
    // alone), before or after the repeat.
    let cut = "10000000000000000001;A1;C1;J;212345678";
    for lines in [[cut, good], [good, cut]] {
        let e = refused_export(&mut rx, "x.csv", &export_lines(&lines));
        assert!(
            e.problems.iter().any(|p| p.starts_with(
                "x.csv line 3 (row 2), field invoice_no: 10000000000000000001 appears twice"
            )),
            "{:?}",
            e.problems
        );
    }
    // Whatever else is wrong on either line, a broken quote included (the invoice_no read
    // before the broken field is the line's), the repeat is named; a line broken in its
    // invoice_no carries none.
    let broken =
        "10000000000000000001;A1;C1;J;212345678;\"Firma\" MChJ;10.00;2026-01-10 10:00:00;OPEN";
    for (lines, want) in [
        (
            [bad_tin, good],
            vec![
                "x.csv line 2 (row 1), field payer_id: payer_id: not a valid TIN for payer type J (202)",
                "x.csv line 3 (row 2), field invoice_no: 10000000000000000001 appears twice",
            ],
        ),
        (
            [good, bad_tin],
            vec![
                "x.csv line 3 (row 2), field invoice_no: 10000000000000000001 appears twice",
                "x.csv line 3 (row 2), field payer_id: payer_id: not a valid TIN for payer type J (202)",
            ],
        ),
        (
            [broken, good],
            vec![
                "x.csv line 2, field payer_name: text after a closing quote",
                "x.csv line 3 (row 2), field invoice_no: 10000000000000000001 appears twice",
            ],
        ),
        (
            [good, broken],
            vec![
                "x.csv line 3 (row 2), field invoice_no: 10000000000000000001 appears twice",
                "x.csv line 3, field payer_name: text after a closing quote",
            ],
        ),
    ] {
        let e = refused_export(&mut rx, "x.csv", &export_lines(&lines));
        assert_eq!(e.problems, want);
    }
    let broken_key =
        "\"10000000000000000001\"0;A1;C1;J;212345678;Firma;10.00;2026-01-10 10:00:00;OPEN";
    let e = refused_export(&mut rx, "x.csv", &export_lines(&[broken_key, good]));
    assert_eq!(
        e.problems,
        ["x.csv line 2, field invoice_no: text after a closing quote"]
    );
    // A malformed number is no repeat: named by its own rule only, on a line with the wrong
    // number of fields too (its key judged alone fails).
    let short = "1000000000000000001;A1;C1;J;212345678;Firma;10.00;2026-01-10 10:00:00;OPEN";
    let short_cut = "1000000000000000001;A1;C1;J;212345678";
    for lines in [[short, short], [short_cut, short_cut]] {
        let e = refused_export(&mut rx, "x.csv", &export_lines(&lines));
        assert_eq!(e.problems.len(), 2, "{:?}", e.problems);
        assert!(
            e.problems.iter().all(|p| !p.contains("appears twice")),
            "{:?}",
            e.problems
        );
    }
    assert_eq!(count(&rx.engine.store.conn, "invoices"), 0);
}

#[test]
fn every_field_of_an_export_line_is_judged_though_some_hold_bytes_not_utf8() {
    let mut rx = Rx::new();
    let mut bytes = export_lines(&[
        "10000000000000000001;A1;C1;J;112345678;Fir#ma;10.00;2026-01-10 10:00:00;OP#EN",
    ])
    .into_bytes();
    for b in bytes.iter_mut().filter(|b| **b == b'#') {
        *b = 0xFF;
    }
    let p = rx.dir.path().join("x.csv");
    std::fs::write(&p, &bytes).expect("write");
    let e = rx
        .engine
        .import_invoices(&p)
        .expect("runs")
        .expect_err("refused");
    assert_eq!(
        e.problems,
        [
            "x.csv line 2 (row 1), field payer_id: payer_id: not a valid TIN for payer type J (202)",
            "x.csv line 2, field payer_name: not valid UTF-8",
            "x.csv line 2, field status: not valid UTF-8",
        ]
    );
}

#[test]
fn an_export_is_utf8_with_the_exact_header_and_the_csv_rules_of_section_5() {
    // §9: invoices.csv is UTF-8, follows the CSV rules of §5 and has exactly this header.
    let good =
        "70000000000000000003;1703002;2-3/2026;J;212345678;MChJ;100.00;2026-10-01 09:00:00;OPEN";
    let mut rx = Rx::new();
    let header =
        "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status";
    for (what, text) in [
        (
            "another header",
            format!("{}\r\n{good}\r\n", header.replace("amount_due", "amount")),
        ),
        (
            "a header in another case",
            format!("{}\r\n{good}\r\n", header.to_uppercase()),
        ),
    ] {
        let e = refused_export(&mut rx, "hdr.csv", &text);
        assert!(
            e.problems.iter().any(|p| p.contains("hdr.csv line 1")),
            "{what}: {:?}",
            e.problems
        );
    }
    // Bytes that are not UTF-8 (a 0xFF; windows-1251 Cyrillic) in a name: refused, naming the
    // line and field.
    for bytes in [&b"\xff"[..], b"\xc0\xeb\xe8"] {
        let mut text = export_lines(&[good]).into_bytes();
        let at = text
            .windows(4)
            .position(|w| w == b"MChJ")
            .expect("payer_name");
        text.splice(at..at, bytes.iter().copied());
        let p = rx.dir.path().join("bytes.csv");
        std::fs::write(&p, &text).expect("write");
        let e = rx
            .engine
            .import_invoices(&p)
            .expect("runs")
            .expect_err("refused");
        assert!(
            e.problems
                .iter()
                .any(|p| p.contains("line 2") && p.contains("payer_name")),
            "{:?}",
            e.problems
        );
    }
    // A blank line is a row of one field (§5); a quote still open at the end is unreadable.
    let e = refused_export(
        &mut rx,
        "blank.csv",
        &format!("{}\r\n", export_lines(&[good])),
    );
    assert!(
        e.problems.iter().any(|p| p.contains("line 3")),
        "{:?}",
        e.problems
    );
    let open = export_lines(&[good]) + "70000000000000000004;\"1703002;x";
    let e = refused_export(&mut rx, "open.csv", &open);
    assert!(
        e.problems.iter().any(|p| p.contains("still open")),
        "{:?}",
        e.problems
    );
    assert_eq!(
        count(&rx.engine.store.conn, "invoices"),
        0,
        "nothing loaded"
    );
    // A BOM before the header, and a quoted name holding ';', '""' and a line break: loaded,
    // the name exactly as quoted.
    let quoted = "70000000000000000005;1703002;2-5/2026;J;212345678;\"MChJ \"\"A;B\"\"\r\nikkinchi\";1.00;2026-10-01 09:00:00;OPEN";
    let text = format!("\u{feff}{}", export_lines(&[good, quoted]));
    let p = write_export(rx.dir.path(), "bom.csv", &text);
    let r = rx.engine.import_invoices(&p).expect("runs").expect("valid");
    assert_eq!(r.rows, 2);
    let name: String = rx
        .engine
        .store
        .conn
        .query_row(
            "SELECT payer_name FROM invoices WHERE invoice_no='70000000000000000005'",
            [],
            |r| r.get(0),
        )
        .expect("loaded");
    assert_eq!(name, "MChJ \"A;B\"\r\nikkinchi");
}

#[test]
fn a_redelivered_acknowledged_batch_changes_no_payment_and_no_balance() {
    // §1: delivered again, a processed batch is not applied twice; its ACK comes back.
    let (mut rx, inv) = receiver_with(&[(false, "1000.00", "OPEN"), (true, "500.00", "OPEN")]);
    let b = pay(
        "001",
        &[
            pay_row("300000000000001", &inv[0], "400.00"),
            pay_row("300000000000002", &inv[1], "500.00"),
        ],
    );
    let z = b.zip(Some(&batches::key()));
    let first = rx.process(&b.file_name(), &z);
    assert_eq!(first.result, "ACK");
    let response = first.response.clone().expect("response");
    let sent = rx.response(&response);
    let state = |rx: &Rx| {
        let conn = &rx.engine.store.conn;
        (
            dump(conn, "SELECT * FROM payments ORDER BY payment_id"),
            dump(conn, "SELECT * FROM invoices_paid ORDER BY invoice_no"),
        )
    };
    let before = state(&rx);
    assert_eq!(before.0.len(), 2);
    let again = rx.process(&b.file_name(), &z);
    assert_eq!(again.result, "RESENT");
    assert_eq!(rx.response(&response), sent);
    assert_eq!(state(&rx), before);
}

#[test]
fn balances_edited_to_the_ends_of_i64_never_overflow_a_batch() {
    // Balances are read back from the store: edited to i64::MIN, the outstanding amount
    // (due less paid) once overflowed, and so did a reversal taking a payment off.
    let (mut rx, inv) = receiver_with(&[(false, "1000.00", "OPEN"), (false, "1000.00", "OPEN")]);
    let b = pay("001", &[pay_row("300000000000002", &inv[1], "400.00")]);
    assert_eq!(
        rx.process(&b.file_name(), &b.zip(Some(&batches::key())))
            .result,
        "ACK"
    );
    let edit = |rx: &Rx, no: &str, paid: i64| {
        rx.engine
            .store
            .conn
            .execute(
                "INSERT INTO balances(invoice_no, paid) VALUES (?1, ?2)
                   ON CONFLICT(invoice_no) DO UPDATE SET paid = excluded.paid",
                rusqlite::params![no, paid],
            )
            .expect("edit");
    };
    let paid = |rx: &Rx, no: &str| -> i64 {
        rx.engine
            .store
            .conn
            .query_row(
                "SELECT paid FROM balances WHERE invoice_no = ?1",
                [no],
                |r| r.get(0),
            )
            .expect("balance")
    };
    // Reversed, read one by one or from a table of every invoice read once: refused, the
    // archive left in the inbox (SQLite, adding in the store, made the sum a real number).
    edit(&rx, &inv[1].no, i64::MIN + 1);
    let rev = Batch::new(
        BatchType::REV,
        "001",
        Charset::Utf8,
        &sample::REV_HEADER,
        &[vec![
            "300000000000002".into(),
            "2026-11-21 22:00:00".into(),
            "400.00".into(),
            "Xato".into(),
        ]],
        2,
    );
    for read_all in [0, u64::MAX] {
        rx.engine.read_all_min_rows = read_all;
        rx.drop_in(&rev.file_name(), &rev.zip(Some(&batches::key())));
        let out = rx.engine.run();
        let e = out.error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains(&format!(
                "invoice {}: its paid amount leaves the range of a 64-bit integer",
                inv[1].no
            )),
            "{e:?}"
        );
        assert_eq!(rx.inbox(), [rev.file_name()]);
        assert_eq!(paid(&rx, &inv[1].no), i64::MIN + 1);
    }
    std::fs::remove_file(rx.engine.cfg.inbox.join(rev.file_name())).expect("taken out");
    // Paid, read one by one or all at once: what the books say is outstanding, in full.
    for (seq, read_all, id) in [
        ("002", 0, "300000000000003"),
        ("003", u64::MAX, "300000000000004"),
    ] {
        edit(&rx, &inv[0].no, i64::MIN);
        rx.engine.read_all_min_rows = read_all;
        let b = pay(seq, &[pay_row(id, &inv[0], "400.00")]);
        let h = rx.process(&b.file_name(), &b.zip(Some(&batches::key())));
        assert_eq!(h.result, "ACK", "{h:?}");
        assert_eq!(h.statuses.get(&1), Some(&1), "{h:?}");
        assert_eq!(paid(&rx, &inv[0].no), i64::MIN + 40_000);
    }
}

#[test]
fn a_key_file_not_of_64_hex_digits_is_refused_naming_it() {
    // §6: the key is exchanged as a file holding 64 hex digits (32 bytes).
    let dir = tempfile::tempdir().expect("dir");
    let keyp = dir.path().join("MUNIS.key");
    let cfgp = dir.path().join("reestr.toml");
    std::fs::write(&cfgp, config_text(MUNIS_WITH_KEY)).expect("config");
    let good = String::from_utf8(reference("MUNIS.key")).expect("hex");
    let hex = good.trim();
    assert_eq!(hex.len(), 64);
    for bad in [
        hex[..63].to_string(),
        format!("{hex}0"),
        format!("{hex}\n{hex}\n"),
        format!("{}g", &hex[..63]),
    ] {
        std::fs::write(&keyp, &bad).expect("key");
        set_mode(&keyp, 0o600);
        let e = Config::load(&cfgp).expect_err("refused").to_string();
        assert!(e.contains(&keyp.display().to_string()), "{e}");
        let o = reestr_cmd(&cfgp, &["run"]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    }
    // The key as delivered, with or without one line end, loads.
    for ok in [hex.to_string(), format!("{hex}\n")] {
        std::fs::write(&keyp, &ok).expect("key");
        Config::load(&cfgp).expect("loads");
    }
}

// ----- audit verify --------------------------------------------------------------------------

/// A receiver with a history: an import, an ACK, a NAK, a set-aside file, another ACK.
fn with_history() -> Rx {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    assert_eq!(rx.process(PAY1, &reference(PAY1)).result, "ACK");
    assert_eq!(rx.process(PAY4, &reference(PAY4)).result, "NAK");
    assert_eq!(
        rx.process("payments.zip", b"not an archive").result,
        "SET_ASIDE"
    );
    assert_eq!(rx.process(PAY2, &reference(PAY2)).result, "ACK");
    let (problems, n) = rx.engine.audit().expect("audit");
    assert!(problems.is_empty(), "clean after a run: {problems:?}");
    assert_eq!(n, 5);
    let last: String = rx
        .engine
        .store
        .conn
        .query_row("SELECT kind FROM journal WHERE seq=5", [], |r| r.get(0))
        .expect("last");
    assert_eq!(last, "delivery");
    rx
}

/// Runs `sql` on the receiver's store, as someone editing it by hand would; how many rows
/// it changed.
fn edit_store(rx: &Rx, sql: &str) -> usize {
    rx.engine
        .store
        .conn
        .execute(sql, [])
        .expect("edit the store")
}

/// Runs `sql` on the journal, then recomputes every entry's hash as the engine does: the
/// journal rewritten consistently, as whoever can write the data folder can.
fn rewrite_journal(rx: &Rx, sql: &str) {
    edit_store(rx, sql);
    let entries: Vec<(i64, String, String, String)> = {
        let mut st = rx
            .engine
            .store
            .conn
            .prepare("SELECT seq, kind, recorded_at, body FROM journal ORDER BY seq")
            .expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let mut prev = reestr::journal::GENESIS.to_string();
    for (seq, kind, at, body) in entries {
        let hash = sha256_hex(format!("{seq}\n{prev}\n{kind}\n{at}\n{body}").as_bytes());
        rx.engine
            .store
            .conn
            .execute(
                "UPDATE journal SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
                rusqlite::params![prev, hash, seq],
            )
            .expect("rewrite");
        prev = hash;
    }
}

/// SECURITY, "What it does not defend against": whoever can write the data folder can rewrite
/// the journal consistently, the chain recomputed, and the audit finds nothing; an anchor
/// (`SEQ:HASH`, the head copied elsewhere earlier) finds it. An anchor of an entry removed is
/// named too; anchors of the journal as it is hold.
#[test]
fn an_anchor_copied_elsewhere_finds_a_journal_rewritten_consistently() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    assert_eq!(rx.process(PAY1, &reference(PAY1)).result, "ACK");
    let first = rx.engine.journal_head().expect("head").expect("entries");
    assert_eq!(first.seq, 2);
    assert_eq!(rx.process(PAY4, &reference(PAY4)).result, "NAK");
    let head = rx.engine.journal_head().expect("head").expect("entries");
    assert_eq!(head.seq, 3);
    let parsed: reestr::journal::Anchor =
        head.to_string().to_uppercase().parse().expect("SEQ:HASH");
    assert_eq!(parsed, head, "read back from its text, in either case");
    assert!(
        rx.engine
            .against_anchors(&[first.clone(), head.clone()])
            .expect("anchors")
            .is_empty()
    );
    // The first entry's time edited, and every hash after it recomputed as the engine does.
    rewrite_journal(
        &rx,
        "UPDATE journal SET recorded_at = '2026-01-01T00:00:00Z' WHERE seq = 1",
    );
    assert_eq!(problems(&rx), Vec::<String>::new(), "a consistent rewrite");
    let found = rx
        .engine
        .against_anchors(&[first.clone(), head.clone()])
        .expect("anchors");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("journal entry 2 has hash ")
            && found[0].ends_with(&format!(
                ", the anchor {first} another: the journal was rewritten up to that entry, or the anchor is of another data folder"
            )),
        "{found:?}"
    );
    // An anchored entry removed.
    let later = reestr::journal::Anchor {
        seq: 4,
        hash: "ab".repeat(32),
    };
    assert_eq!(
        rx.engine
            .against_anchors(std::slice::from_ref(&later))
            .expect("anchors"),
        [format!(
            "journal entry 4 is not in the journal, though anchored ({later}): entries were removed, or the anchor is of another data folder"
        )]
    );
    for bad in ["3", "0:{h}", "x:{h}", "3:{h}0", "3:{g}"] {
        let text = bad
            .replace("{h}", &"a".repeat(64))
            .replace("{g}", &"g".repeat(64));
        assert!(text.parse::<reestr::journal::Anchor>().is_err(), "{text}");
    }
}

fn problems(rx: &Rx) -> Vec<String> {
    rx.engine.audit().expect("audit").0
}

#[test]
fn audit_takes_the_kept_copy_of_an_archive_still_in_the_inbox_for_a_batch_in_hand() {
    // A run keeps the archive before it applies it, and journals it when it commits; an audit
    // in between (or after a run that stopped there) finds the copy named by no entry. While
    // the archive is in the inbox, that is a batch in hand, not tampering.
    let rx = with_history();
    let bytes = reference(PAY3);
    rx.drop_in(PAY3, &bytes);
    let kept = rx
        .engine
        .layout
        .received()
        .join(format!("{}.zip", common::sha256_hex(&bytes)));
    std::fs::write(&kept, &bytes).expect("kept copy");
    let p = problems(&rx);
    assert!(p.is_empty(), "a batch in hand: {p:?}");
    // Once the archive has left the inbox with no entry naming its copy, the copy is reported.
    std::fs::remove_file(rx.engine.cfg.inbox.join(PAY3)).expect("taken out");
    let p = problems(&rx);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("received/") && p[0].contains("named by no journal entry"),
        "{p:?}"
    );
    // A file planted beside it is reported whatever the inbox holds.
    rx.drop_in(PAY3, &bytes);
    std::fs::write(rx.engine.layout.received().join("planted.zip"), b"x").expect("planted");
    let p = problems(&rx);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("received/planted.zip"), "{p:?}");
}

/// A store whose invoices cannot be read (a column renamed by hand) is audited all the same:
/// the audit says the invoices were not checked against the kept exports, and goes on to
/// rebuild the books, which the edit left as they were.
#[test]
fn audit_of_a_store_whose_invoices_cannot_be_read_says_so_and_still_rebuilds_the_books() {
    let rx = with_history();
    edit_store(
        &rx,
        "ALTER TABLE invoices RENAME COLUMN case_no TO case_number",
    );
    let said = "invoices not checked against the kept exports: store: no such column: case_no in SELECT invoice_no, court_code, case_no, payer_type, payer_id, payer_name, amount_due, issued_at, status, import_seq FROM invoices ORDER BY invoice_no at offset 31";
    assert_eq!(problems(&rx), [said]);
    assert_eq!(rebuilt(&rx), (vec![said.to_string()], Some(2)));
}

/// `audit verify --rebuild`: the problems, and how many batches were judged again.
fn rebuilt(rx: &Rx) -> (Vec<String>, Option<u64>) {
    let (p, _, judged) = rx.engine.audit_with(true).expect("audit");
    (p, judged.map(|j| j.judged))
}

/// Runs `edit` on the store, then both audits (without and with `--rebuild`), then undoes it.
fn audits_after(rx: &Rx, edit: &str) -> (Vec<String>, Vec<String>) {
    let conn = &rx.engine.store.conn;
    conn.execute_batch(&format!("BEGIN; {edit}")).expect("edit");
    let found = (problems(rx), rebuilt(rx).0);
    conn.execute_batch("ROLLBACK").expect("undo");
    found
}

#[test]
fn audit_rebuilding_the_books_from_the_kept_evidence_finds_edits_that_keep_every_sum() {
    let mut rx = with_history();
    assert_eq!(rx.process(REV1, &reference(REV1)).result, "ACK");
    let (p, judged) = rebuilt(&rx);
    assert!(p.is_empty(), "clean: {p:?}");
    assert_eq!(judged, Some(3), "PAY 001, PAY 002 and the REV; not the NAK");
    // A paid payment of the first batch, and another invoice.
    let conn = &rx.engine.store.conn;
    let (pid, from, amount): (String, String, i64) = conn
        .query_row(
            "SELECT payment_id, invoice_no, amount FROM payments WHERE state='PAID' ORDER BY payment_id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("a payment");
    let to: String = conn
        .query_row(
            "SELECT invoice_no FROM invoices WHERE invoice_no <> ?1 ORDER BY invoice_no LIMIT 1",
            [&from],
            |r| r.get(0),
        )
        .expect("another invoice");
    // Moved to another invoice with the balances moved too: every count, sum and balance holds.
    let (plain, deep) = audits_after(
        &rx,
        &format!(
            "UPDATE payments SET invoice_no='{to}' WHERE payment_id='{pid}';
             UPDATE balances SET paid = paid - {amount} WHERE invoice_no='{from}';
             INSERT INTO balances(invoice_no, paid) VALUES ('{to}', {amount})
               ON CONFLICT(invoice_no) DO UPDATE SET paid = paid + {amount};"
        ),
    );
    assert!(plain.is_empty(), "the sums cannot see it: {plain:?}");
    assert_eq!(
        deep,
        [format!(
            "payment {pid}: invoice_no is \"{to}\" where the kept archives give \"{from}\""
        )]
    );
    // A payer's name changed.
    let (plain, deep) = audits_after(
        &rx,
        &format!("UPDATE payments SET payer_name='X' WHERE payment_id='{pid}';"),
    );
    assert!(plain.is_empty(), "{plain:?}");
    assert_eq!(deep.len(), 1, "{deep:?}");
    assert!(
        deep[0].starts_with(&format!("payment {pid}: payer_name is \"X\" where")),
        "{deep:?}"
    );
    // Reversed by hand, its balance lowered: the plain audit sees a state no reversal gives,
    // the rebuilt books the payment that no REV reversed.
    let (plain, deep) = audits_after(
        &rx,
        &format!(
            "UPDATE payments SET state='REVERSED' WHERE payment_id='{pid}';
             UPDATE balances SET paid = paid - {amount} WHERE invoice_no='{from}';"
        ),
    );
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert!(
        plain[0].starts_with(&format!("payment(s) {pid}: "))
            && plain[0].contains("REVERSED with no reversal recorded"),
        "{plain:?}"
    );
    assert_eq!(
        deep.last().map(String::as_str),
        Some(
            format!("payment {pid}: state is \"REVERSED\" where the kept archives give \"PAID\"")
                .as_str()
        ),
        "{deep:?}"
    );
    // A payment removed with its balance: the count of its batch no longer matches, and the
    // rebuilt books name it.
    let (_, deep) = audits_after(
        &rx,
        &format!(
            "DELETE FROM payments WHERE payment_id='{pid}';
             UPDATE balances SET paid = paid - {amount} WHERE invoice_no='{from}';"
        ),
    );
    assert!(
        deep.contains(&format!(
            "payment {pid}: applied by a kept archive, missing from the store"
        )),
        "{deep:?}"
    );
    // And the store is as it was.
    assert!(rebuilt(&rx).0.is_empty());
}

#[test]
fn audit_rebuilding_the_books_reports_a_kept_export_that_no_longer_loads_as_a_finding() {
    let rx = with_history();
    let imports = rx.engine.layout.imports();
    let kept = common::list(&imports);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let p = imports.join(&kept[0]);
    set_mode(&p, 0o600);
    std::fs::write(&p, "not;an;export\r\n").expect("edit");
    let (problems, judged) = rebuilt(&rx);
    assert_eq!(judged, Some(0));
    assert!(
        problems
            .iter()
            .any(|m| m.starts_with("the books were not rebuilt past journal entry 1: ")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|m| m.contains("bytes changed")),
        "the chain's walk names the file too: {problems:?}"
    );
}

#[test]
fn audit_rebuilding_the_books_says_when_a_batch_is_no_longer_answered_as_it_was() {
    let rx = with_history();
    // The journaled policy of the first ACK made stricter: judged again, it is a NAK (its
    // registry has longer lines than this), and its payments are then applied by nothing.
    let n = edit_store(
        &rx,
        "UPDATE journal SET body = json_set(body, '$.policy.limits.max_line_bytes', 10) WHERE seq = 2",
    );
    assert_eq!(n, 1);
    let (p, _) = rebuilt(&rx);
    assert!(
        p.iter().any(|m| m.starts_with(&format!(
            "{PAY1}: journal entry 2 answered it ACK; judged again it is NAK B02"
        ))),
        "{p:?}"
    );
    assert!(
        p.iter().any(|m| m.contains("applied by no kept archive")),
        "{p:?}"
    );
}

/// `audit verify --rebuild` judges `judged` batches again and finds `first`, then each payment
/// of the reference batch in the store and applied by no kept archive.
fn assert_rebuilt_with_reference_payments_unapplied(
    rx: &Rx,
    judged: Option<u64>,
    first: Vec<String>,
) {
    let mut want = first;
    want.extend(common::batches::pay_rows().iter().map(|row| {
        format!(
            "payment {}: in the store, applied by no kept archive",
            row[0]
        )
    }));
    assert_eq!(rebuilt(rx), (want, judged));
}

/// A receiver holding the reference invoices that has answered the reference batch ACK: the
/// receiver, the batch and its archive's bytes.
fn reference_batch_acked() -> (Rx, reestr::sample::Batch, Vec<u8>) {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    let b = common::batches::batch();
    let bytes = b.zip(Some(&common::batches::key()));
    assert_eq!(rx.process(&b.file_name(), &bytes).result, "ACK");
    (rx, b, bytes)
}

/// A batch judged again as a NAK applies none of its rows to the rebuilt books, though they
/// were reconciled before the NAK was found: an ACK's kept copy replaced by the same rows
/// declaring another total (B08, found after the last row), its payments are in the store
/// only.
#[test]
fn audit_rebuilding_the_books_applies_no_row_of_a_batch_judged_again_a_nak() {
    let (rx, b, bytes) = reference_batch_acked();
    let key = common::batches::key();
    let mut wrong_total = common::batches::batch();
    wrong_total.amount_total += 1;
    let kept = rx
        .engine
        .layout
        .received()
        .join(format!("{}.zip", sha256_hex(&bytes)));
    set_mode(&kept, 0o600);
    std::fs::write(&kept, wrong_total.zip(Some(&key))).expect("edit");
    assert_rebuilt_with_reference_payments_unapplied(
        &rx,
        Some(1),
        vec![
            format!(
                "kept file received/{}.zip (journal entry 2): bytes changed",
                sha256_hex(&bytes)
            ),
            format!(
                "{}: journal entry 2 answered it ACK; judged again it is NAK B08 (control.txt line 10, key amount_total: 493000.01 but the amounts in registry.csv sum to 493000.00)",
                b.file_name()
            ),
        ],
    );
}

/// An ACK of a type no schema in force adds, whose entry does not say the role its rows had
/// (`reconciled_as` taken out of a journal rewritten by hand), cannot be judged again: the
/// rebuild stops there, saying so, rather than going on without its payments. (The journal's
/// check, reading its type from its name, finds its payments pointing at an entry that applied
/// none.)
#[test]
fn audit_rebuilding_the_books_stops_at_an_ack_of_a_removed_type_journaled_without_its_role() {
    let (mut rx, fee, header) = fee_receiver();
    let mut row = common::batches::pay_rows()[0].clone();
    row.push("DUTY".into());
    let b = Batch::new(fee, "001", Charset::Utf8, &header, &[row], 6);
    let h = rx.process(&b.file_name(), &b.zip(Some(&common::batches::key())));
    assert_eq!(h.result, "ACK", "{h:?}");
    std::fs::remove_file(rx.dir.path().join("schemas/FEE.json")).expect("remove");
    let config = std::fs::read_to_string(rx.config_path()).expect("config");
    std::fs::write(rx.config_path(), config.replace(", \"FEE\"", "")).expect("config");
    let cfg = Config::load(&rx.config_path()).expect("config loads");
    let rx = Rx {
        engine: Engine::open(cfg).expect("open"),
        dir: rx.dir,
    };
    assert_eq!(
        rebuilt(&rx),
        (vec![], Some(1)),
        "judged under its kept schema"
    );
    rewrite_journal(
        &rx,
        "UPDATE journal SET body = json_remove(body, '$.reconciled_as') WHERE seq = 2",
    );
    let (p, judged) = rebuilt(&rx);
    assert_eq!(judged, Some(0));
    assert_eq!(
        p,
        [
            "payments point at 1 journal entr(y/ies) that applied or reversed no payments",
            "the books were not rebuilt past journal entry 2: MUNIS_SUDBILLING_FEE_20261121_001.zip was judged under another schema than the one in force (its type has no schema in force); with that one configured, the rebuild judges it again",
        ]
    );
}

/// An ACK whose journaled name is not of the form (rewritten by hand) is no batch of a type
/// whose schema went: the delivery row's check names the edit, and the rebuild goes on past
/// it, its payments applied by no kept archive.
#[test]
fn audit_rebuilding_the_books_goes_past_an_ack_whose_journaled_name_is_not_of_the_form() {
    let (rx, b, _) = reference_batch_acked();
    rewrite_journal(
        &rx,
        "UPDATE journal SET body = json_set(body, '$.inbound_name', 'payments.zip') WHERE seq = 2",
    );
    assert_rebuilt_with_reference_payments_unapplied(
        &rx,
        Some(0),
        vec![format!(
            "deliveries row 1 (journal entry 2): inbound_name is \"{}\" where the journal has \"payments.zip\"",
            b.file_name()
        )],
    );
}

#[test]
fn audit_rebuilding_the_books_judges_each_statement_against_the_books_of_its_moment() {
    let mut rx = with_history();
    for name in [PAY3, REV1, REC1] {
        assert_eq!(rx.process(name, &reference(name)).result, "ACK", "{name}");
    }
    let (p, judged) = rebuilt(&rx);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(judged, Some(5), "PAY 001-003, the REV and the REC");
    // The statement's response as journaled no longer the one its books give.
    let seq: i64 = rx
        .engine
        .store
        .conn
        .query_row(
            "SELECT journal_seq FROM deliveries WHERE batch_id = ?1",
            [REC1.trim_end_matches(".zip")],
            |r| r.get(0),
        )
        .expect("the REC's entry");
    let (_, deep) = audits_after(
        &rx,
        &format!(
            "UPDATE journal SET body = json_set(body, '$.response_sha256', '{}') WHERE seq = {seq};",
            "0".repeat(64)
        ),
    );
    assert!(
        deep.contains(&format!(
            "{REC1}: judged again, its response differs from the one sent (journal entry {seq}; `reestr replay` shows how)"
        )),
        "{deep:?}"
    );
}

#[test]
fn audit_finds_a_release_whose_entry_was_removed() {
    let mut rx = with_history();
    let r = reestr::status::release(&mut rx.engine, "payments.zip", None).expect("release");
    assert_eq!(r.released_as, "payments.zip");
    let p = problems(&rx);
    assert!(p.is_empty(), "clean after a release: {p:?}");
    // The release is the last entry: removing it breaks no link of the chain.
    let n = edit_store(
        &rx,
        "DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal) AND kind = 'release'",
    );
    assert_eq!(n, 1);
    let p = problems(&rx);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("\"payments.zip\"") && p[0].contains("no journal entry records its release"),
        "{p:?}"
    );
}

#[test]
fn audit_finds_a_journaled_release_whose_row_was_set_back_to_not_released() {
    let mut rx = with_history();
    reestr::status::release(&mut rx.engine, "payments.zip", None).expect("release");
    assert!(problems(&rx).is_empty(), "clean after a release");
    // The row edited back, as if never released; the release entry (6) stays.
    let n = edit_store(
        &rx,
        "UPDATE set_aside SET state = 'done' WHERE state = 'released'",
    );
    assert_eq!(n, 1);
    assert_eq!(
        problems(&rx),
        [
            "set_aside row 1 (\"payments.zip\"): journal entry 6 records its release, but its state is \"done\""
        ]
    );
}

#[test]
fn audit_finds_an_edited_entry() {
    let rx = with_history();
    let n = edit_store(
        &rx,
        "UPDATE journal SET body = replace(body, '\"ACK\"', '\"NAK\"') WHERE seq=2",
    );
    assert_eq!(n, 1);
    let p = problems(&rx);
    assert!(p.iter().any(|m| m.contains("entry 2")), "{p:?}");
}

#[test]
fn audit_finds_a_deleted_middle_entry() {
    let rx = with_history();
    rx.engine
        .store
        .conn
        .execute("DELETE FROM journal WHERE seq=3", [])
        .expect("delete");
    let p = problems(&rx);
    assert!(p.iter().any(|m| m.contains("entry 3")), "{p:?}");
}

#[test]
fn audit_finds_a_deleted_last_entry() {
    let rx = with_history();
    rx.engine
        .store
        .conn
        .execute("DELETE FROM journal WHERE seq=5", [])
        .expect("delete");
    let p = problems(&rx);
    assert!(p.iter().any(|m| m.contains("deliveries")), "{p:?}");
}

#[test]
fn a_journal_entry_numbered_the_largest_sequence_number_is_reported_and_never_followed() {
    // Sequence numbers are read back from the store: an edited last entry numbered i64::MAX
    // once overflowed the audit's walk, and the number of the next entry (a run in release
    // journaled it as i64::MIN, silently).
    let mut rx = with_history();
    edit_store(
        &rx,
        "UPDATE journal SET seq = 9223372036854775807 WHERE seq = 5",
    );
    let p = problems(&rx);
    assert!(
        p.iter()
            .any(|m| m == "journal entry 5 is missing (next found is 9223372036854775807)"),
        "{p:?}"
    );
    // No entry can follow it: the run fails and the archive stays in the inbox.
    rx.drop_in(PAY3, &reference(PAY3));
    let out = rx.engine.run();
    let e = out.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.contains("journal entry 9223372036854775807 is the last number an entry can have"),
        "{e:?}"
    );
    let conn = &rx.engine.store.conn;
    let seqs: (i64, i64) = conn
        .query_row("SELECT min(seq), count(*) FROM journal", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("journal");
    assert_eq!(seqs, (1, 5));
    assert_eq!(rx.inbox(), [PAY3]);
}

#[test]
fn the_metrics_sum_the_journaled_row_counts_exactly_whatever_their_size() {
    // The journal's bodies are read back from the store: two counts of i64::MAX once
    // overflowed the sum.
    let rx = with_history();
    let n = edit_store(
        &rx,
        "UPDATE journal SET body = json_set(body, '$.statuses.\"1\"', 9223372036854775807) WHERE kind = 'delivery' AND json_extract(body, '$.statuses.\"1\"') IS NOT NULL",
    );
    assert_eq!(n, 2, "PAY 001 and PAY 002");
    let text = reestr::metrics::render(&rx.engine, 0.0, true).expect("metrics");
    assert!(
        text.lines()
            .any(|l| l == "reestr_rows_total{status=\"1\"} 18446744073709551614"),
        "{text}"
    );
}

#[test]
fn audit_finds_two_swapped_entries() {
    let rx = with_history();
    rx.engine
        .store
        .conn
        .execute_batch(
            "UPDATE journal SET seq=-2 WHERE seq=2; UPDATE journal SET seq=2 WHERE seq=3;
             UPDATE journal SET seq=3 WHERE seq=-2;",
        )
        .expect("swap");
    assert!(!problems(&rx).is_empty());
    // Swapped content under the same numbers (hashes moved along) is found too.
    let rx = with_history();
    rx.engine
        .store
        .conn
        .execute_batch(
            "CREATE TEMP TABLE j AS SELECT * FROM journal WHERE seq IN (2,3);
             UPDATE journal SET (recorded_at, kind, body, prev_hash, hash) =
               (SELECT recorded_at, kind, body, prev_hash, hash FROM j WHERE j.seq = 5 - journal.seq)
             WHERE seq IN (2,3);",
        )
        .expect("swap");
    assert!(!problems(&rx).is_empty());
}

#[test]
fn audit_finds_a_kept_file_whose_bytes_changed() {
    for dir in ["received", "sent", "set-aside", "imports"] {
        let rx = with_history();
        let d = rx.engine.layout.root.join(dir);
        let name = list(&d)
            .into_iter()
            .find(|n| !n.contains("reason"))
            .expect("a kept file");
        let p = d.join(&name);
        let mut b = read(&p);
        b.push(b'\n');
        std::fs::write(&p, b).expect("tamper");
        let p = problems(&rx);
        assert!(
            p.iter().any(|m| m.contains(&name) && m.contains("changed")),
            "{dir}/{name}: {p:?}"
        );
    }
}

// ----- keys -----------------------------------------------------------------------------------

#[test]
fn a_key_file_others_may_change_is_refused_and_one_they_may_read_is_used_with_a_warning() {
    let dir = tempfile::tempdir().expect("dir");
    let keyp = dir.path().join("MUNIS.key");
    std::fs::write(&keyp, reference("MUNIS.key")).expect("key");
    set_mode(&keyp, 0o664);
    let cfgp = dir.path().join("reestr.toml");
    std::fs::write(&cfgp, config_text(MUNIS_WITH_KEY)).expect("config");
    let e = Config::load(&cfgp).expect_err("refused").to_string();
    assert!(e.contains(&keyp.display().to_string()), "{e}");
    assert!(e.contains("0600"), "{e}");
    assert!(e.contains("0664"), "{e}");
    let o = reestr_cmd(&cfgp, &["run"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    // Read-only for everyone, as the partner's reference key comes: used, with a warning.
    set_mode(&keyp, 0o444);
    let o = reestr_cmd(&cfgp, &["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let warned = stderr(&o);
    assert!(
        warned.contains("0444") && warned.contains("chmod 600") && warned.contains("MUNIS.key"),
        "{warned}"
    );
    assert!(!warned.contains(String::from_utf8_lossy(&reference("MUNIS.key")).trim()));
    // With the owner's mode alone it loads without a word.
    set_mode(&keyp, 0o600);
    let o = reestr_cmd(&cfgp, &["status"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("chmod"), "{}", stderr(&o));
}

#[test]
fn the_key_never_appears_in_the_output_even_at_trace_level() {
    let cli = Cli::new();
    let key_hex = String::from_utf8(reference("MUNIS.key"))
        .expect("ascii")
        .trim()
        .to_string();
    let imp = cli.run(&["invoices", "import", &reference_path("invoices.csv")]);
    assert_eq!(imp.status.code(), Some(0), "{}", stderr(&imp));
    for n in [PAY1, PAY2, "MUNIS_SUDBILLING_PAY_20261121_006.zip"] {
        std::fs::write(cli.path("inbox").join(n), reference(n)).expect("drop");
    }
    let mut outputs = Vec::new();
    for args in [&["run"][..], &["run", "--json"][..]] {
        let o = Command::new(env!("CARGO_BIN_EXE_reestr"))
            .arg("--config")
            .arg(cli.config())
            .args(args)
            .env("REESTR_LOG", "trace")
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        outputs.push(o);
        for n in [PAY1, PAY2] {
            std::fs::write(cli.path("inbox").join(n), reference(n)).expect("again");
        }
    }
    let o = cli.run(&["replay", &reference_path(PAY1), "--out", "replayed"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    outputs.push(o);
    let o = cli.run(&["check", &reference_path(PAY2)]);
    outputs.push(o);
    let all: String = outputs
        .iter()
        .map(|o| format!("{}{}", stdout(o), stderr(o)))
        .collect();
    assert!(all.contains("B05"), "the run happened: {all}");
    assert!(!all.to_lowercase().contains(&key_hex.to_lowercase()));
    let db = read(&cli.path("var/reestr.db"));
    assert!(
        !db.windows(key_hex.len()).any(|w| w == key_hex.as_bytes()),
        "the store holds no key"
    );
}

// ----- the command line -------------------------------------------------------------------------

fn reestr_cmd(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reestr"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("REESTR_LOG")
        .output()
        .expect("reestr runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn reference_path(name: &str) -> String {
    reference_dir().join(name).display().to_string()
}

/// A receiver folder driven through the binary (relative paths, current folder = the folder).
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let keyp = dir.path().join("MUNIS.key");
        std::fs::write(&keyp, reference("MUNIS.key")).expect("key");
        set_mode(&keyp, 0o600);
        std::fs::write(dir.path().join("reestr.toml"), config_text(MUNIS_WITH_KEY))
            .expect("config");
        let cli = Self { dir };
        let o = cli.run(&["init"]);
        assert_eq!(o.status.code(), Some(0), "init: {}", stderr(&o));
        cli
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("reestr.toml")
    }

    /// Rewrites the configuration: the receiver, these settings, and partner MUNIS with its key.
    fn reconfigure(&self, settings: &str) {
        std::fs::write(self.config(), settings_text(settings)).expect("config");
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `reestr` with these arguments, in the receiver's folder and with its configuration.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_reestr"));
        c.current_dir(self.dir.path())
            .arg("--config")
            .arg(self.config())
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .env_remove("REESTR_LOG")
            .output()
            .expect("reestr runs")
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.path("var/reestr.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open store")
    }

    fn counts(&self) -> Vec<i64> {
        let c = self.db();
        [
            "invoices",
            "payments",
            "deliveries",
            "set_aside",
            "imports",
            "journal",
        ]
        .iter()
        .map(|t| count(&c, t))
        .collect()
    }

    /// Imports our own export of one invoice (P, 1000.00) and returns it.
    fn one_invoice(&self) -> Invoice {
        let inv = invoices(&[(false, "1000.00", "OPEN")]);
        write_export(self.dir.path(), "invoices.csv", &sample::invoices_csv(&inv));
        let o = self.run(&["invoices", "import", "invoices.csv"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("1 inserted or changed"),
            "{}",
            stdout(&o)
        );
        inv.into_iter().next().expect("one")
    }
}

#[test]
fn init_twice_is_fine() {
    let cli = Cli::new();
    let o = cli.run(&["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for d in [
        "inbox",
        "outbox",
        "var/received",
        "var/sent",
        "var/reestr.db",
    ] {
        assert!(cli.path(d).exists(), "{d}");
    }
    // A store in use is kept across init.
    let inv = cli.one_invoice();
    let o = cli.run(&["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(cli.counts()[0], 1, "{}", inv.no);
}

#[test]
fn run_exits_0_when_everything_is_handled_naks_included_and_json_lists_handled() {
    let cli = Cli::new();
    let imp = cli.run(&["invoices", "import", &reference_path("invoices.csv")]);
    assert_eq!(imp.status.code(), Some(0), "{}", stderr(&imp));
    std::fs::write(cli.path("inbox").join(PAY4), reference(PAY4)).expect("drop");
    let o = cli.run(&["run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("NAK B04"), "{}", stdout(&o));

    for n in [PAY1, PAY2] {
        std::fs::write(cli.path("inbox").join(n), reference(n)).expect("drop");
    }
    std::fs::write(cli.path("inbox/payments.zip"), b"?").expect("drop");
    let o = cli.run(&["run", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let handled = doc["handled"].as_array().expect("handled array");
    let results: Vec<&str> = handled
        .iter()
        .map(|h| h["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(results, ["SET_ASIDE", "ACK", "ACK"]);
    assert_eq!(handled[1]["file"], PAY1);
    assert!(list(&cli.path("inbox")).is_empty());
    assert_eq!(list(&cli.path("outbox")).len(), 3);
    // Nothing left: still one document, an empty list.
    let o = cli.run(&["run", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["handled"].as_array().map(Vec::len), Some(0));
}

#[test]
fn check_prints_the_would_be_answer_and_changes_nothing() {
    let cli = Cli::new();
    let inv = cli.one_invoice();
    let first = pay("001", &[pay_row("30000000000001", &inv, "600.00")]);
    std::fs::write(
        cli.path("inbox").join(first.file_name()),
        first.zip(Some(&key())),
    )
    .expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let second = pay(
        "002",
        &[
            pay_row("30000000000002", &inv, "400.00"),
            pay_row("30000000000003", &inv, "0.01"),
        ],
    );
    let inbox_file = cli.path("inbox").join(second.file_name());
    std::fs::write(&inbox_file, second.zip(Some(&key()))).expect("drop");
    let old = SystemTime::now() - Duration::from_secs(600);
    set_mtime(&inbox_file, old);
    let before = (
        cli.counts(),
        list(&cli.path("outbox")),
        list(&cli.path("var/received")),
        list(&cli.path("var/sent")),
    );
    let arg = inbox_file.display().to_string();
    let o = cli.run(&["check", &arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("would answer ACK"), "{out}");
    assert!(out.contains("result=ACK"), "{out}");
    assert!(out.contains("1;30000000000002;1;"), "{out}");
    assert!(out.contains("2;30000000000003;302;"), "{out}");
    let o = cli.run(&["check", "--json", &arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["result"], "ACK");
    assert_eq!(doc["statuses"]["1"], 1);
    assert_eq!(doc["statuses"]["302"], 1);
    let after = (
        cli.counts(),
        list(&cli.path("outbox")),
        list(&cli.path("var/received")),
        list(&cli.path("var/sent")),
    );
    assert_eq!(after, before);
    assert_eq!(read(&inbox_file), second.zip(Some(&key())));
    let mtime = std::fs::metadata(&inbox_file)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(mtime, old, "the inbox file is untouched");
    // The real run then gives what check said.
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let resp = read(&cli.path("outbox/SUDBILLING_MUNIS_PAY_20261121_002_ACK.zip"));
    let codes: Vec<String> = statuses(&entry_of(&resp, "result.csv").expect("result"))
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(codes, ["1", "302"]);
}

#[test]
fn replay_of_a_processed_archive_is_identical_and_of_a_new_one_uses_the_current_store() {
    let cli = Cli::new();
    let inv = cli.one_invoice();
    let first = pay("001", &[pay_row("30000000000001", &inv, "1000.00")]);
    let bytes = first.zip(Some(&key()));
    std::fs::write(cli.path("inbox").join(first.file_name()), &bytes).expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let sent = read(&cli.path("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip"));
    // An auditor's renamed copy.
    std::fs::write(cli.path("copy.zip"), &bytes).expect("copy");
    let o = cli.run(&["replay", "copy.zip", "--out", "r1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("identical"), "{}", stdout(&o));
    assert_eq!(
        read(&cli.path("r1/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")),
        sent
    );
    let o = cli.run(&["replay", "--json", "copy.zip", "--out", "r1"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["identical"], true);
    // A replay that cannot run answers in JSON too.
    let o = cli.run(&["replay", "--json", "no-such-file.zip", "--out", "r1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json when refused");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-file.zip")),
        "{doc}"
    );

    let before = cli.counts();
    let never = pay("002", &[pay_row("30000000000002", &inv, "0.01")]);
    std::fs::write(cli.path(&never.file_name()), never.zip(Some(&key()))).expect("write");
    let o = cli.run(&["replay", &never.file_name(), "--out", "r2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("never received"), "{}", stdout(&o));
    let resp = read(&cli.path("r2/SUDBILLING_MUNIS_PAY_20261121_002_ACK.zip"));
    let rows = statuses(&entry_of(&resp, "result.csv").expect("result"));
    assert_eq!(
        rows[0].2, "302",
        "computed against the current store (paid)"
    );
    assert_eq!(cli.counts(), before, "replay changes nothing");
    assert!(list(&cli.path("inbox")).is_empty());
    assert_eq!(list(&cli.path("outbox")).len(), 1);
}

/// After a partner's key is rotated, its former key (`former_key_files`) lets `replay` and
/// `audit verify --rebuild` reproduce the responses signed with it, found by the fingerprint the
/// delivery journaled; it never checks or signs a new archive: one signed with it is `B05`.
#[test]
fn a_former_key_reproduces_the_responses_signed_with_it_and_accepts_nothing_new() {
    let cli = Cli::new();
    let inv = cli.one_invoice();
    let old = key();
    let new = reestr::integrity::Key([0x5a; 32]);
    let first = pay("001", &[pay_row("30000000000001", &inv, "100.00")]);
    let first_bytes = first.zip(Some(&old));
    std::fs::write(cli.path("first.zip"), &first_bytes).expect("copy");
    std::fs::write(cli.path("inbox").join(first.file_name()), &first_bytes).expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let new_file = cli.path("MUNIS-2.key");
    std::fs::write(&new_file, reestr::fsutil::hex(&new.0)).expect("key");
    set_mode(&new_file, 0o600);
    let partner = |former: &str| {
        std::fs::write(
            cli.config(),
            config_text(&format!(
                "[partners.MUNIS]\nkey_file = \"MUNIS-2.key\"\n{former}"
            )),
        )
        .expect("config");
    };
    // Rotated, the former key not listed: the signed response cannot be reproduced.
    partner("");
    let o = cli.run(&["replay", "first.zip", "--out", "r1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("is no longer configured; the signed response cannot be reproduced (list that key's file in former_key_files of [partners.MUNIS] to reproduce it)"),
        "{}",
        stderr(&o)
    );
    let o = cli.run(&["audit", "verify", "--rebuild"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("every payment agrees, and every response compared (1 not compared: signed with a key no longer configured; list it in former_key_files)"),
        "{}",
        stdout(&o)
    );
    // Listed: reproduced byte for byte, and the rebuild compares its response too.
    partner("former_key_files = [\"MUNIS.key\"]\n");
    let o = cli.run(&["replay", "first.zip", "--out", "r2"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("identical to the response sent"),
        "{}",
        stdout(&o)
    );
    let sent = read(&cli.path("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip"));
    assert_eq!(
        read(&cli.path("r2/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")),
        sent
    );
    // A new archive signed with the former key is refused (B05); one signed with the key in
    // force is taken, and its response signed with it.
    let second = pay("002", &[pay_row("30000000000002", &inv, "100.00")]);
    std::fs::write(
        cli.path("inbox").join(second.file_name()),
        second.zip(Some(&old)),
    )
    .expect("drop");
    let third = pay("003", &[pay_row("30000000000003", &inv, "100.00")]);
    std::fs::write(
        cli.path("inbox").join(third.file_name()),
        third.zip(Some(&new)),
    )
    .expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    assert!(
        cli.path("outbox/SUDBILLING_MUNIS_PAY_20261121_002_NAK.zip")
            .is_file()
    );
    let ack = read(&cli.path("outbox/SUDBILLING_MUNIS_PAY_20261121_003_ACK.zip"));
    let manifest = entry_of(&ack, "manifest.sha256").expect("manifest");
    let mac =
        String::from_utf8(entry_of(&ack, "manifest.sha256.hmac").expect("hmac")).expect("hex");
    assert_eq!(mac.trim_end(), new.sign(&manifest));
    let o = cli.run(&["audit", "verify", "--rebuild", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (&doc["rebuilt_batches"], &doc["responses_not_compared"]),
        (&serde_json::json!(2), &serde_json::json!(0)),
        "{doc}"
    );
    // A former key file others may change is refused at start, as a key file is.
    set_mode(&cli.path("MUNIS.key"), 0o666);
    let o = cli.run(&["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("MUNIS.key"), "{}", stderr(&o));
}

/// A journaled key fingerprint edited into text whose 16th byte falls inside a character: replay
/// refuses (the key is no longer configured) and shows its first 16 characters, where it once
/// panicked cutting the text at byte 16.
#[test]
fn replay_refuses_a_journaled_fingerprint_edited_into_text_not_ascii() {
    let cli = Cli::new();
    let inv = cli.one_invoice();
    let batch = pay("001", &[pay_row("30000000000001", &inv, "1000.00")]);
    let bytes = batch.zip(Some(&key()));
    std::fs::write(cli.path("inbox").join(batch.file_name()), &bytes).expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let fp = format!("{}ééé", "f".repeat(15));
    let c = rusqlite::Connection::open(cli.path("var/reestr.db")).expect("open");
    let n = c
        .execute(
            "UPDATE journal SET body = json_set(body, '$.policy.key_fingerprint', ?1) WHERE kind = 'delivery'",
            [&fp],
        )
        .expect("tamper");
    assert_eq!(n, 1);
    drop(c);
    std::fs::write(cli.path("copy.zip"), &bytes).expect("copy");
    let o = cli.run(&["replay", "copy.zip", "--out", "r1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "(fingerprint {}é) is no longer configured",
            "f".repeat(15)
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn audit_verify_exits_0_when_clean_and_1_after_tampering() {
    let cli = Cli::new();
    cli.one_invoice();
    std::fs::write(cli.path("inbox").join(PAY4), reference(PAY4)).expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let o = cli.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let c = rusqlite::Connection::open(cli.path("var/reestr.db")).expect("open");
    c.execute(
        "UPDATE journal SET recorded_at='2000-01-01T00:00:00Z' WHERE seq=1",
        [],
    )
    .expect("tamper");
    drop(c);
    let o = cli.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("entry 1"), "{}", stdout(&o));
    let o = cli.run(&["audit", "verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(doc["problems"].as_array().is_some_and(|p| !p.is_empty()));
}

/// Paths the store names are followed nowhere: an edited store (a journal entry naming
/// `../…`, a kept file replaced by a FIFO, a set-aside row or delivery naming another path)
/// makes `audit verify`, `backup`, `release` and `check` say so, never read elsewhere or wait
/// on a FIFO for a writer that never comes.
#[cfg(unix)]
#[test]
fn an_edited_store_never_makes_the_engine_read_elsewhere_or_wait_on_a_fifo() {
    let cli = Cli::new();
    cli.one_invoice();
    for name in [PAY1, PAY4] {
        std::fs::write(cli.path("inbox").join(name), reference(name)).expect("drop");
    }
    std::fs::write(cli.path("inbox/notes.txt"), b"set aside").expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let mkfifo = |p: &Path| {
        let st = Command::new("mkfifo").arg(p).status().expect("mkfifo");
        assert!(st.success());
    };
    // Runs a command, failing the test if it waits more than 30 s.
    let within = |args: &[&str]| -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reestr"))
            .current_dir(cli.dir.path())
            .arg("--config")
            .arg(cli.config())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{args:?} still waiting after 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    };
    mkfifo(&cli.path("probe.fifo"));
    let sent = list(&cli.path("var/sent"));
    let first_sent = sent.first().expect("a response kept").clone();
    // A kept file replaced by a FIFO.
    let kept = cli.path("var/sent").join(&first_sent);
    let bytes = read(&kept);
    std::fs::remove_file(&kept).expect("remove");
    mkfifo(&kept);
    let c = rusqlite::Connection::open(cli.path("var/reestr.db")).expect("open");
    c.execute(
        "UPDATE journal SET body = json_replace(body, '$.kept[0].path', '../probe.fifo') WHERE kind = 'import'",
        [],
    )
    .expect("edit");
    for args in [&["audit", "verify"][..], &["backup", "--to", "bk"]] {
        let o = within(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let out = stdout(&o);
        assert!(
            out.contains(
                "kept file \"../probe.fifo\" (journal entry 1): not a file of a kept folder"
            ),
            "{args:?}: {out}"
        );
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("kept file sent/{first_sent} "))
                    && l.contains(": not a regular file (a link, folder, FIFO or device)")),
            "{args:?}: {out}"
        );
    }
    std::fs::remove_file(&kept).expect("remove");
    std::fs::write(&kept, &bytes).expect("restore");
    // A set-aside row naming another path: release refuses, and copies nothing.
    c.execute("UPDATE set_aside SET kept_as = '../reestr.db'", [])
        .expect("edit");
    let o = within(&["release", "notes.txt"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("which is not `<sha256>.bin` of its SHA-256"),
        "{}",
        stderr(&o)
    );
    assert!(!cli.path("inbox/notes.txt").exists());
    // A delivery naming its response by another path: check refuses to read it.
    c.execute(
        "UPDATE deliveries SET response_sha256 = '../../probe.fifo'",
        [],
    )
    .expect("edit");
    drop(c);
    std::fs::write(cli.path(PAY1), reference(PAY1)).expect("copy");
    let o = within(&["check", PAY1]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(
            "the store names a kept file \"../../probe.fifo\", which is not a SHA-256: edited?"
        ),
        "{}",
        stderr(&o)
    );
    // A kept response replaced by a link, or by other bytes: a re-delivery sends neither.
    let c = rusqlite::Connection::open(cli.path("var/reestr.db")).expect("open");
    c.execute(
        "UPDATE deliveries SET response_sha256 = (SELECT json_extract(j.body, '$.response_sha256') FROM journal j WHERE j.seq = deliveries.journal_seq)",
        [],
    )
    .expect("undo the edit");
    drop(c);
    let ack = "SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip";
    let sent_ack = read(&cli.path("outbox").join(ack));
    let kept_ack = cli
        .path("var/sent")
        .join(format!("{}.zip", sha256_hex(&sent_ack)));
    std::fs::write(cli.path("decoy.zip"), b"DECOY").expect("decoy");
    std::fs::remove_file(&kept_ack).expect("remove");
    std::os::unix::fs::symlink(cli.path("decoy.zip"), &kept_ack).expect("link");
    std::fs::remove_file(cli.path("outbox").join(ack)).expect("taken by the sender");
    std::fs::write(cli.path("inbox").join(PAY1), reference(PAY1)).expect("again");
    let o = within(&["run"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert!(
        !cli.path("outbox").join(ack).exists(),
        "the decoy is not sent"
    );
    std::fs::remove_file(&kept_ack).expect("remove");
    std::fs::write(&kept_ack, b"OTHER BYTES").expect("other bytes");
    let o = within(&["run"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("does not hold the bytes of its SHA-256; not sent"),
        "{}",
        stderr(&o)
    );
    assert!(
        !cli.path("outbox").join(ack).exists(),
        "other bytes are not sent"
    );
    std::fs::write(&kept_ack, &sent_ack).expect("restore");
    let o = within(&["run"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        read(&cli.path("outbox").join(ack)),
        sent_ack,
        "the stored ACK again"
    );
}

#[test]
fn an_unknown_config_file_exits_3() {
    let dir = tempfile::tempdir().expect("dir");
    let o = reestr_cmd(&dir.path().join("nowhere.toml"), &["run"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("nowhere.toml"), "{}", stderr(&o));
    assert!(list(dir.path()).is_empty(), "nothing created");
}

#[test]
fn invoices_import_of_a_bad_export_exits_1_listing_the_lines() {
    let cli = Cli::new();
    let text = export_lines(&[
        "123;1703002;2-2/2026;P;31210932040247;Ali;100.00;2026-10-01 09:00:00;OPEN",
        "70000000000000000003;1703002;2-3/2026;J;212345678;MChJ;100.00;2026-10-01 09:00:00;OPEN",
        "70000000000000000004;1703002;2-4/2026;P;31210932040247;Ali;-5.00;2026-10-01 09:00:00;OPEN",
    ]);
    write_export(cli.dir.path(), "bad.csv", &text);
    let o = cli.run(&["invoices", "import", "bad.csv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("line 2") && err.contains("invoice_no"),
        "{err}"
    );
    assert!(
        err.contains("line 4") && err.contains("amount_due"),
        "{err}"
    );
    assert!(!err.contains("line 3"), "{err}");
    assert_eq!(cli.counts()[0], 0, "nothing loaded");
}

// ----- the store's refusals ------------------------------------------------------------------------

#[test]
fn a_store_of_the_first_layout_is_upgraded_keeping_every_balance() {
    // Layout 1 kept `paid` in `invoices`; layout 2 keeps it in `balances`.
    let (mut rx, inv) = receiver_with(&[(false, "1000.00", "OPEN"), (true, "500.00", "OPEN")]);
    let h = rx.process(
        PAY1,
        &pay("001", &[pay_row("30000000000001", &inv[0], "300.00")]).zip(Some(&key())),
    );
    assert_eq!(h.statuses.get(&1), Some(&1), "{h:?}");
    let want = dump(
        &rx.engine.store.conn,
        "SELECT * FROM invoices_paid ORDER BY invoice_no",
    );
    assert!(want[0].ends_with("Integer(30000)"), "{want:?}");
    rx.engine
        .store
        .conn
        .execute_batch(
            "DROP VIEW invoices_paid;
             ALTER TABLE invoices ADD COLUMN paid INTEGER NOT NULL DEFAULT 0;
             UPDATE invoices SET paid = coalesce((SELECT paid FROM balances b
               WHERE b.invoice_no = invoices.invoice_no), 0);
             DROP TABLE balances;
             UPDATE meta SET value='1' WHERE key='schema_version';",
        )
        .expect("make it layout 1");
    let cfg = Config::load(&rx.config_path()).expect("config");
    rx.engine = Engine::init(cfg).expect("an older layout opens");
    let conn = &rx.engine.store.conn;
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key='schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("version");
    assert_eq!(version, reestr::store::SCHEMA_VERSION.to_string());
    let cols = dump(conn, "SELECT name FROM pragma_table_info('invoices')");
    assert!(!cols.iter().any(|c| c.contains("\"paid\"")), "{cols:?}");
    assert_eq!(
        dump(conn, "SELECT * FROM invoices_paid ORDER BY invoice_no"),
        want
    );
    // And it works on: the balance counts for the next payment (303 over the rest).
    let h = rx.process(
        PAY2,
        &pay("002", &[pay_row("30000000000002", &inv[0], "700.01")]).zip(Some(&key())),
    );
    assert_eq!(h.statuses.get(&303), Some(&1), "{h:?}");
}

#[test]
fn a_new_store_has_16_kib_pages_and_a_rollback_journal() {
    let rx = Rx::new();
    let conn = &rx.engine.store.conn;
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .expect("page size");
    assert_eq!(page, reestr::store::PAGE_SIZE);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "delete");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("synchronous");
    assert_eq!(sync, 3, "EXTRA");
}

#[test]
fn a_reader_waits_for_a_batch_being_applied_then_says_the_store_is_busy() {
    // The store has a rollback journal: a batch that has started writing pages holds the write
    // lock until it commits, and `status` waits for it (up to 10 s), then says why it stopped.
    let cli = Cli::new();
    cli.one_invoice();
    let db = cli.path("var/reestr.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        locked_tx.send(()).expect("signal");
        // Held until the reader has given up, however slow the machine.
        let _ = release_rx.recv();
        c.execute_batch("ROLLBACK").expect("unlock");
    });
    locked_rx.recv().expect("locked");
    let o = cli.run(&["status"]);
    release_tx.send(()).expect("release");
    holder.join().expect("holder");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("is busy"), "{}", stderr(&o));
    let o = cli.run(&["status"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_store_from_a_newer_engine_is_refused_and_left_untouched() {
    let cli = Cli::new();
    cli.one_invoice();
    let db = cli.path("var/reestr.db");
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute(
        "UPDATE meta SET value=?1 WHERE key='schema_version'",
        [(reestr::store::SCHEMA_VERSION + 1).to_string()],
    )
    .expect("bump");
    drop(c);
    let bytes = read(&db);
    let o = cli.run(&["run"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("newer"), "{}", stderr(&o));
    assert!(stderr(&o).contains("reestr.db"), "{}", stderr(&o));
    let cfg = Config::load(&cli.config()).expect("config");
    let e = Engine::init(cfg).err().expect("refused").to_string();
    assert!(e.contains("newer"), "{e}");
    assert_eq!(read(&db), bytes, "left untouched");
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let cfgp = dir.path().join("reestr.toml");
    std::fs::write(&cfgp, config_text("")).expect("config");
    std::fs::create_dir_all(dir.path().join("var")).expect("var");
    let db = dir.path().join("var/reestr.db");
    let junk: Vec<u8> = b"these are the operator's notes, not a database\n"
        .iter()
        .copied()
        .cycle()
        .take(8192)
        .collect();
    std::fs::write(&db, &junk).expect("junk");
    for cmd in [&["run"][..], &["init"][..], &["audit", "verify"][..]] {
        let o = reestr_cmd(&cfgp, cmd);
        assert_eq!(o.status.code(), Some(3), "{cmd:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("reestr.db"), "{}", stderr(&o));
        assert_eq!(read(&db), junk, "left untouched");
    }
    let e = Engine::init(Config::load(&cfgp).expect("config"))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("not"), "{e}");
    assert_eq!(read(&db), junk);
}

#[test]
fn a_kept_copy_that_differs_from_the_inbox_file_is_refused_and_the_file_waits() {
    // The kept copy is what is judged. A copy already kept under the archive's SHA-256 (from an
    // earlier attempt) is hashed again before it is trusted; one that differs stops the batch.
    let (mut rx, inv) = receiver_with(&[(false, "1000.00", "OPEN")]);
    let bytes = pay("001", &[pay_row("30000000000001", &inv[0], "300.00")]).zip(Some(&key()));
    let sha = sha256_hex(&bytes);
    let kept = rx.engine.layout.received().join(format!("{sha}.zip"));
    std::fs::write(&kept, b"not the archive").expect("plant");
    let path = rx.drop_in(PAY1, &bytes);
    let err = rx.engine.handle(&path).expect_err("refused");
    assert!(
        err.to_string().contains("does not match the inbox file"),
        "{err}"
    );
    assert_eq!(rx.inbox(), [PAY1], "the archive waits in the inbox");
    assert!(rx.outbox().is_empty(), "no answer from a copy that differs");
    // A copy made now is checked by the hash taken while copying: the batch goes through.
    std::fs::remove_file(&kept).expect("remove");
    let h = rx.engine.handle(&path).expect("handled");
    assert_eq!(h.statuses.get(&1), Some(&1), "{h:?}");
    assert_eq!(std::fs::read(&kept).expect("kept"), bytes);
}

#[test]
fn run_names_the_files_it_left_still_settling() {
    let cli = Cli::new();
    cli.reconfigure("settle_seconds = 3600");
    std::fs::write(cli.path("inbox").join(PAY1), reference(PAY1)).expect("drop");
    for args in [&["run"][..], &["run", "--json"][..]] {
        let o = cli.run(args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let log = stderr(&o);
        assert!(log.contains("left for the next run"), "{log}");
        assert!(
            !log.contains('\u{1b}'),
            "no colour codes off a terminal: {log:?}"
        );
        let out = stdout(&o);
        assert!(!out.contains("nothing to do"), "{out}");
        let named = if args.len() == 1 {
            out.lines()
                .any(|l| l.starts_with(PAY1) && l.contains("LEFT") && l.contains("next run"))
        } else {
            let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
            doc["left"] == serde_json::json!([PAY1])
        };
        assert!(named, "{out}");
    }
}

#[test]
fn a_missing_inbox_or_outbox_is_not_created_by_run_but_refused() {
    // An unmounted share must not look like an empty inbox (exit 0, "nothing to do").
    for folder in ["inbox", "outbox"] {
        let cli = Cli::new();
        std::fs::remove_dir(cli.path(folder)).expect("remove");
        for args in [&["run"][..], &["watch"][..], &["status"][..]] {
            let o = cli.run(args);
            assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains(folder) && stderr(&o).contains("reestr init"),
                "{}",
                stderr(&o)
            );
            assert!(!cli.path(folder).exists(), "{folder} not re-created");
        }
        // An auditor's copy of the data folder needs neither.
        let o = cli.run(&["audit", "verify"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(!cli.path(folder).exists(), "{folder} not re-created");
        assert_eq!(cli.run(&["init"]).status.code(), Some(0));
        assert!(cli.path(folder).is_dir(), "init creates it");
    }
}

#[test]
fn a_time_just_ahead_of_the_clock_is_no_clock_skew_but_an_hour_is() {
    for (ahead, warned) in [
        (Duration::from_millis(900), false),
        (Duration::from_secs(3600), true),
    ] {
        let cli = Cli::new();
        let p = cli.path("inbox").join(PAY1);
        std::fs::write(&p, reference(PAY1)).expect("drop");
        set_mtime(&p, SystemTime::now() + ahead);
        let o = cli.run(&["status"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            stderr(&o).contains("in the future"),
            warned,
            "{ahead:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn status_and_audit_verify_work_for_an_account_that_may_only_read() {
    // An auditor's read-only account (or a read-only copy): the commands that only read must
    // not need to write the store.
    let cli = Cli::new();
    std::fs::write(cli.path("invoices.csv"), reference("invoices.csv")).expect("csv");
    assert_eq!(
        cli.run(&["invoices", "import", "invoices.csv"])
            .status
            .code(),
        Some(0)
    );
    std::fs::write(cli.path("inbox").join(PAY1), reference(PAY1)).expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    // Every folder and file under the receiver's folder to these modes, folders last.
    let chmod_all = |dirs: u32, files: u32| {
        let mut stack = vec![cli.path("")];
        let mut folders = Vec::new();
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                let inside = std::fs::read_dir(&p).expect("dir");
                stack.extend(inside.map(|e| e.expect("entry").path()));
                folders.push(p);
            } else {
                set_mode(&p, files);
            }
        }
        for d in folders.iter().rev() {
            set_mode(d, dirs);
        }
    };
    // Everything readable by everyone, writable by no one but root.
    chmod_all(0o555, 0o444);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    for args in [&["status"][..], &["audit", "verify"][..]] {
        let mut c = if root {
            // Root ignores permissions: run as nobody instead.
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_reestr"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_reestr"))
        };
        let o = c
            .current_dir(cli.path(""))
            .arg("--config")
            .arg(cli.config())
            .args(args)
            .env_remove("REESTR_LOG")
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    // Give the temporary folder back to its owner for removal.
    chmod_all(0o700, 0o600);
}

#[test]
fn audit_finds_store_rows_that_contradict_the_journal() {
    // Each edit is one an operator with SQL access could make; each breaks exactly-once or the
    // books while the journal and the kept files stay intact.
    let rev = "MUNIS_SUDBILLING_REV_20261121_001.zip";
    let edits: [(&str, &str); 12] = [
        (
            "UPDATE deliveries SET result='NAK', code='B04' WHERE journal_seq=2",
            "deliveries row 1 (journal entry 2): result is \"NAK\" where the journal has \"ACK\"",
        ),
        (
            "DELETE FROM deliveries WHERE journal_seq=3",
            "journal entry 3 (delivery) has no row in deliveries",
        ),
        (
            "UPDATE set_aside SET original_name='other.zip'",
            "set_aside row 1 (journal entry 4): original_name is \"other.zip\"",
        ),
        (
            "DELETE FROM imports",
            "journal entry 1 (import) has no row in imports",
        ),
        (
            "UPDATE payments SET amount = amount * 10 WHERE rowid = (SELECT max(rowid) FROM payments WHERE journal_seq=5)",
            "journal entry 5: the store has",
        ),
        (
            "DELETE FROM payments WHERE rowid = (SELECT min(rowid) FROM payments WHERE journal_seq=2 AND state='PAID')",
            "journal entry 2: the store has",
        ),
        (
            "UPDATE payments SET reversed_journal_seq = NULL, state = 'PAID' WHERE reversed_journal_seq = 6",
            "journal entry 6: the store has 0 payment(s) reversed",
        ),
        (
            "UPDATE balances SET paid = paid + 1 WHERE invoice_no = (SELECT max(invoice_no) FROM balances WHERE paid > 0)",
            "balances differ from the payments not reversed",
        ),
        // Invoices against the kept exports, loaded again in journal order.
        (
            "UPDATE invoices SET amount_due = amount_due * 2 WHERE invoice_no = (SELECT min(invoice_no) FROM invoices)",
            "where the kept exports give",
        ),
        (
            "DELETE FROM invoices WHERE invoice_no = (SELECT max(invoice_no) FROM invoices)",
            "in the kept exports, missing from the store",
        ),
        (
            "INSERT INTO invoices SELECT '99999999999999999999', court_code, case_no, payer_type, payer_id, payer_name, amount_due, issued_at, status, import_seq FROM invoices LIMIT 1",
            "invoice 99999999999999999999: in the store, in no kept export",
        ),
        // An invoice claiming a later import than any the audit knows is checked against that
        // import's existence (an import may commit while an audit runs).
        (
            "UPDATE invoices SET amount_due = 1, import_seq = 999 WHERE invoice_no = (SELECT min(invoice_no) FROM invoices)",
            "import_seq is 999, which names no import",
        ),
    ];
    for (sql, want) in edits {
        let mut rx = with_history();
        let h = rx.process(rev, &reference(rev));
        assert_eq!(h.result, "ACK");
        assert!(
            h.statuses.get(&1).is_some_and(|n| *n > 0),
            "a reversal applied: {h:?}"
        );
        assert!(
            problems(&rx).is_empty(),
            "clean before: {:?}",
            problems(&rx)
        );
        let n = rx.engine.store.conn.execute(sql, []).expect(sql);
        assert!(n > 0, "{sql} changed nothing");
        let p = problems(&rx);
        assert!(p.iter().any(|m| m.contains(want)), "{sql}: {p:?}");
    }
    // Many invoices differing are named up to 20, then counted: with no import left, each of
    // the 60 invoices names an import that is not there.
    let rx = with_history();
    rx.engine
        .store
        .conn
        .execute("DELETE FROM imports", [])
        .expect("delete");
    let p = problems(&rx);
    let named = p
        .iter()
        .filter(|m| m.ends_with(": import_seq is 1, which names no import"))
        .count();
    assert_eq!(named, 20, "{p:?}");
    assert!(
        p.iter()
            .any(|m| m == "40 more invoice(s) differ from the kept exports"),
        "{p:?}"
    );
    // The reason written beside a set-aside file is kept evidence too.
    let rx = with_history();
    let dir = rx.engine.layout.set_aside();
    let note = std::fs::read_dir(&dir)
        .expect("set-aside")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(".reason.json"))
        .expect("a reason file");
    std::fs::write(&note, b"{\"reason\": \"nothing to see\"}").expect("edit");
    let p = problems(&rx);
    assert!(
        p.iter()
            .any(|m| m.contains(".reason.json") && m.contains("bytes changed")),
        "{p:?}"
    );
    // A file slipped into a kept folder is named.
    let rx = with_history();
    std::fs::write(rx.engine.layout.received().join("extra.zip"), b"PK").expect("plant");
    assert_eq!(
        problems(&rx),
        [
            "received/extra.zip: in a kept folder but named by no journal entry (put there by hand, or kept by a run that stopped before answering an archive then taken out of the inbox)"
        ]
    );
}

#[test]
fn payments_moved_to_a_naks_entry_point_at_an_entry_that_applied_none() {
    // A NAK applies nothing: payments pointing at its entry are strays, never taken as its
    // own, and the ACK they were moved from has none.
    let rx = with_history();
    let conn = &rx.engine.store.conn;
    let (batch, n, sum): (String, i64, i64) = conn
        .query_row(
            "SELECT d.batch_id, (SELECT count(*) FROM payments WHERE journal_seq = 2),
               (SELECT sum(amount) FROM payments WHERE journal_seq = 2)
             FROM deliveries d WHERE d.journal_seq = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the first ACK");
    assert!(n > 0, "PAY 001 applied payments");
    let nak: String = conn
        .query_row(
            "SELECT result FROM deliveries WHERE journal_seq = 3",
            [],
            |r| r.get(0),
        )
        .expect("entry 3");
    assert_eq!(nak, "NAK");
    let moved = edit_store(
        &rx,
        "UPDATE payments SET journal_seq = 3 WHERE journal_seq = 2",
    );
    assert_eq!(i64::try_from(moved), Ok(n));
    assert_eq!(
        problems(&rx),
        [
            format!(
                "journal entry 2: the store has 0 payment(s) applied for {batch} totalling 0.00, its response accepted {n} totalling {}",
                reestr::amount::format(i128::from(sum))
            ),
            "payments point at 1 journal entr(y/ies) that applied or reversed no payments"
                .to_string()
        ]
    );
}

#[test]
fn a_store_row_pointing_at_another_events_entry_is_named_and_one_pointing_at_none_is_counted() {
    // The NAK's row (entry 3) moved to the set-aside entry: that entry records another event.
    let rx = with_history();
    let id: i64 = rx
        .engine
        .store
        .conn
        .query_row("SELECT id FROM deliveries WHERE journal_seq = 3", [], |r| {
            r.get(0)
        })
        .expect("the NAK's row");
    edit_store(
        &rx,
        "UPDATE deliveries SET journal_seq = 4 WHERE journal_seq = 3",
    );
    assert_eq!(
        problems(&rx),
        [
            "journal entry 3 (delivery) has no row in deliveries (deleted?)".to_string(),
            format!("deliveries row {id} points at journal entry 4, which records another event"),
        ]
    );
    // Moved to an entry that is not in the journal: counted among the rows pointing at
    // missing entries, and not said to record another event.
    let rx = with_history();
    edit_store(
        &rx,
        "UPDATE deliveries SET journal_seq = 99 WHERE journal_seq = 3",
    );
    assert_eq!(
        problems(&rx),
        [
            "1 row(s) of deliveries point at journal entries that are missing",
            "journal entry 3 (delivery) has no row in deliveries (deleted?)",
        ]
    );
}

#[test]
fn a_finding_about_many_keys_names_five_then_says_there_are_more() {
    let rx = with_history();
    // Balances of invoices that no payment paid, each a finding.
    let no = |i: u32| format!("9{i:019}");
    let add = |i: u32| {
        edit_store(
            &rx,
            &format!(
                "INSERT INTO balances(invoice_no, paid) VALUES ('{}', 100)",
                no(i)
            ),
        )
    };
    for i in 1..=5 {
        assert_eq!(add(i), 1);
    }
    let five = (1..=5).map(no).collect::<Vec<_>>().join(", ");
    assert_eq!(
        problems(&rx),
        [format!(
            "balances differ from the payments not reversed for invoice(s) {five}"
        )]
    );
    assert_eq!(add(6), 1);
    assert_eq!(
        problems(&rx),
        [format!(
            "balances differ from the payments not reversed for invoice(s) {five}, ..."
        )]
    );
}

#[test]
fn an_invoice_added_before_every_other_and_one_removed_among_them_are_each_named_once() {
    // The store's invoices and the kept exports' are walked side by side in number order: a
    // number only one side has, wherever it falls, is named once and the walk goes on in step.
    let rx = with_history();
    let conn = &rx.engine.store.conn;
    let numbers = texts(conn, "SELECT invoice_no FROM invoices ORDER BY invoice_no");
    assert!(numbers.len() > 2, "{numbers:?}");
    let first = "00000000000000000001";
    assert!(first < numbers[0].as_str(), "{numbers:?}");
    let gone = &numbers[numbers.len() / 2];
    edit_store(
        &rx,
        &format!(
            "INSERT INTO invoices SELECT '{first}', court_code, case_no, payer_type, payer_id, payer_name, amount_due, issued_at, status, import_seq FROM invoices LIMIT 1"
        ),
    );
    edit_store(
        &rx,
        &format!("DELETE FROM invoices WHERE invoice_no = '{gone}'"),
    );
    assert_eq!(
        problems(&rx),
        [
            format!("invoice {first}: in the store, in no kept export"),
            format!("invoice {gone}: in the kept exports, missing from the store"),
        ]
    );
}

#[test]
fn an_import_committed_during_an_audit_is_left_for_the_next_one() {
    // The audit compares the store with the exports imported when it began (`loaded`). An
    // invoice a later import changed is skipped while that import exists.
    let (mut rx, inv) = receiver_with(&[(false, "1000.00", "OPEN"), (true, "500.00", "OPEN")]);
    let first = sample::invoices_csv(&inv);
    let loaded: i64 = rx
        .engine
        .store
        .conn
        .query_row("SELECT max(journal_seq) FROM imports", [], |r| r.get(0))
        .expect("import");
    // The exports as of `loaded`, rebuilt apart.
    let rebuilt = reestr::store::Store::in_memory().expect("scratch");
    reestr::invoices::load(
        &rebuilt.conn,
        "invoices.csv",
        first.as_bytes(),
        &rx.engine.cfg.schemas.invoices,
        loaded,
        1 << 20,
    )
    .expect("runs")
    .expect("valid");
    let conn = &rx.engine.store.conn;
    assert_eq!(
        reestr::journal::invoices_against(conn, &rebuilt.conn, loaded).expect("compared"),
        Vec::<String>::new()
    );
    // Then an import raises an invoice's amount due (as one committing mid-audit would).
    let mut later = inv.clone();
    later[0].amount_due = "1500.00".into();
    let p = write_export(rx.dir.path(), "later.csv", &sample::invoices_csv(&later));
    let r = rx.engine.import_invoices(&p).expect("runs").expect("valid");
    assert_eq!(r.changed, 1);
    let conn = &rx.engine.store.conn;
    assert_eq!(
        reestr::journal::invoices_against(conn, &rebuilt.conn, loaded).expect("compared"),
        Vec::<String>::new(),
        "left for the next audit"
    );
    // Had the audit begun after that import, the old rebuild would differ: it is the import's
    // existence that excuses the invoice, nothing else.
    let now: i64 = conn
        .query_row("SELECT max(journal_seq) FROM imports", [], |r| r.get(0))
        .expect("import");
    let p = reestr::journal::invoices_against(conn, &rebuilt.conn, now).expect("compared");
    assert!(
        p.iter()
            .any(|m| m.contains(&later[0].no) && m.contains("amount_due")),
        "{p:?}"
    );
    assert!(problems(&rx).is_empty(), "{:?}", problems(&rx));
}

#[test]
fn with_json_output_a_refusal_is_json_too() {
    let cli = Cli::new();
    let mut holder = Engine::open(Config::load(&cli.config()).expect("config")).expect("engine");
    holder.lock().expect("lock");
    let o = cli.run(&["--log-format", "json", "run", "--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("another reestr process")),
        "{doc}"
    );
    assert_eq!(doc["handled"], serde_json::json!([]));
    let last = stderr(&o);
    let line: serde_json::Value = serde_json::from_str(last.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("stderr's last line is JSON ({e}): {last}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["fields"]["exit_code"], 4);
}

/// `run --json` prints its document on stdout whatever stops it, also at its start (exit 3):
/// a missing inbox, a store that is not a store, a configuration that does not load.
#[test]
fn run_json_prints_its_document_when_it_cannot_start() {
    type Break = fn(&Cli);
    let cases: [(&str, Break, &str); 3] = [
        (
            "inbox missing",
            |cli| std::fs::remove_dir(cli.path("inbox")).expect("rm"),
            "inbox",
        ),
        (
            "store not a store",
            |cli| {
                std::fs::write(cli.path("var/reestr.db"), b"not a database at all, no").expect("w")
            },
            "reestr.db",
        ),
        (
            "configuration",
            |cli| cli.reconfigure("no_such_key = 1"),
            "no_such_key",
        ),
    ];
    for (what, break_it, named) in cases {
        let cli = Cli::new();
        break_it(&cli);
        for args in [
            &["run", "--json"][..],
            &["--log-format", "json", "run", "--json"],
        ] {
            let o = cli.run(args);
            assert_eq!(o.status.code(), Some(3), "{what}: {}", stderr(&o));
            let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| {
                panic!("{what} {args:?}: stdout is JSON ({e}): {}", stdout(&o))
            });
            assert!(
                doc["error"].as_str().is_some_and(|e| e.contains(named)),
                "{what}: {doc}"
            );
            for empty in ["handled", "left", "held", "finished"] {
                assert_eq!(doc[empty], serde_json::json!([]), "{what}: {doc}");
            }
        }
        // Without --json, stdout stays empty.
        let o = cli.run(&["run"]);
        assert_eq!(
            (o.status.code(), stdout(&o)),
            (Some(3), String::new()),
            "{what}"
        );
    }
}

#[test]
fn the_metrics_count_every_file_waiting_in_the_inbox_held_ones_too() {
    let cli = Cli::new();
    cli.reconfigure("settle_seconds = 3600\nmetrics_file = \"reestr.prom\"");
    // PAY 002 has settled but waits for PAY 001, still settling (§7.2 order).
    let later = cli.path("inbox").join(PAY2);
    std::fs::write(&later, reference(PAY2)).expect("drop");
    set_mtime(&later, SystemTime::now() - Duration::from_secs(7200));
    std::fs::write(cli.path("inbox").join(PAY1), reference(PAY1)).expect("drop");
    assert_eq!(cli.run(&["run"]).status.code(), Some(0));
    let prom = std::fs::read_to_string(cli.path("reestr.prom")).expect("metrics");
    assert!(prom.contains("\nreestr_inbox_waiting 2\n"), "{prom}");
}

/// What the command line prints of a message or a file name is one line of printable ASCII, as
/// in the response (`respond::one_line`): a CR from a manifest line or an escape sequence in a
/// file name cannot rewrite the operator's terminal or split a log line.
#[test]
fn output_to_a_pipe_whose_reader_has_gone_ends_no_command_early() {
    // `reestr status | head -1`, `reestr check X | head`: the reader goes, writes fail with
    // EPIPE. The command goes on to its end and exit code, and does not panic.
    let rx = Rx::new();
    let b = common::batches::batch();
    let archive = rx.drop_in(&b.file_name(), &b.zip(Some(&key())));
    let archive = archive.to_string_lossy().into_owned();
    for args in [
        vec!["status"],
        vec!["check", archive.as_str()],
        vec!["check", "--json", archive.as_str()],
        vec!["run"],
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_reestr"))
            .arg("--config")
            .arg(rx.config_path())
            .args(&args)
            .env_remove("REESTR_LOG")
            .stdout(writer)
            .output()
            .expect("reestr runs");
        assert!(
            o.status.success() && !stderr(&o).contains("panicked"),
            "{args:?}: {:?} {}",
            o.status,
            stderr(&o)
        );
    }
    // The run went to its end: the batch was answered.
    assert_eq!(list(&rx.engine.cfg.outbox).len(), 1);
}

#[test]
fn printed_messages_and_names_are_one_line_of_printable_ascii() {
    let rx = Rx::new();
    let b = common::batches::batch();
    let manifest = String::from_utf8(sample::manifest(&[
        ("control.txt", &b.control()),
        ("registry.csv", &b.registry),
    ]))
    .expect("ascii")
    .replace('\n', "\r\n");
    let zip = sample::zip_entries(&common::batches::files_with_manifest(
        &b.control(),
        &b.registry,
        manifest.as_bytes(),
        Some(&key()),
    ));
    rx.drop_in(&b.file_name(), &zip);
    rx.drop_in("x\u{1b}[2J\r.zip", b"not of the form");
    rx.drop_in(
        "MUNIS_SUDBILLING_PAY_20261121_002\nFAKE LINE.zip",
        b"not of the form",
    );
    let run = reestr_cmd(&rx.config_path(), &["run"]);
    let out = stdout(&run);
    // The log on stderr (what cron mails) names the set-aside files the same way.
    let log = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(log.contains("file=x\\u{1b}[2J\\r.zip"), "{log}");
    assert!(log.contains("FAKE LINE.zip"), "{log}");
    assert!(
        log.lines().all(|l| !l.starts_with("FAKE LINE")),
        "no line of the log starts in a file name: {log}"
    );
    assert!(out.contains(" NAK B04 "), "{out}");
    assert!(out.contains("\\r"), "the CR is shown escaped: {out}");
    assert!(out.contains("SET ASIDE"), "{out}");
    let status = reestr_cmd(&rx.config_path(), &["status"]);
    let shown = stdout(&status);
    assert!(shown.contains("\\u{1b}[2J\\r.zip"), "{shown}");
    for text in [&out, &shown, &log] {
        assert!(
            text.bytes()
                .all(|c| c == b'\n' || (b' '..=b'~').contains(&c)),
            "only printable ASCII and line feeds: {text:?}"
        );
    }
}

/// A schemas folder copied from the built-in one, each schema edited by `edit` (given the file
/// name and the schema as JSON).
fn schemas_folder(dir: &Path, edit: impl Fn(&str, &mut serde_json::Value)) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let to = dir.join("schemas");
    std::fs::create_dir_all(&to).expect("schemas folder");
    for name in ["PAY.json", "REV.json", "REC.json", "invoices.json"] {
        let text = std::fs::read_to_string(src.join(name)).expect("built-in schema");
        let mut json: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        edit(name, &mut json);
        std::fs::write(to.join(name), json.to_string()).expect("schema");
    }
}

/// The fields of a schema, to edit.
fn fields_of(schema: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    schema["fields"].as_array_mut().expect("fields")
}

/// Where the field `name` is in a schema.
fn field_at(schema: &mut serde_json::Value, name: &str) -> usize {
    fields_of(schema)
        .iter()
        .position(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("field {name}"))
}

/// A receiver whose configuration reads the schemas from `schemas/`, made by `edit`.
fn with_schemas(edit: impl Fn(&str, &mut serde_json::Value)) -> Result<Rx, String> {
    let dir = receiver_dir(&config_text(&format!(
        "schemas = \"schemas\"\n{MUNIS_WITH_KEY}"
    )));
    schemas_folder(dir.path(), edit);
    let cfg = Config::load(&dir.path().join("reestr.toml")).map_err(|e| e.to_string())?;
    Ok(Rx {
        engine: Engine::init(cfg).expect("init"),
        dir,
    })
}

/// A schemas folder made by `edit` stops the engine at start with a message holding `said`.
fn refused_at_start(edit: impl Fn(&str, &mut serde_json::Value), said: &str) {
    let e = with_schemas(edit)
        .err()
        .unwrap_or_else(|| panic!("the schemas load; expected a refusal saying {said:?}"));
    assert!(e.contains(said), "{said:?} not said: {e}");
}

/// Sends `b` signed with the partner's key, and returns its ACK, whose rows must be `want`:
/// each (line, status, field).
fn acked_with(rx: &mut Rx, b: &Batch, want: &[(&str, &str, &str)]) -> Vec<u8> {
    let h = rx.process(&b.file_name(), &b.zip(Some(&common::batches::key())));
    assert_eq!(h.result, "ACK", "{h:?}");
    let resp = rx.response(&format!(
        "SUDBILLING_MUNIS_{}_{}_{}_ACK.zip",
        b.kind, b.date, b.seq
    ));
    let result = entry_of(&resp, "result.csv").expect("result.csv");
    let got: Vec<(String, String, String)> = statuses(&result)
        .into_iter()
        .map(|(line, _, status, field)| (line, status, field))
        .collect();
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(l, s, f)| (l.to_string(), s.to_string(), f.to_string()))
        .collect();
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&result));
    resp
}

/// Schemas are data: a field added to `PAY.json` in the middle of the registry, and a rule
/// changed, take effect with no change to the code. The reconciler finds its fields by name,
/// so the amounts, invoices and payers are still read from the right columns.
#[test]
fn a_field_added_to_a_registry_schema_and_a_rule_changed_need_no_code() {
    let mut rx = with_schemas(|name, schema| {
        if name == "PAY.json" {
            let at = field_at(schema, "amount");
            fields_of(schema).insert(
                at,
                serde_json::json!({ "name": "channel", "type": "string",
                    "constraints": { "required": true, "enum": ["BANK", "APP"] } }),
            );
            let purpose = field_at(schema, "purpose");
            fields_of(schema)[purpose]["constraints"]["maxLength"] = 11.into();
        }
    })
    .expect("the configuration loads");
    rx.import_reference_invoices();
    let mut header: Vec<&str> = PAY_HEADER.to_vec();
    header.insert(6, "channel");
    let with = |row: &[String], channel: &str| -> Vec<String> {
        let mut r = row.to_vec();
        r.insert(6, channel.to_string());
        r
    };
    let pay = common::batches::pay_rows();
    let mut fourth = pay[1].clone();
    fourth[0] = "25786018516999".into();
    let rows = vec![
        with(&pay[0], "BANK"), // 1
        with(&pay[1], "X"),    // 202 channel
        with(&pay[2], ""),     // 201 channel
        with(&fourth, "APP"),  // 202 purpose: "Sud xarajatlari" is 15 characters, now over 11
    ];
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &header, &rows, 7);
    let resp = acked_with(
        &mut rx,
        &b,
        &[
            ("1", "1", ""),
            ("2", "202", "channel"),
            ("3", "201", "channel"),
            ("4", "202", "purpose"),
        ],
    );
    let control =
        String::from_utf8(entry_of(&resp, "control.txt").expect("control")).expect("ascii");
    // The accepted row's amount, read from its column behind the new field.
    assert_eq!(
        control_value(&control, "amount_accepted").as_deref(),
        Some("204000.00")
    );
    assert_eq!(
        dump(
            &rx.engine.store.conn,
            "SELECT payment_id, invoice_no, payer_id, amount, account FROM payments"
        ),
        [
            "Text(\"25786018516942\")|Text(\"50122778370060254138\")|Text(\"62504049323943\")|Integer(20400000)|Text(\"20214000352925082571\")"
        ]
    );
    // A registry with the built-in header is now one whose header differs.
    let old = Batch::new(
        BatchType::PAY,
        "002",
        Charset::Utf8,
        &PAY_HEADER,
        &pay[..1],
        6,
    );
    let h = rx.process(&old.file_name(), &old.zip(Some(&common::batches::key())));
    assert_eq!(
        (h.result.as_str(), h.code.as_deref()),
        ("NAK", Some("B07")),
        "{h:?}"
    );
}

/// A key field's `maxLength` bounds the ids the reconciler remembers for 301 (so hostile ids
/// cost no memory), and an id of exactly that length is still remembered: repeated after a
/// line that was not applied, it is 301 on the earlier line (§7.2).
#[test]
fn an_id_of_the_key_fields_max_length_repeated_after_an_unapplied_line_is_301() {
    let mut rx = with_schemas(|name, schema| {
        if name == "PAY.json" {
            let at = field_at(schema, "payment_id");
            fields_of(schema)[at]["constraints"]["maxLength"] = 20.into();
        }
    })
    .expect("the configuration loads");
    rx.import_reference_invoices();
    let pay = common::batches::pay_rows();
    let mut unknown = pay[0].clone();
    unknown[0] = "25786018516942000000".into();
    unknown[2] = "79999999999999999999".into();
    let mut again = pay[0].clone();
    again[0] = unknown[0].clone();
    let mut long = pay[1].clone();
    long[0] = "257860185169420000001".into();
    let rows = vec![unknown, again, long];
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
    acked_with(
        &mut rx,
        &b,
        &[("1", "4", ""), ("2", "301", ""), ("3", "202", "payment_id")],
    );
}

/// Schemas are data for the billing export too: with `status` moved first and a field added,
/// an export in that order loads the same invoices as the agreement's export does.
#[test]
fn an_export_schema_in_another_order_with_a_field_added_loads_the_same_invoices() {
    let mut rx = with_schemas(|name, schema| {
        if name == "invoices.json" {
            let at = field_at(schema, "status");
            let status = fields_of(schema).remove(at);
            fields_of(schema).insert(0, status);
            fields_of(schema).insert(
                3,
                serde_json::json!({ "name": "note", "type": "string",
                    "constraints": { "maxLength": 5 } }),
            );
        }
    })
    .expect("the configuration loads");
    let reference = std::fs::read(reference_dir().join("invoices.csv")).expect("export");
    let mut rr = reestr::dialect::RecordReader::new(&reference[..], true);
    let mut records: Vec<Vec<String>> = Vec::new();
    while rr.read_record().expect("readable") {
        let f: Vec<String> = (0..rr.kept())
            .map(|i| String::from_utf8(rr.field(i).unwrap_or_default().to_vec()).expect("utf-8"))
            .collect();
        let note = match records.len() {
            0 => "note", // the header
            1 => "n",
            2 => "abcde",
            _ => "",
        };
        let mut out = vec![f[8].clone(), f[0].clone(), f[1].clone(), note.to_string()];
        out.extend_from_slice(&f[2..8]);
        records.push(out);
    }
    let header = records.remove(0);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    assert_eq!(header[..4], ["status", "invoice_no", "court_code", "note"]);
    let export = sample::registry_text(&header, &records).into_bytes();
    let p = rx.dir.path().join("reordered.csv");
    std::fs::write(&p, &export).expect("export");
    rx.engine
        .import_invoices(&p)
        .expect("import runs")
        .expect("export valid");
    let mut plain = Rx::new();
    plain.import_reference_invoices();
    let table = "SELECT invoice_no, court_code, case_no, payer_type, payer_id, payer_name, amount_due, issued_at, status FROM invoices ORDER BY invoice_no";
    let loaded = dump(&rx.engine.store.conn, table);
    assert!(loaded.len() > 10, "{loaded:?}");
    assert_eq!(loaded, dump(&plain.engine.store.conn, table));
    // The new field's rule holds: a note of 6 characters refuses the export.
    let text = String::from_utf8(export).expect("utf-8");
    let (head, rest) = text.split_once('\n').expect("lines");
    assert!(rest.contains(";abcde;"), "{rest}");
    let long = format!("{head}\n{}", rest.replacen(";abcde;", ";abcdef;", 1));
    let e = refused_export(&mut rx, "reordered.csv", &long);
    assert!(
        e.problems.iter().any(|m| m.contains("field note")),
        "{:?}",
        e.problems
    );
}

/// A schemas folder lacking what the engine reads stops it when the configuration loads,
/// naming the schema and the field, not at each batch or export.
#[test]
fn a_schema_lacking_a_field_the_engine_reads_is_refused_at_start() {
    let rename = |file: &'static str, from: &'static str| {
        move |name: &str, schema: &mut serde_json::Value| {
            if name == file {
                let at = field_at(schema, from);
                fields_of(schema)[at]["name"] = format!("{from}_x").into();
            }
        }
    };
    for (file, field, said) in [
        (
            "PAY.json",
            "payer_name",
            "schema PAY.json: lacks field payer_name, which reconciling PAY batches reads",
        ),
        (
            "REV.json",
            "reason",
            "schema REV.json: lacks field reason, which reconciling REV batches reads",
        ),
        (
            "REC.json",
            "state",
            "schema REC.json: lacks field state, which reconciling REC batches reads",
        ),
        (
            "invoices.json",
            "court_code",
            "schema invoices.json: lacks field court_code, which the invoices table keeps",
        ),
    ] {
        refused_at_start(rename(file, field), said);
    }
    // What the engine reads must be required, or an empty value would be a payment with no
    // id, amount or date, or an invoice with no number.
    let optional = |file: &'static str, from: &'static str| {
        move |name: &str, schema: &mut serde_json::Value| {
            if name == file {
                let at = field_at(schema, from);
                fields_of(schema)[at]["constraints"]["required"] = false.into();
            }
        }
    };
    for (file, field, said) in [
        (
            "PAY.json",
            "payment_id",
            "schema PAY.json: field payment_id must be required",
        ),
        (
            "PAY.json",
            "amount",
            "schema PAY.json: field amount must be required",
        ),
        (
            "PAY.json",
            "paid_at",
            "schema PAY.json: field paid_at must be required",
        ),
        (
            "REV.json",
            "reversed_at",
            "schema REV.json: field reversed_at must be required",
        ),
        (
            "REC.json",
            "state",
            "schema REC.json: field state must be required",
        ),
        (
            "invoices.json",
            "amount_due",
            "schema invoices.json: field amount_due must be required",
        ),
    ] {
        refused_at_start(optional(file, field), said);
    }
    // A registry's header is written in its encoding: a name cp866 cannot write is refused.
    refused_at_start(
        |name, schema| {
            if name == "REV.json" {
                fields_of(schema).push(serde_json::json!({ "name": "izohʻ", "type": "string" }));
            }
        },
        "schema REV.json: field name \"izohʻ\" holds 'ʻ', which windows-1251 cannot write",
    );
    // A field's title is documentation, as its description is.
    assert!(
        with_schemas(|name, schema| {
            if name == "PAY.json" {
                fields_of(schema)[0]["title"] = "MUNIS transaction id".into();
            }
        })
        .is_ok()
    );
    // PAY's account and purpose are optional in the agreement, and may stay so.
    assert!(with_schemas(optional("PAY.json", "account")).is_ok());
    let set = |file: &'static str, key: &'static str, value: &'static str| {
        move |name: &str, schema: &mut serde_json::Value| {
            if name == file {
                schema[key] = value.into();
            }
        }
    };
    refused_at_start(
        set("invoices.json", "amountField", "amount_due"),
        "amountField applies to registries",
    );
    refused_at_start(
        set("REC.json", "primaryKey", "invoice_no"),
        "schema REC.json: primaryKey must be payment_id",
    );
    refused_at_start(
        set("invoices.json", "primaryKey", "case_no"),
        "schema invoices.json: primaryKey must be invoice_no",
    );
}

/// A NAK applied nothing, so the schema it was judged under is no reason for `audit verify
/// --rebuild` to stop: a NAK judged under the built-in PAY schema, whose kept copy is gone, then
/// an ACK under the schema in force. The audit names the missing copy, and the rebuild still
/// judges the ACK.
#[test]
fn a_nak_judged_under_a_schema_no_longer_kept_does_not_stop_the_rebuild() {
    let mut rx = with_schemas(|_, _| {}).expect("the configuration loads");
    let built_in = reestr::schema::Schemas::built_in().expect("built in");
    rx.import_reference_invoices();
    let key = common::batches::key();
    let mut wrong_total = common::batches::batch();
    wrong_total.amount_total += 1;
    let nak = rx.process(&wrong_total.file_name(), &wrong_total.zip(Some(&key)));
    assert_eq!(
        (nak.result.as_str(), nak.code.as_deref()),
        ("NAK", Some("B08"))
    );
    // The PAY schema changed (a purpose of at most 400 characters, which no row has more of).
    schemas_folder(
        rx.dir.path(),
        |name: &str, schema: &mut serde_json::Value| {
            if name == "PAY.json" {
                let at = field_at(schema, "purpose");
                fields_of(schema)[at]["constraints"]["maxLength"] = 400.into();
            }
        },
    );
    let cfg = Config::load(&rx.config_path()).expect("config loads");
    let mut rx = Rx {
        engine: Engine::open(cfg).expect("open"),
        dir: rx.dir,
    };
    assert_ne!(
        rx.engine.cfg.schemas.pay.fingerprint,
        built_in.pay.fingerprint
    );
    let b = common::batches::batch_seq("002", reestr::charset::Charset::Utf8);
    assert_eq!(rx.process(&b.file_name(), &b.zip(Some(&key))).result, "ACK");
    // The NAK's schema is no longer kept (a store from before schemas were kept).
    let kept = format!("schemas/{}.json", built_in.pay.fingerprint);
    std::fs::remove_file(rx.dir.path().join("var").join(&kept)).expect("remove");
    let (problems, _, judged) = rx.engine.audit_with(true).expect("audit runs");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!("kept file {kept} (journal entry 2): ")),
        "{problems:?}"
    );
    assert_eq!(judged.map(|j| j.judged), Some(1), "the ACK, judged again");
}

/// A REV and a REC batch are judged again under their own kept schemas of then, as a PAY is:
/// after `reason` and `state` are narrowed to 1 character (so each row would now be `202`), the
/// replay of each is identical, judged under its kept schema, and the rebuild finds nothing.
#[test]
fn a_rev_and_a_rec_are_judged_again_under_their_kept_schemas_of_then() {
    let mut rx = with_schemas(|_, _| {}).expect("the configuration loads");
    rx.import_reference_invoices();
    for name in [PAY1, REV1, REC1] {
        assert_eq!(rx.process(name, &reference(name)).result, "ACK", "{name}");
    }
    schemas_folder(
        rx.dir.path(),
        |name: &str, schema: &mut serde_json::Value| {
            let field = match name {
                "REV.json" => "reason",
                "REC.json" => "state",
                _ => return,
            };
            let at = field_at(schema, field);
            fields_of(schema)[at]["constraints"]["maxLength"] = 1.into();
        },
    );
    let cfg = Config::load(&rx.config_path()).expect("config loads");
    let mut rx = Rx {
        engine: Engine::open(cfg).expect("open"),
        dir: rx.dir,
    };
    let out = rx.dir.path().join("replayed");
    for name in [REV1, REC1] {
        let kept = rx
            .dir
            .path()
            .join(format!("var/received/{}.zip", sha256_hex(&reference(name))));
        let r = rx.engine.replay(&kept, &out).expect("replay runs");
        assert_eq!(
            (r.identical, r.judged_under_kept_schema),
            (Some(true), true),
            "{name}: {r:?}"
        );
    }
    let (problems, _, judged) = rx.engine.audit_with(true).expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(judged.map(|j| j.judged), Some(3));
}

/// A batch and an export journal the fingerprint of the schemas they were judged under, and the
/// engine keeps those schemas (`schemas/<fingerprint>.json`, named in the journal's `kept`).
/// After the schemas change, `replay` and `audit verify --rebuild` judge again under the kept
/// schemas of then, and find everything as it was. Without the kept copy (a store from before
/// schemas were kept, or the file removed), `replay` says why its bytes differ, and the audit
/// says what it could not judge again instead of reporting payments or invoices that no
/// evidence explains. With the schemas of then in force again, the copy is kept again.
#[test]
fn replay_and_audit_judge_again_under_the_kept_schemas_of_then() {
    let mut rx = with_schemas(|_, _| {}).expect("the configuration loads");
    let built_in = reestr::schema::Schemas::built_in().expect("built in");
    assert_eq!(
        rx.engine.cfg.schemas.pay.fingerprint, built_in.pay.fingerprint,
        "a folder holding the built-in schemas (laid out otherwise) is the built-in schemas"
    );
    rx.import_reference_invoices();
    let b = common::batches::batch();
    assert_eq!(
        rx.process(&b.file_name(), &b.zip(Some(&common::batches::key())))
            .result,
        "ACK"
    );
    let bodies = dump(
        &rx.engine.store.conn,
        "SELECT json_extract(body, '$.schema') FROM journal WHERE kind IN ('import', 'delivery')",
    );
    let fp = |s: &reestr::schema::Schema| format!("Text({:?})", s.fingerprint);
    assert_eq!(bodies, [fp(&built_in.invoices), fp(&built_in.pay)]);
    let kept = |rx: &Rx| -> PathBuf {
        let sha: String = rx
            .engine
            .store
            .conn
            .query_row("SELECT inbound_sha256 FROM deliveries", [], |r| r.get(0))
            .expect("delivery");
        rx.dir.path().join(format!("var/received/{sha}.zip"))
    };
    let reopen = |rx: Rx, edit: &dyn Fn(&str, &mut serde_json::Value)| -> Rx {
        schemas_folder(rx.dir.path(), edit);
        let cfg = Config::load(&rx.config_path()).expect("config loads");
        Rx {
            engine: Engine::open(cfg).expect("open"),
            dir: rx.dir,
        }
    };
    // A purpose of at most 3 characters: the batch's rows would now be 202.
    let mut rx = reopen(rx, &|name, schema| {
        if name == "PAY.json" {
            let at = field_at(schema, "purpose");
            fields_of(schema)[at]["constraints"]["maxLength"] = 3.into();
        }
    });
    let kept_pay = rx
        .dir
        .path()
        .join(format!("var/schemas/{}.json", built_in.pay.fingerprint));
    assert_eq!(
        std::fs::read_to_string(&kept_pay).expect("the schema of then is kept"),
        built_in.pay.canonical
    );
    assert_eq!(
        dump(
            &rx.engine.store.conn,
            "SELECT json_extract(body, '$.kept[#-1].path') FROM journal WHERE kind IN ('import', 'delivery')"
        ),
        [
            format!("Text(\"schemas/{}.json\")", built_in.invoices.fingerprint),
            format!("Text(\"schemas/{}.json\")", built_in.pay.fingerprint)
        ]
    );
    let out = rx.dir.path().join("replayed");
    // What a replay of the kept batch says: identical, the schema change, under a kept schema,
    // and the exports before it loaded under kept export schemas.
    let replayed = |rx: &mut Rx| {
        let r = rx.engine.replay(&kept(rx), &out).expect("replay runs");
        (
            r.identical,
            r.schema_changed,
            r.judged_under_kept_schema,
            r.exports_under_kept_schemas,
        )
    };
    let changed = format!(
        "PAY.json: fingerprint {}… then, {}… now",
        &built_in.pay.fingerprint[..12],
        &rx.engine.cfg.schemas.pay.fingerprint[..12]
    );
    assert_eq!(
        replayed(&mut rx),
        (Some(true), Some(changed.clone()), true, vec![])
    );
    let (problems, _, judged) = rx.engine.audit_with(true).expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(judged.map(|j| j.judged), Some(1));
    // Without the kept copy: judged under the schema in force, and said so.
    let bytes = std::fs::read(&kept_pay).expect("kept");
    std::fs::remove_file(&kept_pay).expect("remove");
    assert_eq!(
        replayed(&mut rx),
        (Some(false), Some(changed.clone()), false, vec![])
    );
    let (problems, _, _) = rx.engine.audit_with(true).expect("audit runs");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!(
            "kept file schemas/{}.json (journal entry 2): ",
            built_in.pay.fingerprint
        )),
        "{problems:?}"
    );
    assert_eq!(
        problems[1],
        format!(
            "the books were not rebuilt past journal entry 2: MUNIS_SUDBILLING_PAY_20261121_001.zip was judged under another schema than the one in force ({changed}); with that one configured, the rebuild judges it again"
        )
    );
    // A kept copy edited is not used, and the audit names it.
    std::fs::write(&kept_pay, built_in.rev.canonical.as_bytes()).expect("edit");
    let (identical, _, under_kept, _) = replayed(&mut rx);
    assert_eq!((identical, under_kept), (Some(false), false));
    let (problems, _) = rx.engine.audit().expect("audit runs");
    assert_eq!(
        problems,
        [format!(
            "kept file schemas/{}.json (journal entry 2): bytes changed",
            built_in.pay.fingerprint
        )]
    );
    std::fs::write(&kept_pay, &bytes).expect("restore");
    // An export schema with a field more: the kept exports load under the kept one of then.
    let mut rx = reopen(rx, &|name, schema| {
        if name == "invoices.json" {
            fields_of(schema).push(serde_json::json!({ "name": "note", "type": "string" }));
        }
    });
    let (problems, _) = rx.engine.audit().expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    let (identical, changed_now, _, exports) = replayed(&mut rx);
    assert_eq!((identical, changed_now), (Some(true), None));
    assert_eq!(
        exports,
        [format!(
            "the export invoices.csv (journal entry 1) (invoices.json: fingerprint {}… then, {}… now)",
            &built_in.invoices.fingerprint[..12],
            &rx.engine.cfg.schemas.invoices.fingerprint[..12]
        )],
        "replay says the books before the batch were rebuilt under the kept export schema"
    );
    // Without the kept export schema: replay refuses, and the audit says why.
    let kept_invoices = rx.dir.path().join(format!(
        "var/schemas/{}.json",
        built_in.invoices.fingerprint
    ));
    std::fs::remove_file(&kept_invoices).expect("remove");
    let e = rx
        .engine
        .replay(&kept(&rx), &out)
        .expect_err("the books before the batch cannot be rebuilt");
    assert!(
        e.to_string().starts_with("the books before this batch cannot be rebuilt: the export invoices.csv (journal entry 1) was loaded under another schema than the one in force (invoices.json: fingerprint "),
        "{e}"
    );
    let (problems, _) = rx.engine.audit().expect("audit runs");
    assert!(
        problems.iter().any(|p| p.starts_with("invoices not checked against the kept exports: the export invoices.csv (journal entry 1) was loaded under another schema than the one in force (invoices.json: fingerprint ")),
        "{problems:?}"
    );
    // The schemas of then in force again: kept again by the next run (`check` keeps none), the
    // same bytes, and nothing to report.
    let mut rx = reopen(rx, &|_, _| {});
    let b2 = common::batches::batch_seq("002", reestr::charset::Charset::Utf8);
    let copy = rx.dir.path().join("check.zip");
    std::fs::write(&copy, b2.zip(Some(&common::batches::key()))).expect("copy");
    rx.engine.check(&copy).expect("check runs");
    assert!(!kept_invoices.is_file(), "check keeps nothing");
    assert!(rx.run().is_empty());
    assert!(kept_invoices.is_file());
    let (identical, changed_now, _, exports) = replayed(&mut rx);
    assert_eq!(
        (identical, changed_now, exports),
        (Some(true), None, vec![])
    );
    let (problems, _, judged) = rx.engine.audit_with(true).expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(judged.map(|j| j.judged), Some(1));
}

/// A receiver holding the reference invoices whose schemas folder adds the type `FEE`
/// (reconciled as PAY, the PAY fields and `fee_kind`), allowed for MUNIS: the receiver, the
/// type and its registry header.
fn fee_receiver() -> (Rx, reestr::name::BatchType, Vec<&'static str>) {
    let fee = reestr::name::BatchType::new("FEE", reestr::name::Role::Pay).expect("a type code");
    let mut rx = with_added_types(
        &[("FEE.json", fee_schema())],
        Some(r#"["PAY", "REV", "REC", "FEE"]"#),
    )
    .expect("the configuration loads");
    rx.import_reference_invoices();
    let mut header: Vec<&'static str> = PAY_HEADER.to_vec();
    header.push("fee_kind");
    (rx, fee, header)
}

/// A schemas folder holding the agreement's schemas and `extra` files (name, JSON), with
/// partner MUNIS (its key) allowed `types` when given.
fn with_added_types(
    extra: &[(&str, serde_json::Value)],
    types: Option<&str>,
) -> Result<Rx, String> {
    let partner = match types {
        Some(t) => format!("{MUNIS_WITH_KEY}types = {t}\n"),
        None => MUNIS_WITH_KEY.to_string(),
    };
    let dir = receiver_dir(&config_text(&format!("schemas = \"schemas\"\n{partner}")));
    schemas_folder(dir.path(), |_, _| {});
    for (name, json) in extra {
        std::fs::write(dir.path().join("schemas").join(name), json.to_string()).expect("schema");
    }
    let cfg = Config::load(&dir.path().join("reestr.toml")).map_err(|e| e.to_string())?;
    Ok(Rx {
        engine: Engine::init(cfg).expect("init"),
        dir,
    })
}

/// `FEE.json`: the built-in PAY schema named FEE, reconciled as PAY, with a field `fee_kind`
/// added at the end.
fn fee_schema() -> serde_json::Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/PAY.json"))
            .expect("built-in schema");
    let mut fee: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    fee["name"] = "FEE".into();
    fee["reconcileAs"] = "PAY".into();
    fields_of(&mut fee).push(serde_json::json!({ "name": "fee_kind", "type": "string",
        "constraints": { "required": true, "enum": ["DUTY", "FINE"] } }));
    fee
}

/// Schemas are data for registry types too: a `FEE.json` reconciled as PAY adds the type `FEE`
/// with no change to the code. Its batches are named, checked, answered, applied, audited and
/// re-sent like PAY batches, into the same books (a REV reverses a FEE payment). Without its
/// schema, a FEE name is not of the form, but the bytes acknowledged before still get their
/// stored ACK (§7.1), the audit still knows what the batch did, and its kept schema judges it
/// again.
#[test]
fn a_registry_type_added_by_a_schemas_folder_needs_no_code() {
    let send =
        |rx: &mut Rx, b: &Batch| rx.process(&b.file_name(), &b.zip(Some(&common::batches::key())));
    let (mut rx, fee, header) = fee_receiver();
    let pay = common::batches::pay_rows();
    let with = |row: &[String], kind: &str| -> Vec<String> {
        let mut r = row.to_vec();
        r.push(kind.to_string());
        r
    };
    let rows = vec![with(&pay[0], "DUTY"), with(&pay[1], "TAX")];
    let b = Batch::new(fee, "001", Charset::Utf8, &header, &rows, 6);
    assert_eq!(b.file_name(), "MUNIS_SUDBILLING_FEE_20261121_001.zip");
    let bytes = b.zip(Some(&common::batches::key()));
    let h = rx.process(&b.file_name(), &bytes);
    assert_eq!(h.result, "ACK", "{h:?}");
    let name = "SUDBILLING_MUNIS_FEE_20261121_001_ACK.zip";
    let first = rx.response(name);
    let control = rx.response_control(name);
    assert_eq!(control_value(&control, "type").as_deref(), Some("FEE"));
    assert_eq!(
        control_value(&control, "batch_id").as_deref(),
        Some("SUDBILLING_MUNIS_FEE_20261121_001_ACK")
    );
    let result = rx.response_entry(name, "result.csv").expect("result.csv");
    let got: Vec<(String, String, String)> = statuses(&result)
        .into_iter()
        .map(|(line, _, status, field)| (line, status, field))
        .collect();
    let want = [("1", "1", ""), ("2", "202", "fee_kind")];
    assert_eq!(
        got,
        want.map(|(l, s, f)| (l.to_string(), s.to_string(), f.to_string()))
    );
    assert_eq!(
        dump(
            &rx.engine.store.conn,
            "SELECT payment_id, batch_id, amount FROM payments"
        ),
        ["Text(\"25786018516942\")|Text(\"MUNIS_SUDBILLING_FEE_20261121_001\")|Integer(20400000)"]
    );
    assert_eq!(
        dump(
            &rx.engine.store.conn,
            "SELECT json_extract(body, '$.reconciled_as') FROM journal WHERE kind = 'delivery'"
        ),
        ["Text(\"PAY\")"]
    );
    // The same books: a reversal finds the FEE payment, and a second FEE row paying it again
    // is a duplicate (301) as in PAY.
    let rev = Batch::new(
        BatchType::REV,
        "001",
        Charset::Utf8,
        &sample::REV_HEADER,
        &[vec![
            "25786018516942".to_string(),
            "2026-11-21 15:00:00".to_string(),
            "204000.00".to_string(),
            "Xato to'lov".to_string(),
        ]],
        2,
    );
    let h = send(&mut rx, &rev);
    assert_eq!((h.result.as_str(), h.rows), ("ACK", 1), "{h:?}");
    assert_eq!(h.statuses.get(&1), Some(&1), "{h:?}");
    let again = Batch::new(fee, "002", Charset::Utf8, &header, &rows[..1], 6);
    let h = send(&mut rx, &again);
    assert_eq!(h.statuses.get(&301), Some(&1), "{h:?}");
    let pay_again = Batch::new(
        BatchType::PAY,
        "001",
        Charset::Utf8,
        &PAY_HEADER,
        &pay[..1],
        6,
    );
    let h = send(&mut rx, &pay_again);
    assert_eq!(h.statuses.get(&301), Some(&1), "{h:?}");
    // The day's statement must list it: an empty one gets a 306 for it.
    let rec = Batch::new(
        BatchType::REC,
        "001",
        Charset::Utf8,
        &sample::REC_HEADER,
        &[],
        3,
    );
    let h = send(&mut rx, &rec);
    assert_eq!(h.result, "ACK", "{h:?}");
    let result = rx
        .response_entry("SUDBILLING_MUNIS_REC_20261121_001_ACK.zip", "result.csv")
        .expect("result.csv");
    assert_eq!(
        statuses(&result),
        [(
            String::new(),
            "25786018516942".into(),
            "306".into(),
            String::new()
        )]
    );
    let (problems, _, judged) = rx.engine.audit_with(true).expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(judged.map(|j| j.judged), Some(5));
    // A partner whose types do not list FEE gets B10 for it.
    let mut other = with_added_types(&[("FEE.json", fee_schema())], None).expect("loads");
    let h = other.process(&b.file_name(), &bytes);
    assert_eq!(
        (h.result.as_str(), h.code.as_deref()),
        ("NAK", Some("B10")),
        "{h:?}"
    );
    // Without FEE.json (and FEE no longer listed): a new FEE batch is not of the form, the
    // bytes acknowledged before get the stored ACK, and the audit is still clean.
    std::fs::remove_file(rx.dir.path().join("schemas/FEE.json")).expect("remove");
    let config = std::fs::read_to_string(rx.config_path()).expect("config");
    std::fs::write(rx.config_path(), config.replace(", \"FEE\"", "")).expect("config");
    let cfg = Config::load(&rx.config_path()).expect("config loads");
    let mut rx = Rx {
        engine: Engine::open(cfg).expect("open"),
        dir: rx.dir,
    };
    let h = rx.process(&b.file_name(), &bytes);
    assert_eq!(h.result, "RESENT", "{h:?}");
    assert_eq!(rx.response(name), first, "the stored ACK, byte for byte");
    let third = Batch::new(fee, "003", Charset::Utf8, &header, &rows[..1], 6);
    let h = send(&mut rx, &third);
    assert_eq!(h.result, "SET_ASIDE", "{h:?}");
    assert!(
        h.message
            .as_deref()
            .is_some_and(|m| m.ends_with("the type is not PAY, REV or REC")),
        "{h:?}"
    );
    let (problems, _) = rx.engine.audit().expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    // Its kept schema judges its batches again: the rebuild and replay find them as they were.
    let (problems, _, judged) = rx.engine.audit_with(true).expect("audit runs");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(judged.map(|j| j.judged), Some(5));
    let received = |rx: &Rx| {
        rx.dir
            .path()
            .join(format!("var/received/{}.zip", sha256_hex(&bytes)))
    };
    let out = rx.dir.path().join("replayed");
    let r = rx.engine.replay(&received(&rx), &out).expect("replay runs");
    assert_eq!(
        (r.identical, r.judged_under_kept_schema),
        (Some(true), true)
    );
    assert!(
        r.schema_changed
            .as_deref()
            .is_some_and(|c| c.starts_with("FEE.json: fingerprint ")
                && c.ends_with("… then, none in force now")),
        "{r:?}"
    );
    // Without the kept copy, there is nothing to judge it by.
    let fee_fp = reestr::schema::Schema::parse("FEE.json", &fee_schema().to_string())
        .expect("schema")
        .fingerprint;
    std::fs::remove_file(rx.dir.path().join(format!("var/schemas/{fee_fp}.json")))
        .expect("kept FEE schema");
    let (problems, _, _) = rx.engine.audit_with(true).expect("audit runs");
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        problems[2],
        "the books were not rebuilt past journal entry 2: MUNIS_SUDBILLING_FEE_20261121_001.zip was judged under another schema than the one in force (its type has no schema in force, and none is kept); with that one configured, the rebuild judges it again"
    );
    assert!(rx.engine.replay(&received(&rx), &out).is_err());
}

/// A type a schemas folder adds must say how it is reconciled, with a code written like a
/// party code; the agreement's types keep their own reconciliation; a partner may list only
/// types in force.
#[test]
fn an_added_registry_type_is_refused_at_start_unless_it_says_how_it_is_reconciled() {
    let refused = |extra: &[(&str, serde_json::Value)], types: Option<&str>, said: &str| {
        let e = with_added_types(extra, types)
            .err()
            .unwrap_or_else(|| panic!("the configuration loads; expected {said:?}"));
        assert!(e.contains(said), "{said:?} not said: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    };
    let mut no_role = fee_schema();
    no_role
        .as_object_mut()
        .expect("object")
        .remove("reconcileAs");
    refused(
        &[("FEE.json", no_role)],
        None,
        "FEE.json: a registry type the agreement does not define needs reconcileAs",
    );
    let mut bad_role = fee_schema();
    bad_role["reconcileAs"] = "FEE".into();
    refused(
        &[("FEE.json", bad_role)],
        None,
        r#"FEE.json: reconcileAs "FEE" is not PAY, REV or REC"#,
    );
    let mut lower = fee_schema();
    lower["name"] = "fee".into();
    refused(
        &[("fee.json", lower)],
        None,
        r#""fee" is not a registry type code ([A-Z0-9]{2,16}) nor invoices"#,
    );
    refused(
        &[],
        Some(r#"["PAY", "FEE"]"#),
        r#"partner MUNIS: unknown type "FEE""#,
    );
    let mut pay_as_rev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/PAY.json"))
            .expect("built-in"),
    )
    .expect("JSON");
    pay_as_rev["reconcileAs"] = "REV".into();
    refused(
        &[("PAY.json", pay_as_rev)],
        None,
        "PAY.json: reconcileAs REV: the agreement's PAY rows are reconciled as PAY",
    );
    let mut export_as_pay: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/invoices.json"),
        )
        .expect("built-in"),
    )
    .expect("JSON");
    export_as_pay["reconcileAs"] = "PAY".into();
    refused(
        &[("invoices.json", export_as_pay)],
        None,
        "invoices.json: reconcileAs PAY: the billing export is not a registry",
    );
    // An added type is checked as its role's schema is: a FEE without `invoice_no` is refused.
    let mut no_invoice = fee_schema();
    let at = field_at(&mut no_invoice, "invoice_no");
    fields_of(&mut no_invoice).remove(at);
    refused(
        &[("FEE.json", no_invoice)],
        None,
        "FEE.json: lacks field invoice_no, which reconciling FEE batches reads",
    );
    // A file that is not JSON is not a schema.
    let rx = with_added_types(&[("README.txt", "notes".into())], None).expect("loads");
    assert_eq!(
        rx.engine.cfg.schemas.types(),
        &reestr::name::Types::agreement()
    );
}
