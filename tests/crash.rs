//! The crash harness: a sequence of batches (PAY, REV, REC, rejects, re-deliveries, a set-aside
//! file) is run again and again, killing the engine at every state change of a batch (through
//! the `REESTR_FAULT` hook) and at random moments (SIGKILL), restarting it until the inbox is
//! empty, and comparing everything with an uninterrupted run: response bytes, store contents
//! (journal apart from timestamps), no temporary files left, `audit verify --rebuild` clean.
//!
//! `REESTR_CRASH_POINTS` sets how many kills to make (default 200).

mod common;
use common::*;
use reestr::charset::Charset;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER, REC_HEADER, REV_HEADER, Rng};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reestr");
const POINTS: [&str; 7] = [
    "claimed",
    "validated",
    "response-kept",
    "committed",
    "outbox-written",
    "source-removed",
    "done",
];

/// Files of one phase: name and bytes.
type Phase = Vec<(String, Vec<u8>)>;

/// The inbound files, phase by phase (each phase is dropped into the inbox at once).
fn phases() -> (String, Vec<Phase>) {
    let k = key();
    let mut rng = Rng::new(4242);
    let inv = sample::invoices(400, &mut rng);
    let open: Vec<&sample::Invoice> = inv.iter().filter(|i| i.status == "OPEN").collect();
    let day = "2026-11-21";
    let mut pay1: Vec<Vec<String>> = open
        .iter()
        .take(250)
        .enumerate()
        .map(|(i, v)| {
            sample::pay_row(
                90_000_000_000_000 + i as u64,
                v,
                &format!("{day} 09:{:02}:00", i % 60),
                "Sud xarajatlari; \"to'lov\"",
                &mut rng,
            )
        })
        .collect();
    pay1[7][5] = String::new();
    pay1[9][2] = "99999999999999999999".into();
    let b1 = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &pay1, 6);
    let pay2: Vec<Vec<String>> = open
        .iter()
        .skip(250)
        .take(40)
        .enumerate()
        .map(|(i, v)| {
            sample::pay_row(
                91_000_000_000_000 + i as u64,
                v,
                &format!("{day} 11:{:02}:00", i),
                "Давлат божи",
                &mut rng,
            )
        })
        .collect();
    let b2 = Batch::new(
        BatchType::PAY,
        "002",
        Charset::Windows1251,
        &PAY_HEADER,
        &pay2,
        6,
    );
    let rev: Vec<Vec<String>> = pay1
        .iter()
        .take(5)
        .map(|r| {
            vec![
                r[0].clone(),
                format!("{day} 22:00:00"),
                r[6].clone(),
                "Xato".into(),
            ]
        })
        .collect();
    let b3 = Batch::new(BatchType::REV, "001", Charset::Utf8, &REV_HEADER, &rev, 2);
    let rec: Vec<Vec<String>> = pay1
        .iter()
        .chain(&pay2)
        .skip(3)
        .map(|r| {
            vec![
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[6].clone(),
                "PAID".into(),
            ]
        })
        .collect();
    let b4 = Batch::new(BatchType::REC, "001", Charset::Cp866, &REC_HEADER, &rec, 3);
    let bad_key = reestr::integrity::Key([9; 32]);
    let b5 = Batch::new(
        BatchType::PAY,
        "003",
        Charset::Utf8,
        &PAY_HEADER,
        &pay2[..3],
        6,
    );
    // PAY 004: a manifest that does not match (B04) first, corrected later.
    let pay4: Vec<Vec<String>> = open
        .iter()
        .skip(300)
        .take(20)
        .enumerate()
        .map(|(i, v)| {
            sample::pay_row(
                92_000_000_000_000 + i as u64,
                v,
                &format!("{day} 12:{:02}:00", i),
                "",
                &mut rng,
            )
        })
        .collect();
    let b6 = Batch::new(BatchType::PAY, "004", Charset::Utf8, &PAY_HEADER, &pay4, 6);
    let mut broken = b6.entries(Some(&k));
    if let Some(e) = broken.iter_mut().find(|(n, _)| n == "registry.csv") {
        e.1.extend_from_slice(b"\r\n");
    }
    let mut b2_changed = b2.clone();
    b2_changed.created_at = "2026-11-22T02:00:00+05:00".into();
    let phase1 = vec![
        (b1.file_name(), b1.zip(Some(&k))),
        (b2.file_name(), b2.zip(Some(&k))),
        (b3.file_name(), b3.zip(Some(&k))),
        (b4.file_name(), b4.zip(Some(&k))),
        (b5.file_name(), b5.zip(Some(&bad_key))),
        (b6.file_name(), sample::zip_entries(&broken)),
        ("registry-copy.zip".to_string(), b1.zip(Some(&k))),
    ];
    let phase2 = vec![
        (b1.file_name(), b1.zip(Some(&k))),
        (b6.file_name(), b6.zip(Some(&k))),
        (b2.file_name(), b2_changed.zip(Some(&k))),
    ];
    (sample::invoices_csv(&inv), vec![phase1, phase2])
}

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(invoices: &str) -> Self {
        let dir = receiver_dir(&config_text(MUNIS_WITH_KEY));
        let s = Self { dir };
        assert!(s.cmd(&["init"]).status().expect("init").success());
        std::fs::write(s.path("invoices.csv"), invoices).expect("csv");
        assert!(
            s.cmd(&["invoices", "import", "invoices.csv"])
                .status()
                .expect("import")
                .success()
        );
        s
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .arg("--config")
            .arg(self.path("reestr.toml"))
            .args(args);
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("REESTR_FAULT");
        c
    }
    fn drop_phase(&self, files: &[(String, Vec<u8>)]) {
        for (n, b) in files {
            std::fs::write(self.path(&format!("inbox/{n}")), b).expect("drop");
        }
    }
    /// Runs until the inbox is empty (at most a few restarts).
    fn finish(&self) {
        for _ in 0..10 {
            let st = self.cmd(&["run"]).status().expect("run");
            if st.success() && list(&self.path("inbox")).is_empty() {
                return;
            }
        }
        panic!(
            "the engine did not empty the inbox after restarts: {:?}",
            list(&self.path("inbox"))
        );
    }

    fn snapshot(&self) -> Snapshot {
        let conn = rusqlite::Connection::open(self.path("var/reestr.db")).expect("db");
        let dump = |sql: &str| dump(&conn, sql);
        let outbox = list(&self.path("outbox"))
            .into_iter()
            .map(|n| {
                let b = std::fs::read(self.path(&format!("outbox/{n}"))).expect("read");
                (n, b)
            })
            .collect();
        Snapshot {
            outbox,
            payments: dump("SELECT * FROM payments ORDER BY payment_id"),
            invoices: dump("SELECT * FROM invoices_paid ORDER BY invoice_no"),
            deliveries: dump("SELECT * FROM deliveries ORDER BY id"),
            set_aside: dump("SELECT * FROM set_aside ORDER BY id"),
            journal: dump(
                "SELECT seq, kind, body, prev_hash IS NOT NULL FROM journal ORDER BY seq",
            ),
        }
    }

    fn temporaries(&self) -> Vec<String> {
        let mut found = Vec::new();
        for d in [
            "outbox",
            "var/tmp",
            "var/sent",
            "var/received",
            "var/set-aside",
            "var/imports",
            "inbox",
        ] {
            for n in list(&self.path(d)) {
                if n.ends_with(".tmp") || n.starts_with(".result") {
                    found.push(format!("{d}/{n}"));
                }
            }
        }
        found
    }
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    outbox: Vec<(String, Vec<u8>)>,
    payments: Vec<String>,
    invoices: Vec<String>,
    deliveries: Vec<String>,
    set_aside: Vec<String>,
    journal: Vec<String>,
}

fn compare(site: &Site, want: &Snapshot, what: &str) {
    let got = site.snapshot();
    assert_eq!(
        got.outbox.iter().map(|o| &o.0).collect::<Vec<_>>(),
        want.outbox.iter().map(|o| &o.0).collect::<Vec<_>>(),
        "{what}: outbox names"
    );
    for ((n, a), (_, b)) in got.outbox.iter().zip(&want.outbox) {
        assert!(a == b, "{what}: response {n} differs");
    }
    assert_eq!(got.payments, want.payments, "{what}: payments");
    assert_eq!(got.invoices, want.invoices, "{what}: invoices");
    assert_eq!(got.deliveries, want.deliveries, "{what}: deliveries");
    assert_eq!(got.set_aside, want.set_aside, "{what}: set_aside");
    assert_eq!(
        got.journal, want.journal,
        "{what}: journal (apart from timestamps)"
    );
    assert_eq!(
        site.temporaries(),
        Vec::<String>::new(),
        "{what}: temporary files left"
    );
    let audit = site
        .cmd(&["audit", "verify", "--rebuild"])
        .status()
        .expect("audit");
    assert!(audit.success(), "{what}: audit verify");
}

fn killed_by_signal(st: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    st.signal().is_some()
}

#[test]
fn killed_anywhere_the_engine_recovers_to_the_same_result() {
    let target: usize = std::env::var("REESTR_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (invoices, phases) = phases();
    // The uninterrupted run.
    let calm = Site::new(&invoices);
    let mut phase_time = Vec::new();
    for p in &phases {
        calm.drop_phase(p);
        let t = Instant::now();
        calm.finish();
        phase_time.push(t.elapsed());
    }
    let want = calm.snapshot();
    assert!(
        want.outbox.len() >= 6,
        "the sequence answers several batches"
    );
    assert!(want.set_aside.len() == 1 && want.deliveries.len() >= 9);
    let mut kills = 0usize;
    let mut runs = 0usize;
    // Deterministic kill points: every state change of every batch, in each phase.
    'outer: for (pi, _) in phases.iter().enumerate() {
        for point in POINTS {
            'point: for nth in 1..=7 {
                let site = Site::new(&invoices);
                let mut aborted = false;
                for (pj, p) in phases.iter().enumerate() {
                    site.drop_phase(p);
                    if pj == pi {
                        let st = site
                            .cmd(&["run"])
                            .env("REESTR_FAULT", format!("{point}:{nth}"))
                            .status()
                            .expect("run");
                        aborted = killed_by_signal(&st);
                    }
                    site.finish();
                }
                runs += 1;
                compare(
                    &site,
                    &want,
                    &format!("fault {point}:{nth} in phase {}", pi + 1),
                );
                if aborted {
                    kills += 1;
                } else {
                    // Fewer hits of this point in this phase: later n will not hit either.
                    break 'point;
                }
                if kills >= target {
                    break 'outer;
                }
            }
        }
    }
    // Random moments: SIGKILL after a random delay within the phase's normal duration.
    let mut rng = Rng::new(77);
    while kills < target {
        let site = Site::new(&invoices);
        let pi = rng.below(phases.len() as u64) as usize;
        for (pj, p) in phases.iter().enumerate() {
            site.drop_phase(p);
            if pj == pi {
                let span = phase_time[pj].as_micros().max(1000) as u64;
                let delay = Duration::from_micros(rng.below(span));
                let mut child = site.cmd(&["run"]).spawn().expect("spawn");
                std::thread::sleep(delay);
                let _ = child.kill();
                let st = child.wait().expect("wait");
                if killed_by_signal(&st) {
                    kills += 1;
                }
            }
            site.finish();
        }
        runs += 1;
        compare(
            &site,
            &want,
            &format!("random kill in phase {} (kill {kills})", pi + 1),
        );
    }
    eprintln!("crash harness: {kills} kills over {runs} sequences, all recovered identically");
    assert!(kills >= target);
}
