//! Helpers shared by the fuzz targets: a scratch file per process, the receiver's fixture (an
//! in-memory store with the reference invoices) and the invariants every judged batch must keep.
#![allow(dead_code)]

pub mod inputs;

use reestr::archive::Limits;
use reestr::charset::Charset;
use reestr::code::BatchCode;
use reestr::dialect::RecordReader;
use reestr::integrity::Key;
use reestr::name::BatchName;
use reestr::pipeline::{self, Evaluation, Job, PipelineError, Policy};
use reestr::reconcile::StoreBooks;
use reestr::respond::{self, Verdict};
use reestr::schema::Schemas;
use reestr::store::Store;
use std::cell::RefCell;
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

/// A folder of this process under the system temp dir (removed by nobody: it is tiny).
pub fn scratch_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("reestr-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    })
}

/// Writes `data` to this process's scratch archive and returns its path.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, data).expect("write scratch file");
    p
}

/// The reference key (`tests/reference/MUNIS.key`).
pub fn reference_key() -> Key {
    Key::parse(include_str!("../../../tests/reference/MUNIS.key")).expect("reference key")
}

/// The samples' key.
pub fn sample_key() -> Key {
    Key::parse(reestr::sample::SAMPLE_KEY).expect("sample key")
}

/// Whether a message is one line (no CR or LF).
pub fn one_line(s: &str) -> bool {
    !s.contains(['\r', '\n'])
}

struct Fixture {
    store: Store,
    schemas: Schemas,
}

thread_local! {
    static FIXTURE: RefCell<Fixture> = RefCell::new(fixture());
}

fn fixture() -> Fixture {
    let store = Store::in_memory().expect("in-memory store");
    let schemas = Schemas::built_in().expect("built-in schemas");
    let csv: &[u8] = include_bytes!("../../../tests/reference/invoices.csv");
    reestr::invoices::load(
        &store.conn,
        "invoices.csv",
        csv,
        &schemas.invoices,
        1,
        1 << 20,
    )
    .expect("load invoices")
    .expect("reference invoices are valid");
    Fixture { store, schemas }
}

/// What one evaluation produced, for comparing two runs.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    control: String,
    result: Option<Vec<u8>>,
}

/// Judges the archive at `path` as batch `name`, on the reference store, twice (rolled back
/// each time), and checks the invariants:
/// - the receiver never fails on its own account (a hostile archive must be answered, not left
///   stuck in the inbox as a "receiver failure");
/// - a NAK code is one of the agreement's, its message one line;
/// - an ACK's `result.csv` reads back in its own encoding, with one row per reported row;
/// - the response zip can be written and read back;
/// - the answer is a pure function of archive and store, whatever the chunk size of the
///   row validation (both runs agree byte for byte).
pub fn judge(path: &Path, name: &BatchName, key: Option<Key>) {
    let sha = hex::encode(reestr::fsutil::sha256_file(path).expect("hash scratch archive"));
    let policy = Policy {
        own: "SUDBILLING".into(),
        partner_known: true,
        types: vec!["PAY".into(), "REV".into(), "REC".into()],
        key_fingerprint: key.as_ref().map(Key::fingerprint),
        key,
        limits: None,
    };
    FIXTURE.with(|fx| {
        let mut fx = fx.borrow_mut();
        let fx = &mut *fx;
        let limits = Limits::default();
        let mut outcomes = Vec::new();
        // The answer must not depend on how many rows are validated ahead (the default chunk
        // and one row at a time).
        for chunk_rows in [pipeline::CHUNK_ROWS, 1] {
            let tx = fx.store.conn.transaction().expect("transaction");
            let job = Job {
                path,
                name,
                sha256: &sha,
                policy: &policy,
                schemas: &fx.schemas,
                limits: &limits,
                already_acked: false,
                spool_dir: scratch_dir(),
                cancel: None,
                progress: None,
                chunk_rows,
            };
            let ev = {
                let mut books =
                    StoreBooks::new(&tx, name.batch_id(), 1).expect("books over the store");
                match pipeline::evaluate(&job, &mut books) {
                    Ok(ev) => ev,
                    Err(PipelineError::Cancelled) => unreachable!("nothing cancels"),
                    Err(e) => panic!("hostile input made the receiver fail: {e}"),
                }
            };
            outcomes.push(check(ev, policy.key.as_ref()));
            tx.rollback().expect("rollback");
        }
        assert_eq!(
            outcomes[0], outcomes[1],
            "the answer is not deterministic or depends on the chunk size"
        );
    });
}

fn check(mut ev: Evaluation, key: Option<&Key>) -> Outcome {
    let control = respond::control_text(&ev.header, &ev.verdict);
    assert!(
        control.is_ascii(),
        "response control.txt not ASCII: {control:?}"
    );
    for line in control.lines() {
        assert!(
            line.split_once('=').is_some() && !line.contains('\r'),
            "bad response control line {line:?}"
        );
    }
    let mut result = None;
    match &ev.verdict {
        Verdict::Nak { code, message } => {
            assert!(ev.result.is_none());
            assert!(
                !matches!(code, BatchCode::B09 | BatchCode::B10),
                "unexpected code {code:?}"
            );
            assert!(one_line(message), "message not one line: {message:?}");
        }
        Verdict::Ack {
            encoding,
            rows,
            accepted,
            ..
        } => {
            let spool = ev.result.as_mut().expect("an ACK has a result.csv");
            let mut bytes = Vec::new();
            spool.file.read_to_end(&mut bytes).expect("read spool");
            assert_eq!(bytes.len() as u64, spool.len);
            spool.file.rewind().expect("rewind spool");
            let n = result_rows(&bytes, *encoding);
            assert_eq!(n, *rows, "result.csv rows differ from the control's rows");
            assert!(accepted <= rows);
            assert_eq!(ev.counts.values().sum::<u64>(), *rows);
            result = Some(bytes);
        }
    }
    let sent = {
        let r = ev
            .result
            .as_mut()
            .map(|s| (&mut s.file as &mut dyn Read, s.sha256, s.len));
        respond::write_zip(Cursor::new(Vec::new()), &ev.header, &ev.verdict, r, key)
            .expect("the response zip can always be written")
            .into_inner()
    };
    let z = zip::ZipArchive::new(Cursor::new(&sent)).expect("the response zip reads back");
    assert!(z.len() >= 2);
    Outcome { control, result }
}

/// Number of data rows in a response `result.csv`, read back through the receiver's own
/// dialect reader and charset (everything must decode).
fn result_rows(bytes: &[u8], cs: Charset) -> u64 {
    let mut rr = RecordReader::new(bytes, false);
    assert!(rr.read_record().expect("result.csv header"));
    let mut n = 0;
    while rr.read_record().expect("result.csv is in the dialect") {
        assert_eq!(rr.len(), 5, "result.csv row of {} fields", rr.len());
        for i in 0..rr.len() {
            let f = rr.field(i).unwrap_or_default();
            assert!(cs.decode(f).is_some(), "result.csv field not in {cs:?}");
        }
        n += 1;
    }
    n
}
