//! Shared test harness: a fresh receiver in a temporary folder, configured like the reference
//! setup (receiver SUDBILLING, partner MUNIS with the reference key, no settle time).
#![allow(dead_code)]

pub mod batches;
pub mod rawzip;

use reestr::config::Config;
use reestr::engine::{Engine, Handled};

use std::path::{Path, PathBuf};

/// Folder of the reference material copied from the counterpart.
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

/// Bytes of a reference file.
pub fn reference(name: &str) -> Vec<u8> {
    std::fs::read(reference_dir().join(name)).unwrap_or_else(|e| panic!("reference {name}: {e}"))
}

#[allow(unused_imports)]
pub use batches::key;

/// A receiver in a temporary folder.
pub struct Rx {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The engine.
    pub engine: Engine,
}

/// The default configuration text; `extra` is appended (more partners, limits...).
pub fn config_text(partner_block: &str) -> String {
    format!(
        "receiver = \"SUDBILLING\"\nsettle_seconds = 0\nunreadable_grace_seconds = 0\n{partner_block}"
    )
}

/// A temporary folder holding `reestr.toml` with this text and the reference key as
/// `MUNIS.key` (mode 0600): a receiver before `init`.
pub fn receiver_dir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let keyp = dir.path().join("MUNIS.key");
    std::fs::write(&keyp, reference("MUNIS.key")).expect("key");
    set_mode(&keyp, 0o600);
    std::fs::write(dir.path().join("reestr.toml"), config).expect("config");
    dir
}

/// A configuration of the receiver with these settings, and partner MUNIS with its key.
pub fn settings_text(settings: &str) -> String {
    format!("receiver = \"SUDBILLING\"\n{settings}\n{MUNIS_WITH_KEY}")
}

/// Partner block with the reference key.
pub const MUNIS_WITH_KEY: &str = "[partners.MUNIS]\nkey_file = \"MUNIS.key\"\n";

impl Rx {
    /// A receiver with partner MUNIS and its key.
    pub fn new() -> Self {
        Self::with(&config_text(MUNIS_WITH_KEY))
    }

    /// A receiver with these settings ([`settings_text`]).
    pub fn with_settings(settings: &str) -> Self {
        Self::with(&settings_text(settings))
    }

    /// A receiver with this configuration text (the reference key is present as `MUNIS.key`).
    pub fn with(config: &str) -> Self {
        let dir = receiver_dir(config);
        let cfg = Config::load(&dir.path().join("reestr.toml")).expect("config loads");
        let engine = Engine::init(cfg).expect("init");
        Self { dir, engine }
    }

    /// Path of the configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("reestr.toml")
    }

    /// Loads the reference billing export.
    pub fn import_reference_invoices(&mut self) {
        let p = reference_dir().join("invoices.csv");
        self.engine
            .import_invoices(&p)
            .expect("import runs")
            .expect("export valid");
    }

    /// Puts a file into the inbox.
    pub fn drop_in(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.engine.cfg.inbox.join(name);
        std::fs::write(&p, bytes).expect("write inbox file");
        p
    }

    /// Runs once; panics on a failure of the engine itself.
    pub fn run(&mut self) -> Vec<Handled> {
        let out = self.engine.run();
        if let Some(e) = out.error {
            panic!("engine failed: {e}");
        }
        out.handled
    }

    /// Drops one archive in and runs; returns what happened to it.
    pub fn process(&mut self, name: &str, bytes: &[u8]) -> Handled {
        self.drop_in(name, bytes);
        let mut h = self.run();
        assert_eq!(h.len(), 1, "exactly one archive handled");
        h.remove(0)
    }

    /// Bytes of a response in the outbox.
    pub fn response(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.engine.cfg.outbox.join(name))
            .unwrap_or_else(|e| panic!("response {name}: {e}"))
    }

    /// An entry of a response in the outbox.
    pub fn response_entry(&self, name: &str, entry: &str) -> Option<Vec<u8>> {
        entry_of(&self.response(name), entry)
    }

    /// The response `control.txt` as text.
    pub fn response_control(&self, name: &str) -> String {
        String::from_utf8(
            self.response_entry(name, "control.txt")
                .expect("control.txt"),
        )
        .expect("ascii")
    }

    /// Names of files in the outbox, sorted.
    pub fn outbox(&self) -> Vec<String> {
        list(&self.engine.cfg.outbox)
    }

    /// Names of files in the inbox, sorted.
    pub fn inbox(&self) -> Vec<String> {
        list(&self.engine.cfg.inbox)
    }
}

/// Sorted file names in a folder.
pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// One entry of a zip held in memory.
pub fn entry_of(zip_bytes: &[u8], entry: &str) -> Option<Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).ok()?;
    let mut f = z.by_name(entry).ok()?;
    let mut b = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut b).ok()?;
    Some(b)
}

/// Entry names of a zip in order.
pub fn entry_names(zip_bytes: &[u8]) -> Vec<String> {
    let z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("zip");
    z.file_names_raw()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

/// `value` of `key=value` in a control text.
pub fn control_value(control: &str, key: &str) -> Option<String> {
    control
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// Sets a file's permission bits.
pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `(line, payment_id, status, field)` rows of a `result.csv` (UTF-8 or ASCII content).
pub fn statuses(result_csv: &[u8]) -> Vec<(String, String, String, String)> {
    let text = String::from_utf8_lossy(result_csv);
    text.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ';').collect();
            let g = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            (g(0), g(1), g(2), g(3))
        })
        .collect()
}

/// Rows of a query rendered as text (`|` between columns), for comparing store states.
pub fn dump(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut st = conn.prepare(sql).expect("prepare");
    let n = st.column_count();
    let rows = st
        .query_map([], |r| {
            let mut s = Vec::with_capacity(n);
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i)?;
                s.push(format!("{v:?}"));
            }
            Ok(s.join("|"))
        })
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

/// The first column of a query's rows, as text.
pub fn texts(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut st = conn.prepare(sql).expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Sets a file's modification time.
pub fn set_mtime(p: &Path, t: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .expect("open")
        .set_modified(t)
        .expect("set mtime");
}

/// Lower-case hex SHA-256 of these bytes (as a manifest line or `in_reply_to_sha256` writes it).
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

/// The number in environment variable `name`, or `default` when it is not set; a value that is
/// not a number stops the test (a count mistyped should not silently run the default).
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}
