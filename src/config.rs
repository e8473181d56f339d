//! The receiver's configuration (`reestr.toml`). Relative paths are relative to the file's folder.

use crate::archive::Limits;
use crate::integrity::Key;
use crate::name::BatchType;
use crate::pipeline::Policy;
use crate::schema::{SchemaError, Schemas};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A key file is unusable.
    #[error("key file {path} for partner {partner}: {message}")]
    Key {
        /// The partner.
        partner: String,
        /// The key file.
        path: String,
        /// What is wrong (never the key).
        message: String,
    },
    /// A schema is unusable.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    receiver: String,
    #[serde(default = "d_inbox")]
    inbox: PathBuf,
    #[serde(default = "d_outbox")]
    outbox: PathBuf,
    #[serde(default = "d_data")]
    data: PathBuf,
    schemas: Option<PathBuf>,
    #[serde(default = "d_settle")]
    settle_seconds: f64,
    #[serde(default = "d_grace")]
    unreadable_grace_seconds: f64,
    #[serde(default = "d_rescan")]
    rescan_seconds: f64,
    #[serde(default = "d_run_wait")]
    run_wait_seconds: f64,
    #[serde(default)]
    lock_wait_seconds: f64,
    metrics_file: Option<PathBuf>,
    #[serde(default = "d_rec_due")]
    rec_due_hour: u32,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    partners: BTreeMap<String, RawPartner>,
}

fn d_inbox() -> PathBuf {
    "inbox".into()
}
fn d_outbox() -> PathBuf {
    "outbox".into()
}
fn d_data() -> PathBuf {
    "var".into()
}
fn d_settle() -> f64 {
    5.0
}
fn d_grace() -> f64 {
    30.0
}
fn d_run_wait() -> f64 {
    60.0
}
fn d_rescan() -> f64 {
    5.0
}
fn d_rec_due() -> u32 {
    12
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartner {
    key_file: Option<PathBuf>,
    #[serde(default)]
    former_key_files: Vec<PathBuf>,
    types: Option<Vec<String>>,
}

/// A configured partner.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Its shared key, when one is configured.
    pub key: Option<Key>,
    /// Keys it used before (`former_key_files`): found by the fingerprint a delivery journaled,
    /// for `replay` and `audit verify --rebuild` to judge it again as then; never used to check
    /// or sign a new archive.
    pub former_keys: Vec<Key>,
    /// Types it may send.
    pub types: Vec<BatchType>,
}

/// The loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// This side's party code.
    pub receiver: String,
    /// Where archives arrive.
    pub inbox: PathBuf,
    /// Where responses go.
    pub outbox: PathBuf,
    /// The store and everything kept.
    pub data: PathBuf,
    /// Schemas in force.
    pub schemas: Schemas,
    /// A file modified more recently than this is not taken yet.
    pub settle: Duration,
    /// A `.zip` whose central directory stays unreadable this long is taken (and answered B01).
    pub unreadable_grace: Duration,
    /// `watch` rescans the inbox at least this often, events or not.
    pub rescan: Duration,
    /// How long `run` waits for files still settling before it leaves them for the next run.
    pub run_wait: Duration,
    /// How long `run`, `watch`, `replay`, `invoices import` wait for another engine's lock.
    pub lock_wait: Duration,
    /// Prometheus textfile-collector file written after each run, when set.
    pub metrics_file: Option<PathBuf>,
    /// Hour (Tashkent time) of the day after a business day by which its REC is due.
    pub rec_due_hour: u32,
    /// Archive limits.
    pub limits: Limits,
    /// Partners by code.
    pub partners: BTreeMap<String, Partner>,
}

/// Reads a key file. One that others than its owner may change is refused (whoever replaces
/// the key can sign batches as the partner); one that others may read is used with a warning,
/// since keys are often provisioned read-only by another account (the partner's reference key
/// comes as mode 0444).
///
/// `setting` is the partner's setting that names it (`key_file` or `former_key_files`).
pub fn read_key(partner: &str, setting: &str, path: &Path) -> Result<Key, ConfigError> {
    let err = |m: String| ConfigError::Key {
        partner: partner.into(),
        path: path.display().to_string(),
        message: m,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        err(format!(
            "{e}; put the partner's key file there (64 hex digits), or {}",
            if setting == "key_file" {
                format!("remove key_file from [partners.{partner}] to take unsigned batches")
            } else {
                format!("remove it from {setting} of [partners.{partner}]")
            }
        ))
    })?;
    if !meta.is_file() {
        return Err(err("is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(err(format!(
                "permissions {mode:04o} let others than its owner change it (wider than 0600); run: chmod 600 {}",
                path.display()
            )));
        }
        if mode & 0o044 != 0 {
            tracing::warn!(
                partner,
                file = %path.display(),
                "key file permissions {mode:04o} let others read it (wider than 0600); run: chmod 600 {}",
                path.display()
            );
        }
    }
    if meta.len() > 1024 {
        return Err(err("is too large to be a key file".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    Key::parse(&text).ok_or_else(|| err("does not hold 64 hex digits".into()))
}

/// The key an "unknown field" error of the TOML parser names.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.split_once("unknown field `")?.1;
    Some(rest.split_once('`')?.0)
}

/// Whether `key` is a setting of the top level. The parser itself is asked, with `key` alone
/// at the top level: it is refused as unknown only if the top level has no such setting (any
/// other refusal is about its value, or the settings missing). So no list of settings is kept
/// by hand.
fn is_top_level(key: &str) -> bool {
    let mut probe = toml::Table::new();
    probe.insert(key.to_owned(), toml::Value::Integer(0));
    match toml::Value::Table(probe).try_into::<Raw>() {
        Ok(_) => true,
        Err(e) => !e.to_string().contains(&format!("unknown field `{key}`")),
    }
}

impl Config {
    /// Loads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &base, &shown)
    }

    /// Parses configuration text; `base` resolves relative paths.
    pub fn from_toml(text: &str, base: &Path, shown: &str) -> Result<Self, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid {
            path: shown.into(),
            message: m,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let mut m = e.to_string();
            // A top-level setting written below a table belongs to that table in TOML.
            let unknown = unknown_field(&m);
            if unknown.is_some_and(is_top_level) {
                m.push_str("\n(a top-level setting goes above the first [table]: below [partners.X] or [limits] it belongs to that table)");
            } else if unknown == Some("max_record_bytes") {
                m.push_str("\n(max_record_bytes is gone: a record of any length is read, and a field longer than max_field_bytes is 202; see the README)");
            }
            invalid(m)
        })?;
        let party_ok = |s: &str| {
            (2..=16).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        };
        if !party_ok(&raw.receiver) {
            return Err(invalid(format!(
                "receiver {:?} is not a party code [A-Z0-9]{{2,16}}",
                raw.receiver
            )));
        }
        for (k, v) in [
            ("settle_seconds", raw.settle_seconds),
            ("unreadable_grace_seconds", raw.unreadable_grace_seconds),
            ("rescan_seconds", raw.rescan_seconds),
            ("run_wait_seconds", raw.run_wait_seconds),
            ("lock_wait_seconds", raw.lock_wait_seconds),
        ] {
            if !(0.0..=86400.0).contains(&v) {
                return Err(invalid(format!("{k} must be between 0 and 86400")));
            }
        }
        if raw.rescan_seconds < 0.05 {
            return Err(invalid("rescan_seconds must be at least 0.05".into()));
        }
        if raw.rec_due_hour > 23 {
            return Err(invalid("rec_due_hour must be between 0 and 23".into()));
        }
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let schemas = match &raw.schemas {
            Some(dir) => Schemas::from_dir(&abs(dir))?,
            None => Schemas::built_in()?,
        };
        // The engine finds the fields it reads by name: a schemas folder must have each.
        for (kind, schema) in schemas.registries() {
            crate::reconcile::check_schema(kind, schema)?;
        }
        let mut partners = BTreeMap::new();
        for (code, p) in raw.partners {
            if !party_ok(&code) {
                return Err(invalid(format!(
                    "partner {code:?} is not a party code [A-Z0-9]{{2,16}}"
                )));
            }
            let key = p
                .key_file
                .as_deref()
                .map(|f| read_key(&code, "key_file", &abs(f)))
                .transpose()?;
            let former_keys = p
                .former_key_files
                .iter()
                .map(|f| read_key(&code, "former_key_files", &abs(f)))
                .collect::<Result<_, _>>()?;
            let types = match p.types {
                // A type a schemas folder adds is taken from a partner only when listed.
                None => vec![BatchType::PAY, BatchType::REV, BatchType::REC],
                Some(ts) => ts
                    .iter()
                    .map(|t| {
                        schemas.types().parse(t).ok_or_else(|| {
                            invalid(format!(
                                "partner {code}: unknown type {t:?}: not PAY, REV, REC or a type the schemas folder adds"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            partners.insert(
                code,
                Partner {
                    key,
                    former_keys,
                    types,
                },
            );
        }
        crate::invoices::stored_columns(&schemas.invoices)?;
        // A field longer than the reader holds fails (`202`): the limit must leave room for the
        // longest valid value, up to 4 bytes a character (UTF-8).
        if let Some((chars, name)) = schemas
            .registries()
            .map(|(_, s)| s)
            .chain([&schemas.invoices])
            .flat_map(|s| s.fields.iter())
            .filter_map(|f| f.max_length.map(|m| (m, &f.name)))
            .max()
        {
            let need = u64::try_from(chars).unwrap_or(u64::MAX).saturating_mul(4);
            if raw.limits.max_field_bytes < need {
                return Err(invalid(format!(
                    "[limits] max_field_bytes = {} is below {need}: a valid {name} of {chars} characters can take {need} bytes, and a field longer than max_field_bytes is refused (202)",
                    raw.limits.max_field_bytes
                )));
            }
        }
        Ok(Self {
            receiver: raw.receiver,
            inbox: abs(&raw.inbox),
            outbox: abs(&raw.outbox),
            data: abs(&raw.data),
            schemas,
            settle: Duration::from_secs_f64(raw.settle_seconds),
            unreadable_grace: Duration::from_secs_f64(raw.unreadable_grace_seconds),
            rescan: Duration::from_secs_f64(raw.rescan_seconds),
            run_wait: Duration::from_secs_f64(raw.run_wait_seconds),
            lock_wait: Duration::from_secs_f64(raw.lock_wait_seconds),
            metrics_file: raw.metrics_file.as_deref().map(abs),
            rec_due_hour: raw.rec_due_hour,
            limits: raw.limits,
            partners,
        })
    }

    /// The policy for an inbound sender.
    pub fn policy(&self, sender: &str) -> Policy {
        match self.partners.get(sender) {
            Some(p) => Policy {
                own: self.receiver.clone(),
                partner_known: true,
                types: p.types.iter().map(|t| t.as_str().to_string()).collect(),
                key_fingerprint: p.key.as_ref().map(Key::fingerprint),
                key: p.key.clone(),
                limits: Some(self.limits.clone()),
            },
            None => Policy {
                own: self.receiver.clone(),
                partner_known: false,
                types: Vec::new(),
                key_fingerprint: None,
                key: None,
                limits: Some(self.limits.clone()),
            },
        }
    }

    /// The key of a partner, if configured.
    pub fn key_of(&self, sender: &str) -> Option<&Key> {
        self.partners.get(sender).and_then(|p| p.key.as_ref())
    }

    /// The key of a partner whose fingerprint is `fingerprint` ([`Key::fingerprint`]): its key,
    /// or one of its former keys, if configured.
    pub fn key_with_fingerprint(&self, sender: &str, fingerprint: &str) -> Option<&Key> {
        let p = self.partners.get(sender)?;
        p.key
            .iter()
            .chain(&p.former_keys)
            .find(|k| k.fingerprint() == fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::Config;
    use std::path::Path;

    /// Why `text` is refused as a configuration.
    fn refused(text: &str) -> String {
        Config::from_toml(text, Path::new("."), "reestr.toml")
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_top_level_setting_below_a_table_gets_a_hint() {
        let e = refused("receiver = \"SUDBILLING\"\n[partners.MUNIS]\nsettle_seconds = 0\n");
        assert!(e.contains("line 3") && e.contains("settle_seconds"), "{e}");
        assert!(e.contains("goes above the first [table]"), "{e}");
        // Another unknown key gets no such hint.
        let e = refused("receiver = \"SUDBILLING\"\n[partners.MUNIS]\nkey = 1\n");
        assert!(!e.contains("[table]"), "{e}");
    }

    #[test]
    fn the_setting_that_is_gone_says_what_replaced_it() {
        let e = refused("receiver = \"SUDBILLING\"\n[limits]\nmax_record_bytes = 1024\n");
        assert!(
            e.contains("max_record_bytes is gone") && e.contains("max_field_bytes"),
            "{e}"
        );
        let c = Config::from_toml(
            "receiver = \"SUDBILLING\"\n[limits]\nmax_field_bytes = 2000\n",
            Path::new("."),
            "reestr.toml",
        );
        assert_eq!(c.map(|c| c.limits.max_field_bytes).ok(), Some(2000));
    }

    #[test]
    fn a_field_limit_below_the_longest_valid_value_is_refused() {
        // PAY's `purpose` is up to 500 characters, up to 2000 bytes in UTF-8: a lower limit
        // would answer a valid row `202`.
        let e = refused("receiver = \"SUDBILLING\"\n[limits]\nmax_field_bytes = 1999\n");
        assert!(
            e.contains("max_field_bytes = 1999 is below 2000") && e.contains("purpose"),
            "{e}"
        );
    }

    #[test]
    fn every_top_level_setting_is_known_as_one_and_nothing_else_is() {
        // The settings of `Raw`, as serde lists them for an unknown key at the top level.
        let e = refused("receiver = \"R1\"\nnot_a_setting = 1\n");
        let listed = e.split_once("expected one of ").map_or("", |(_, l)| l);
        let names: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
        assert!(names.len() >= 12 && names.contains(&"rec_due_hour"), "{e}");
        for n in &names {
            assert!(super::is_top_level(n), "{n}");
            let e = refused(&format!("receiver = \"R1\"\n[partners.MUNIS]\n{n} = 0\n"));
            assert!(e.contains("goes above the first [table]"), "{n}: {e}");
        }
        for n in ["key_file", "max_entries", "not_a_setting", "x`y"] {
            assert!(!super::is_top_level(n), "{n}");
        }
        assert_eq!(
            super::unknown_field("unknown field `a b`, expected"),
            Some("a b")
        );
        assert_eq!(super::unknown_field("invalid type"), None);
    }

    #[test]
    fn the_limits_default_to_the_agreements_values() {
        // §3: archive ≤ 2 GiB; uncompressed sum ≤ 8 GiB; ratio ≤ 200 above 1 MiB; at most 16
        // entries; a registry line ≤ 64 KiB. A configuration that says nothing of them gets these.
        let c = Config::from_toml(
            "receiver = \"SUDBILLING\"\n[partners.MUNIS]\n",
            Path::new("."),
            "reestr.toml",
        )
        .expect("config");
        let l = &c.limits;
        assert_eq!(l.max_archive_bytes, 2_147_483_648);
        assert_eq!(l.max_uncompressed_bytes, 8_589_934_592);
        assert_eq!(l.max_ratio, 200);
        assert_eq!(l.ratio_applies_above, 1_048_576);
        assert_eq!(l.max_entries, 16);
        assert_eq!(l.max_line_bytes, 65_536);
        assert_eq!(l, &crate::archive::Limits::default());
    }
}
