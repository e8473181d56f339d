//! Write failures: an unwritable outbox and a full disk. The batch is either not applied, or
//! applied with its response re-emitted later; the run says so; the next run after the
//! condition clears finishes the job, once.

mod common;
use common::*;
use reestr::charset::Charset;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER, Rng};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_reestr");

fn batch(rows: usize) -> (String, String, Vec<u8>) {
    let mut rng = Rng::new(3);
    let inv = sample::invoices(rows, &mut rng);
    let open: Vec<&sample::Invoice> = inv.iter().filter(|i| i.status == "OPEN").collect();
    let pay: Vec<Vec<String>> = open
        .iter()
        .enumerate()
        .map(|(i, v)| {
            sample::pay_row(
                93_000_000_000_000 + i as u64,
                v,
                "2026-11-21 10:00:00",
                "Davlat boji \"ariza\"; 2-706/2026",
                &mut rng,
            )
        })
        .collect();
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &pay, 6);
    (
        sample::invoices_csv(&inv),
        b.file_name(),
        b.zip(Some(&key())),
    )
}

fn setup(dir: &Path, data: &str, invoices: &str) {
    let k = dir.join("MUNIS.key");
    std::fs::write(&k, reference("MUNIS.key")).expect("key");
    set_mode(&k, 0o600);
    std::fs::write(
        dir.join("reestr.toml"),
        format!("receiver = \"SUDBILLING\"\nsettle_seconds = 0\ndata = \"{data}\"\n[partners.MUNIS]\nkey_file = \"MUNIS.key\"\n"),
    )
    .expect("config");
    std::fs::write(dir.join("invoices.csv"), invoices).expect("csv");
    assert!(reestr(dir, &["init"]).status.success());
    assert!(
        reestr(dir, &["invoices", "import", "invoices.csv"])
            .status
            .success()
    );
}

fn reestr(dir: &Path, args: &[&str]) -> std::process::Output {
    reestr_env(dir, args, None)
}

fn reestr_env(dir: &Path, args: &[&str], fail: Option<&str>) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .arg("--config")
        .arg(dir.join("reestr.toml"))
        .args(args)
        .env_remove("REESTR_FAIL");
    if let Some(f) = fail {
        c.env("REESTR_FAIL", f);
    }
    c.output().expect("run")
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .expect("db")
        .query_row(sql, [], |r| r.get(0))
        .expect("query")
}

fn calm_response(invoices: &str, name: &str, bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tmp");
    setup(dir.path(), "var", invoices);
    std::fs::write(dir.path().join("inbox").join(name), bytes).expect("drop");
    assert!(reestr(dir.path(), &["run"]).status.success());
    std::fs::read(
        dir.path()
            .join("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip"),
    )
    .expect("ack")
}

#[test]
fn an_unwritable_outbox_leaves_the_batch_applied_once_and_the_response_is_emitted_later() {
    let (invoices, name, bytes) = batch(50);
    let want = calm_response(&invoices, &name, &bytes);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    setup(d, "var", &invoices);
    std::fs::write(d.join("inbox").join(&name), &bytes).expect("drop");
    let out = reestr_env(d, &["run"], Some("outbox-write"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run says not everything was done"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outbox"), "the error names the outbox: {err}");
    let db = d.join("var/reestr.db");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM deliveries WHERE state='committed'"
        ),
        1
    );
    assert!(
        d.join("inbox").join(&name).exists(),
        "the archive stays until its response is out"
    );
    // The condition clears: the next run re-emits the kept response and finishes, and says so.
    let again = reestr(d, &["run"]);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        said.lines().any(
            |l| l.starts_with("SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")
                && l.contains("FINISHED")
        ),
        "{said}"
    );
    assert!(!said.contains("nothing to do"), "{said}");
    assert_eq!(
        std::fs::read(d.join("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")).expect("ack"),
        want
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM deliveries"),
        1,
        "answered once"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM deliveries WHERE state='done'"),
        1
    );
    assert!(!d.join("inbox").join(&name).exists());
    assert!(reestr(d, &["audit", "verify"]).status.success());
}

#[test]
fn a_failing_result_write_leaves_the_batch_unapplied_until_it_clears() {
    let (invoices, name, bytes) = batch(50);
    let want = calm_response(&invoices, &name, &bytes);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    setup(d, "var", &invoices);
    std::fs::write(d.join("inbox").join(&name), &bytes).expect("drop");
    let out = reestr_env(d, &["run"], Some("spool-create"));
    assert_eq!(out.status.code(), Some(1));
    let db = d.join("var/reestr.db");
    assert_eq!(
        count(&db, "SELECT count(*) FROM payments"),
        0,
        "not applied"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM deliveries"),
        0,
        "not answered"
    );
    // The receiver's own failure is not answered row by row with status 2 (README,
    // "Decisions"): no response at all, the archive waits, and the next run answers every row.
    let outbox: Vec<_> = std::fs::read_dir(d.join("outbox"))
        .expect("outbox")
        .collect();
    assert!(outbox.is_empty(), "no response while the receiver fails");
    assert!(d.join("inbox").join(&name).exists(), "the archive waits");
    assert!(
        reestr(d, &["run"]).status.success(),
        "the next run answers it"
    );
    assert_eq!(
        std::fs::read(d.join("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")).expect("ack"),
        want
    );
    assert_eq!(count(&db, "SELECT count(*) FROM deliveries"), 1);
    let result = common::entry_of(&want, "result.csv").expect("result.csv");
    let rows = common::statuses(&result);
    let control =
        String::from_utf8(common::entry_of(&want, "control.txt").expect("control")).expect("ascii");
    assert_eq!(
        Some(rows.len().to_string()),
        control_value(&control, "rows")
    );
    assert!(rows.len() > 40, "{rows:?}");
    assert!(rows.iter().all(|r| r.2 != "2"), "{rows:?}");
}

/// A real full disk: the data folder on a small tmpfs. Needs permission to mount (root in a
/// sandbox that allows it); elsewhere the test says so and checks nothing.
#[test]
fn a_full_disk_leaves_the_batch_unapplied_and_the_next_run_after_space_is_freed_finishes() {
    let (invoices, name, bytes) = batch(800);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let mnt = d.join("small");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (the write-failure tests above still ran)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let want = calm_response(&invoices, &name, &bytes);
    setup(d, "small/var", &invoices);
    std::fs::write(d.join("inbox").join(&name), &bytes).expect("drop");
    let filler = mnt.join("filler");
    // Leave room to open the store and keep the archive, not to apply 800 payments.
    let free = (1024 * 1024u64).saturating_sub(dir_size(&mnt));
    let _ = std::fs::write(&filler, vec![0u8; free.saturating_sub(160 * 1024) as usize]);
    let out = reestr(d, &["run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a store that cannot commit: could not run; {err}"
    );
    assert!(
        err.contains("full"),
        "the error says the disk is full: {err}"
    );
    let db = d.join("small/var/reestr.db");
    assert_eq!(
        count(&db, "SELECT count(*) FROM payments"),
        0,
        "not applied"
    );
    assert!(d.join("inbox").join(&name).exists());
    std::fs::remove_file(&filler).expect("free space");
    assert!(
        Command::new("mount")
            .args(["-o", "remount,size=20m"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success())
    );
    let out = reestr(d, &["run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(d.join("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")).expect("ack"),
        want
    );
    assert_eq!(count(&db, "SELECT count(*) FROM deliveries"), 1);
    assert!(reestr(d, &["audit", "verify"]).status.success());
}

fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Starts `reestr run` in `d`, held at `point` (`REESTR_PAUSE`), and waits until it is there:
/// the process, and the file to remove to let it go on.
fn run_paused_at(d: &Path, point: &str) -> (std::process::Child, std::path::PathBuf) {
    paused_at(d, point, &["run"])
}

/// A receiver in a fresh folder holding one 300-row batch, and `reestr run` held at `point` in
/// the middle of it: the folder, the process, and the file to remove to let it go on.
fn batch_paused_at(point: &str) -> (tempfile::TempDir, std::process::Child, std::path::PathBuf) {
    let (dir, _) = receiver_with_batch(300);
    let (child, marker) = run_paused_at(dir.path(), point);
    (dir, child, marker)
}

/// A receiver in a temporary folder, its invoices imported, and a PAY batch of `rows` rows in
/// its inbox; the batch's archive name.
fn receiver_with_batch(rows: usize) -> (tempfile::TempDir, String) {
    let (invoices, name, bytes) = batch(rows);
    let dir = tempfile::tempdir().expect("tmp");
    setup(dir.path(), "var", &invoices);
    std::fs::write(dir.path().join("inbox").join(&name), &bytes).expect("drop");
    (dir, name)
}

/// Starts `reestr ARGS` in `d`, held at `point`, as [`run_paused_at`].
fn paused_at(d: &Path, point: &str, args: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let marker = d.join("paused");
    let mut child = Command::new(BIN)
        .current_dir(d)
        .arg("--config")
        .arg(d.join("reestr.toml"))
        .args(args)
        .env("REESTR_PAUSE", format!("{point}:{}", marker.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let waited = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the run ended before {point}"
        );
        assert!(waited.elapsed().as_secs() < 60, "{point} never reached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (child, marker)
}

/// `backup` beside a batch being applied (`run` held before its commit) copies the state before
/// the batch, audited whole, or says the store is busy (exit 3) when the batch holds it; the
/// batch then commits as if no backup had run, and a backup after it holds it.
#[test]
fn a_backup_beside_a_batch_copies_the_state_before_it_and_never_stops_it() {
    let (dir, child, marker) = batch_paused_at("validated");
    let d = dir.path();
    let backup = |to: &str| {
        Command::new(BIN)
            .current_dir(d)
            .args(["--config", "reestr.toml", "backup", "--to", to])
            .output()
            .expect("backup")
    };
    let out = backup("before");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            assert_eq!(
                count(
                    &d.join("before/reestr.db"),
                    "SELECT count(*) FROM deliveries"
                ),
                0,
                "{said}"
            );
            assert_eq!(
                count(&d.join("before/reestr.db"), "SELECT count(*) FROM payments"),
                0,
                "{said}"
            );
            assert!(
                said.contains("audit verify of the copy: chain intact"),
                "{said}"
            );
        }
        Some(3) => assert!(said.contains("is busy: a batch is being applied"), "{said}"),
        other => panic!("backup exited {other:?}: {said}"),
    }
    std::fs::remove_file(&marker).expect("go on");
    let run = child.wait_with_output().expect("wait");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = backup("after");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = d.join("after/reestr.db");
    assert_eq!(count(&db, "SELECT count(*) FROM deliveries"), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM payments"),
        count(&d.join("var/reestr.db"), "SELECT count(*) FROM payments")
    );
}

/// An export rewritten while it is read is imported only if it still holds the bytes that were
/// loaded: other bytes are refused and leave no trace; the same bytes written again are taken.
#[test]
fn an_export_changed_while_it_was_read_is_not_imported() {
    let count = |d: &Path, sql: &str| -> i64 {
        let c = rusqlite::Connection::open(d.join("var/reestr.db")).expect("db");
        c.query_row(sql, [], |r| r.get(0)).expect("count")
    };
    for same_bytes in [false, true] {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let (first, _, _) = batch(50);
        setup(d, "var", &first);
        let (second, _, _) = batch(60);
        let (third, _, _) = batch(70);
        std::fs::write(d.join("second.csv"), &second).expect("csv");
        let (child, marker) = paused_at(d, "import-read", &["invoices", "import", "second.csv"]);
        let rewrite = if same_bytes { &second } else { &third };
        std::fs::write(d.join("second.csv"), rewrite).expect("rewrite");
        std::fs::remove_file(&marker).expect("go on");
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        let kept = std::fs::read_dir(d.join("var/imports"))
            .expect("imports")
            .count();
        let invoices = count(d, "SELECT count(*) FROM invoices");
        let imports = count(d, "SELECT count(*) FROM imports");
        if same_bytes {
            assert!(out.status.success(), "{err}");
            assert_eq!((invoices, imports, kept), (60, 2, 2), "{err}");
        } else {
            assert!(!out.status.success(), "imported: {err}");
            assert!(
                err.contains("changed while it was read; not imported"),
                "{err}"
            );
            assert_eq!((invoices, imports, kept), (50, 1, 1), "{err}");
        }
    }
}

/// From its rows to its commit, a batch keeps the store locked against every other process: at
/// the moment its rows are evaluated and at the moment before its commit, another connection
/// can neither take the write lock nor read anything of the batch; after the commit it reads
/// all of it. (Closing any descriptor of the store would drop SQLite's locks: ARCHITECTURE.md,
/// invariants.)
#[test]
fn no_other_process_can_write_or_see_a_batch_before_its_commit() {
    for point in ["validated", "response-kept"] {
        let (dir, child, marker) = batch_paused_at(point);
        let d = dir.path();
        let probe = rusqlite::Connection::open(d.join("var/reestr.db")).expect("db");
        probe
            .busy_timeout(std::time::Duration::ZERO)
            .expect("timeout");
        let write = probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK;");
        assert_eq!(
            write.as_ref().err().and_then(|e| e.sqlite_error_code()),
            Some(rusqlite::ErrorCode::DatabaseBusy),
            "at {point} another process got the write lock: {write:?}"
        );
        match probe.query_row("SELECT count(*) FROM payments", [], |r| r.get::<_, i64>(0)) {
            Ok(n) => assert_eq!(n, 0, "at {point} another process saw the batch's payments"),
            Err(e) => assert_eq!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy),
                "{e}"
            ),
        }
        std::fs::remove_file(&marker).expect("go on");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "the run at {point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let paid = probe
            .query_row("SELECT count(*) FROM payments", [], |r| r.get::<_, i64>(0))
            .expect("read after the commit");
        assert!(paid > 0, "the batch is applied once committed ({point})");
        assert_eq!(
            count(&d.join("var/reestr.db"), "SELECT count(*) FROM deliveries"),
            1
        );
    }
}

/// A process that reads the store when a batch is about to commit (`audit verify` reads every
/// invoice in one statement, many seconds on a large store) delays the commit; it does not
/// undo the batch. Held here for 12 s, longer than a reader waits for a batch (10 s).
#[test]
fn a_long_reader_delays_a_batchs_commit_and_does_not_undo_it() {
    let (dir, _) = receiver_with_batch(200);
    let d = dir.path();
    let (child, marker) = run_paused_at(d, "response-kept");
    // A read transaction: the store's shared lock, held until it ends.
    let reader = rusqlite::Connection::open(d.join("var/reestr.db")).expect("db");
    reader.execute_batch("BEGIN").expect("begin");
    let before: i64 = reader
        .query_row("SELECT count(*) FROM payments", [], |r| r.get(0))
        .expect("read while the batch waits");
    assert_eq!(before, 0);
    std::fs::remove_file(&marker).expect("go on");
    std::thread::sleep(std::time::Duration::from_secs(12));
    reader.execute_batch("COMMIT").expect("end the read");
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the run failed: {err}");
    assert!(
        err.contains("another process is reading the store"),
        "the run says what it waits for: {err}"
    );
    let paid: i64 = reader
        .query_row("SELECT count(*) FROM payments", [], |r| r.get(0))
        .expect("read after the commit");
    assert!(paid > 0, "the batch is applied");
    assert!(
        d.join("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")
            .exists()
    );
}

/// Starts `run` and gives it up to 3 s to end (it does not, when a reader holds it back).
fn run_for_up_to_3_s(d: &Path) -> std::process::Child {
    let mut run = Command::new(BIN)
        .current_dir(d)
        .arg("--config")
        .arg(d.join("reestr.toml"))
        .arg("run")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    while run.try_wait().expect("wait").is_none() && started.elapsed().as_secs() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run
}

#[test]
fn an_audit_sees_one_state_of_the_store_though_a_batch_commits_while_it_reads() {
    // `audit verify` walks the journal, then reads the tables that point into it. A batch
    // committed between the two used to be a delivery pointing at a journal entry "missing".
    let (dir, _) = receiver_with_batch(300);
    let d = dir.path();
    let (audit, marker) = paused_at(d, "audit-walked", &["audit", "verify"]);
    // The batch is applied and would commit now: it waits for the audit's read instead.
    let run = run_for_up_to_3_s(d);
    std::fs::remove_file(&marker).expect("go on");
    let audited = audit.wait_with_output().expect("audit");
    assert_eq!(
        audited.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&audited.stdout),
        String::from_utf8_lossy(&audited.stderr)
    );
    let ran = run.wait_with_output().expect("run");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        std::fs::read_dir(d.join("outbox")).expect("outbox").count(),
        1
    );
}

/// `status` shows one state of the store: a batch that a run applies while `status` reads is in
/// none of what it shows, though `status` reads the set-aside files before the answers.
#[test]
fn status_shows_one_state_of_the_store_though_a_run_commits_while_it_reads() {
    let (dir, name) = receiver_with_batch(50);
    let d = dir.path();
    std::fs::write(d.join("inbox/not-a-batch.zip"), b"x").expect("drop");
    let (status, marker) = paused_at(d, "status-read", &["status", "--json"]);
    // The run sets the bad name aside and applies the batch; its commits wait for the read.
    let run = run_for_up_to_3_s(d);
    std::fs::remove_file(&marker).expect("go on");
    let shown = status.wait_with_output().expect("status");
    assert!(shown.status.success(), "{shown:?}");
    let s: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    let batch_id = name.trim_end_matches(".zip");
    assert_eq!(s["set_aside"], serde_json::json!([]), "{s}");
    assert_eq!(
        s["recent"],
        serde_json::json!([]),
        "{batch_id} answered after the set-aside files were read: {s}"
    );
    let ran = run.wait_with_output().expect("run");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    // Afterwards both show.
    let after = Command::new(BIN)
        .current_dir(d)
        .arg("--config")
        .arg(d.join("reestr.toml"))
        .args(["status", "--json"])
        .output()
        .expect("status");
    let s: serde_json::Value = serde_json::from_slice(&after.stdout).expect("json");
    assert_eq!(s["recent"][0]["batch_id"], batch_id, "{s}");
    assert_eq!(s["set_aside"][0]["original_name"], "not-a-batch.zip", "{s}");
}

/// While a run is in the middle of a batch, a second writer is refused at once with exit code 4
/// (another process holds the data folder), not after SQLite's busy timeout with code 3; and an
/// audit sees no tampering in the batch's kept copy, which no journal entry names yet.
#[test]
fn a_second_writer_during_a_batch_is_told_the_lock_is_held_and_an_audit_finds_nothing() {
    for point in ["validated", "response-kept"] {
        let (dir, child, marker) = batch_paused_at(point);
        let d = dir.path();
        let cmd = |args: &[&str]| {
            Command::new(BIN)
                .current_dir(d)
                .arg("--config")
                .arg(d.join("reestr.toml"))
                .args(args)
                .output()
                .expect("runs")
        };
        for args in [&["run"][..], &["invoices", "import", "invoices.csv"]] {
            let o = cmd(args);
            assert_eq!(
                o.status.code(),
                Some(4),
                "{args:?} at {point}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(String::from_utf8_lossy(&o.stderr).contains("another reestr process"));
        }
        let audit = cmd(&["audit", "verify"]);
        // Done (0), or the store busy with the batch (3): never "problems found" (1).
        assert_ne!(
            audit.status.code(),
            Some(1),
            "audit at {point}: {}",
            String::from_utf8_lossy(&audit.stdout)
        );
        std::fs::remove_file(&marker).expect("go on");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let audit = cmd(&["audit", "verify"]);
        assert_eq!(
            audit.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&audit.stdout)
        );
    }
}

/// Bytes of `file` in the kernel's page cache (`fincore`, util-linux).
fn resident_bytes(file: &Path) -> u64 {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "--output", "RES"])
        .arg(file)
        .output()
        .expect("fincore (util-linux) runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number of bytes")
}

/// While a batch is applied, the store's pages past its length at the start (what the batch
/// appends) leave the page cache once written back, so that the kernel uses that memory again
/// (`fsutil::write_back_while`); the pages before stay, and the bytes are the same.
#[test]
fn pages_a_batch_appends_leave_the_page_cache_once_written_back() {
    use std::io::{Seek, Write};
    // Not tmpfs (whose pages are the file): beside the build.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let path = dir.path().join("store");
    let mb = |n: usize| vec![0x5a_u8; n << 20];
    std::fs::write(&path, mb(2)).expect("write");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    file.sync_all().expect("sync");
    // Does this file system drop clean pages on advice at all? (tmpfs and some others do not.)
    let probe = dir.path().join("probe");
    std::fs::write(&probe, mb(4)).expect("probe");
    let p = std::fs::File::open(&probe).expect("probe");
    p.sync_all().expect("sync");
    rustix::fs::fadvise(&p, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
    if resident_bytes(&probe) > 1 << 20 {
        eprintln!("this file system keeps clean pages despite the advice: nothing to check");
        return;
    }
    let before = resident_bytes(&path);
    let every = std::time::Duration::from_millis(20);
    let reader = file.try_clone().expect("clone");
    reestr::fsutil::write_back_while(Some(&reader), every, || {
        file.seek(std::io::SeekFrom::End(0)).expect("seek");
        for _ in 0..16 {
            file.write_all(&mb(1)).expect("append");
            std::thread::sleep(every);
        }
        std::thread::sleep(every * 10);
    });
    let after = resident_bytes(&path);
    assert!(
        after < before + (4 << 20),
        "16 MiB appended, {} MiB resident after (before: {} MiB)",
        after >> 20,
        before >> 20
    );
    assert!(
        after >= before.min(2 << 20) - (64 << 10),
        "the pages before the batch stay: {after} of {before} bytes"
    );
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes.len(), 18 << 20);
    assert!(bytes.iter().all(|&b| b == 0x5a));
}
