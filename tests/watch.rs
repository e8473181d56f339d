//! Day-to-day operation with real processes: `watch` with a slow writer, many archives at once,
//! SIGTERM in the middle of a large batch, and two engines on the same folders.

mod common;
use common::*;
use reestr::charset::Charset;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER, Rng};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reestr");

/// A receiver folder driven through the binary.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(extra: &str) -> Self {
        let dir = receiver_dir(&format!(
            "receiver = \"SUDBILLING\"\nunreadable_grace_seconds = 0\n{extra}\n{MUNIS_WITH_KEY}"
        ));
        let s = Self { dir };
        assert!(s.cmd(&["init"]).status().expect("init").success());
        s
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(self.path("reestr.toml"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).spawn().expect("spawn")
    }
    fn import(&self, csv: &str) {
        let p = self.path("invoices.csv");
        std::fs::write(&p, csv).expect("csv");
        let out = self
            .cmd(&["invoices", "import", p.to_str().unwrap_or_default()])
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path("var/reestr.db")).expect("db")
    }
    fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).expect("query")
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let start = Instant::now();
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "process did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Invoices and a PAY batch of `rows` rows paying them (sequence `seq`, date `date`).
fn pay_batch(
    rng: &mut Rng,
    inv: &[sample::Invoice],
    first_id: u64,
    seq: &str,
    date: &str,
) -> Batch {
    let day = format!("{}-{}-{}", &date[0..4], &date[4..6], &date[6..8]);
    let rows: Vec<Vec<String>> = inv
        .iter()
        .enumerate()
        .map(|(i, v)| {
            sample::pay_row(
                first_id + i as u64,
                v,
                &format!("{day} 10:00:00"),
                "Davlat boji",
                rng,
            )
        })
        .collect();
    let mut b = Batch::new(BatchType::PAY, seq, Charset::Utf8, &PAY_HEADER, &rows, 6);
    b.date = date.to_string();
    b.created_at = format!("{day}T23:00:00+05:00");
    b
}

/// A receiver settling files for 1 s and rescanning every 0.2 s, with `n` invoices of the
/// generator's `seed` imported; the generator and the open invoices.
fn watched_site(seed: u64, n: usize) -> (Site, Rng, Vec<sample::Invoice>) {
    let site = Site::new("settle_seconds = 1.0\nrescan_seconds = 0.2");
    let mut rng = Rng::new(seed);
    let inv = sample::invoices(n, &mut rng);
    site.import(&sample::invoices_csv(&inv));
    let open = inv.into_iter().filter(|i| i.status == "OPEN").collect();
    (site, rng, open)
}

#[test]
fn a_slow_writer_copying_in_place_gets_exactly_one_ack() {
    let (site, mut rng, open) = watched_site(7, 50);
    let bytes = pay_batch(&mut rng, &open, 40_000_000_000_001, "001", "20261121").zip(Some(&key()));
    let mut watch = site.spawn(&["watch"]);
    std::thread::sleep(Duration::from_millis(300));
    // Copy in place, no temporary name, in 6 chunks over about 3 seconds.
    let target = site.path("inbox/MUNIS_SUDBILLING_PAY_20261121_001.zip");
    let mut f = std::fs::File::create(&target).expect("create");
    for chunk in bytes.chunks(bytes.len().div_ceil(6)) {
        f.write_all(chunk).expect("write");
        f.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(f);
    let outbox = site.path("outbox");
    wait_for("the response", Duration::from_secs(30), || {
        !list(&outbox).is_empty()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let status = terminate(&mut watch);
    assert!(status.success(), "watch exits 0 on SIGTERM: {status:?}");
    assert_eq!(list(&outbox), ["SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip"]);
    assert_eq!(
        site.count("SELECT count(*) FROM deliveries"),
        1,
        "one delivery, no NAK for a partial file"
    );
    assert_eq!(
        site.count("SELECT count(*) FROM payments"),
        open.len() as i64
    );
    assert!(list(&site.path("inbox")).is_empty());
}

#[test]
fn hundreds_of_archives_at_once_are_handled_once_in_the_agreed_order() {
    let mut rx = Rx::new();
    let mut rng = Rng::new(11);
    let inv = sample::invoices(400, &mut rng);
    let csv = rx.dir.path().join("inv.csv");
    std::fs::write(&csv, sample::invoices_csv(&inv)).expect("csv");
    rx.engine
        .import_invoices(&csv)
        .expect("import")
        .expect("valid");
    let open: Vec<sample::Invoice> = inv.into_iter().filter(|i| i.status == "OPEN").collect();
    // 300 one-row PAY batches over 3 days and 100 sequence numbers, dropped in scrambled order.
    let mut names = Vec::new();
    for k in 0..300usize {
        let date = ["20261122", "20261120", "20261121"][k % 3];
        let seq = format!("{:03}", 100 - k / 3);
        let one = [open[k % open.len()].clone()];
        let b = pay_batch(&mut rng, &one, 50_000_000_000_000 + k as u64, &seq, date);
        names.push(b.file_name());
        rx.drop_in(&b.file_name(), &b.zip(Some(&key())));
    }
    let handled = rx.run();
    assert_eq!(handled.len(), 300);
    let got: Vec<String> = handled.iter().filter_map(|h| h.batch_id.clone()).collect();
    let mut want: Vec<reestr::name::BatchName> = names
        .iter()
        .map(|n| reestr::name::BatchName::parse(n).expect("name"))
        .collect();
    want.sort_by_key(reestr::name::BatchName::order_key);
    let want: Vec<String> = want.iter().map(reestr::name::BatchName::batch_id).collect();
    assert_eq!(got, want);
    assert!(handled.iter().all(|h| h.result == "ACK"));
    assert_eq!(rx.outbox().len(), 300);
    assert!(rx.inbox().is_empty());
    let again = rx.run();
    assert!(again.is_empty(), "nothing is handled twice");
}

fn big_batch(rows: usize) -> (String, Vec<u8>) {
    let mut rng = Rng::new(99);
    let inv = sample::invoices(rows, &mut rng);
    let open: Vec<sample::Invoice> = inv.iter().filter(|i| i.status == "OPEN").cloned().collect();
    let b = pay_batch(&mut rng, &open, 60_000_000_000_000, "001", "20261121");
    (sample::invoices_csv(&inv), b.zip(Some(&key())))
}

#[test]
fn sigterm_in_the_middle_of_a_large_batch_rolls_back_and_the_restart_answers_identically() {
    let (csv, archive) = big_batch(60_000);
    let name = "MUNIS_SUDBILLING_PAY_20261121_001.zip";
    // Uninterrupted reference run.
    let calm = Site::new("settle_seconds = 0");
    calm.import(&csv);
    std::fs::write(calm.path(&format!("inbox/{name}")), &archive).expect("drop");
    assert!(calm.cmd(&["run"]).output().expect("run").status.success());
    let want =
        std::fs::read(calm.path("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")).expect("ack");
    // Interrupted run.
    let site = Site::new("settle_seconds = 0\nrescan_seconds = 0.2");
    site.import(&csv);
    std::fs::write(site.path(&format!("inbox/{name}")), &archive).expect("drop");
    let mut watch = site.spawn(&["watch"]);
    let tmp = site.path("var/tmp");
    wait_for("the batch to start", Duration::from_secs(60), || {
        list(&tmp).iter().any(|n| n.starts_with(".result"))
    });
    let status = terminate(&mut watch);
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        list(&site.path("outbox")).is_empty(),
        "no response from an abandoned batch"
    );
    assert_eq!(
        site.count("SELECT count(*) FROM payments"),
        0,
        "nothing applied"
    );
    assert!(
        list(&tmp).is_empty(),
        "nothing left in temporary places: {:?}",
        list(&tmp)
    );
    assert_eq!(list(&site.path("inbox")), [name]);
    // Restart: handled once, same bytes.
    assert!(site.cmd(&["run"]).output().expect("run").status.success());
    let got =
        std::fs::read(site.path("outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")).expect("ack");
    assert_eq!(got, want);
    assert_eq!(site.count("SELECT count(*) FROM deliveries"), 1);
    assert!(
        site.cmd(&["audit", "verify"])
            .output()
            .expect("audit")
            .status
            .success()
    );
}

fn drop_batches(site: &Site, n: usize) -> usize {
    let mut rng = Rng::new(5);
    let inv = sample::invoices(n, &mut rng);
    site.import(&sample::invoices_csv(&inv));
    let open: Vec<sample::Invoice> = inv.into_iter().filter(|i| i.status == "OPEN").collect();
    for (k, v) in open.iter().enumerate() {
        let b = pay_batch(
            &mut rng,
            std::slice::from_ref(v),
            70_000_000_000_000 + k as u64,
            &format!("{:03}", k + 1),
            "20261121",
        );
        std::fs::write(
            site.path(&format!("inbox/{}", b.file_name())),
            b.zip(Some(&key())),
        )
        .expect("drop");
    }
    open.len()
}

#[test]
fn two_engines_started_together_apply_each_batch_once() {
    let site = Site::new("settle_seconds = 0\nlock_wait_seconds = 60");
    let n = drop_batches(&site, 60);
    let a = site.spawn(&["run"]);
    let b = site.spawn(&["run"]);
    let (oa, ob) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    assert!(
        oa.status.success() && ob.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&oa.stderr),
        String::from_utf8_lossy(&ob.stderr)
    );
    assert_eq!(site.count("SELECT count(*) FROM deliveries"), n as i64);
    assert_eq!(
        site.count("SELECT count(DISTINCT batch_id) FROM deliveries"),
        n as i64
    );
    assert_eq!(site.count("SELECT count(*) FROM payments"), n as i64);
    assert_eq!(list(&site.path("outbox")).len(), n);
}

#[test]
fn a_run_while_watch_holds_the_lock_exits_with_its_own_code() {
    let site = Site::new("settle_seconds = 0\nrescan_seconds = 0.2");
    let mut watch = site.spawn(&["watch"]);
    let lock = site.path("var/reestr.lock");
    wait_for("the lock file", Duration::from_secs(10), || lock.exists());
    std::thread::sleep(Duration::from_millis(300));
    let out = site.cmd(&["run"]).output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("another reestr process"));
    assert!(terminate(&mut watch).success());
    let out = site.cmd(&["run"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn metrics_file_and_status_report() {
    let site = Site::new("settle_seconds = 0\nmetrics_file = \"metrics/reestr.prom\"");
    drop_batches(&site, 5);
    std::fs::write(site.path("inbox/notes.txt"), b"hello").expect("drop");
    let out = site.cmd(&["run", "--strict"]).output().expect("run");
    assert_eq!(out.status.code(), Some(5), "strict: a file was set aside");
    let prom = std::fs::read_to_string(site.path("metrics/reestr.prom")).expect("metrics");
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(site.path("metrics/reestr.prom"))
            .expect("metrics")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o644, "a collector under another account reads it");
    assert!(
        prom.contains("reestr_batches_total{result=\"ACK\"} 5"),
        "{prom}"
    );
    assert!(
        prom.contains("reestr_batches_total{result=\"SET_ASIDE\"} 1"),
        "{prom}"
    );
    assert!(prom.contains("reestr_rows_total{status=\"1\"} 5"), "{prom}");
    assert!(
        prom.lines()
            .any(|l| l.starts_with("reestr_last_success_timestamp_seconds ") && !l.ends_with(" 0"))
    );
    let out = site.cmd(&["status", "--json"]).output().expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["set_aside"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["set_aside"][0]["original_name"], "notes.txt");
    assert_eq!(v["recent"].as_array().map(Vec::len), Some(5));
    // A gap: seq 007 arrives without 006.
    let mut rng = Rng::new(1);
    let inv = sample::invoices(1, &mut rng);
    let b = pay_batch(&mut rng, &inv, 80_000_000_000_000, "007", "20261121");
    std::fs::write(
        site.path(&format!("inbox/{}", b.file_name())),
        b.zip(Some(&key())),
    )
    .expect("drop");
    assert!(site.cmd(&["run"]).output().expect("run").status.success());
    let out = site.cmd(&["status", "--json"]).output().expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let gaps = v["gaps"].to_string();
    assert!(gaps.contains("MUNIS/PAY/20261121: missing 006"), "{gaps}");
    assert!(
        v["missing_rec"].to_string().contains("2026-11-21"),
        "no REC for a past day"
    );
    // Release the set-aside file under a proper name: it is set aside again (not a batch name)
    // or answered; here we release it as-is and see it back in the inbox.
    let kept = v["set_aside"][0]["kept_as"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = site.cmd(&["release", &kept]).output().expect("release");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(site.path("inbox/notes.txt")).expect("released"),
        b"hello"
    );
    assert_eq!(
        site.count("SELECT count(*) FROM journal WHERE kind='release'"),
        1
    );
    assert!(
        site.cmd(&["audit", "verify"])
            .output()
            .expect("audit")
            .status
            .success()
    );
}

#[test]
fn watch_handles_batches_arriving_together_in_the_agreed_order() {
    // §7.2: batches waiting together are handled by date, type and sequence number, also when
    // the later ones arrive first and settle first.
    let (site, mut rng, open) = watched_site(23, 20);
    let mut watch = site.spawn(&["watch"]);
    std::thread::sleep(Duration::from_millis(300));
    for (k, seq) in ["004", "003", "002", "001"].iter().enumerate() {
        let one = [open[k].clone()];
        let b = pay_batch(
            &mut rng,
            &one,
            70_000_000_000_000 + k as u64,
            seq,
            "20261121",
        );
        std::fs::write(site.path("inbox").join(b.file_name()), b.zip(Some(&key()))).expect("drop");
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_for("four responses", Duration::from_secs(30), || {
        list(&site.path("outbox")).len() == 4
    });
    let status = terminate(&mut watch);
    assert!(status.success(), "{status:?}");
    let order = texts(&site.db(), "SELECT batch_id FROM deliveries ORDER BY id");
    let want: Vec<String> = ["001", "002", "003", "004"]
        .iter()
        .map(|s| format!("MUNIS_SUDBILLING_PAY_20261121_{s}"))
        .collect();
    assert_eq!(order, want);
}

#[test]
fn watch_takes_a_file_dated_in_the_future_without_spinning() {
    // Every scan opens the zips it judges; those opens are file-system events too, and must
    // not make the next scan (which would spin, and warn on every round).
    let (site, mut rng, open) = watched_site(29, 4);
    let mut watch = site.spawn(&["watch"]);
    std::thread::sleep(Duration::from_millis(300));
    let now = std::time::SystemTime::now();
    for (k, (seq, mtime)) in [
        ("001", now + Duration::from_secs(3600)),
        ("002", now - Duration::from_secs(60)),
    ]
    .into_iter()
    .enumerate()
    {
        let one = [open[k % open.len()].clone()];
        let b = pay_batch(
            &mut rng,
            &one,
            80_000_000_000_000 + k as u64,
            seq,
            "20261121",
        );
        let p = site.path("inbox").join(b.file_name());
        std::fs::write(&p, b.zip(Some(&key()))).expect("drop");
        set_mtime(&p, mtime);
    }
    wait_for("two responses", Duration::from_secs(20), || {
        list(&site.path("outbox")).len() == 2
    });
    std::thread::sleep(Duration::from_millis(1000));
    let status = terminate(&mut watch);
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    if let Some(mut e) = watch.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
    }
    let warnings = err.matches("in the future").count();
    assert_eq!(warnings, 1, "warned once, not on every scan: {warnings}");
    assert!(
        err.lines().count() < 20,
        "{} log lines",
        err.lines().count()
    );
}
