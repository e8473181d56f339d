//! `check`: an archive judged as `run` would judge it, against the store as it is, with
//! nothing changed or kept; and reading a response archive back.

use super::{Engine, EngineError, io_at, summary};
use crate::fsutil::{self, hex};
use crate::name::BatchName;
use crate::respond;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// How much of `result.csv` `check` shows.
const CHECK_SHOW_BYTES: u64 = 1 << 20;

/// The outcome of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// What would be done: `ACK`, `NAK`, `RESENT`, `SET_ASIDE`.
    pub result: String,
    /// NAK code.
    pub code: Option<String>,
    /// NAK message or set-aside reason.
    pub message: Option<String>,
    /// Rows by status.
    pub statuses: BTreeMap<u16, u64>,
    /// The response's `control.txt`, when one would be written.
    pub control: Option<String>,
    /// The response's `result.csv` decoded from its encoding (at most 1 MiB of it), for an
    /// ACK.
    pub result_csv: Option<String>,
    /// The same bytes as the response holds them, in the registry's encoding.
    #[serde(skip)]
    pub result_csv_bytes: Option<Vec<u8>>,
}

/// Reads a response archive's `control.txt` and (lossily) `result.csv`.
pub fn read_response(path: &Path) -> io::Result<(String, Option<String>)> {
    let (control, result) = read_response_bytes(path)?;
    let result = result.map(|b| shown_result(&control, &b));
    Ok((control, result))
}

/// `result.csv`'s bytes as text: decoded from the encoding its response's `control.txt` names
/// (UTF-8 when none), lossily where they are cut short.
fn shown_result(control: &str, bytes: &[u8]) -> String {
    let cs = control
        .lines()
        .find_map(|l| l.strip_prefix("encoding="))
        .and_then(crate::charset::Charset::parse)
        .unwrap_or(crate::charset::Charset::Utf8);
    cs.decode(bytes)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// A response's `control.txt` and the bytes of its `result.csv` (`None` for a NAK).
pub fn read_response_bytes(path: &Path) -> io::Result<(String, Option<Vec<u8>>)> {
    let f = fsutil::open_regular(path)?;
    let mut z = zip::ZipArchive::new(io::BufReader::new(f)).map_err(io::Error::other)?;
    let mut read = |n: &str| -> io::Result<Option<Vec<u8>>> {
        match z.by_name(n) {
            Ok(mut e) => {
                let mut b = Vec::new();
                io::Read::read_to_end(&mut e, &mut b)?;
                Ok(Some(b))
            }
            Err(_) => Ok(None),
        }
    };
    let control = read("control.txt")?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let result = read("result.csv")?;
    Ok((control, result))
}

impl Engine {
    /// Judges an archive as `run` would, against the current store, and changes nothing.
    pub fn check(&mut self, path: &Path) -> Result<CheckReport, EngineError> {
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sha = hex(&fsutil::sha256_given(path).map_err(io_at(path))?);
        let name = match BatchName::parse_with(&fname, self.cfg.schemas.types()) {
            Ok(n) => n,
            Err(e) => {
                return Ok(CheckReport {
                    result: "SET_ASIDE".into(),
                    code: None,
                    message: Some(respond::one_line(&e.to_string())),
                    statuses: BTreeMap::new(),
                    control: None,
                    result_csv: None,
                    result_csv_bytes: None,
                });
            }
        };
        let prior: Option<String> = self
            .store
            .conn
            .query_row(
                "SELECT response_sha256 FROM deliveries WHERE inbound_sha256=?1 AND batch_id=?2 AND result='ACK' ORDER BY id LIMIT 1",
                params![sha, name.batch_id()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(resp) = prior {
            let kept = self
                .layout
                .sent()
                .join(format!("{}.zip", super::sha_named(&resp)?));
            let (control, bytes) = read_response_bytes(&kept).map_err(io_at(&kept))?;
            let result_csv = bytes.as_deref().map(|b| shown_result(&control, b));
            return Ok(CheckReport {
                result: "RESENT".into(),
                code: None,
                message: Some(
                    "this archive was processed before: its stored ACK would be sent again".into(),
                ),
                statuses: BTreeMap::new(),
                control: Some(control),
                result_csv,
                result_csv_bytes: bytes,
            });
        }
        let policy = self.cfg.policy(&name.sender);
        let mut ev = self.evaluate_rolled_back(path, &name, &sha, &policy)?;
        let (result, code, message, _rows, statuses) = summary(&ev);
        let control = respond::control_text(&ev.header, &ev.verdict);
        let bytes = match ev.result.as_mut() {
            Some(s) => {
                // Shown up to 1 MiB: `check` is for reading, and memory must not grow with the
                // registry.
                let mut b = Vec::new();
                io::Read::read_to_end(&mut io::Read::take(&mut s.file, CHECK_SHOW_BYTES), &mut b)
                    .map_err(io_at(&s.path))?;
                if s.len > CHECK_SHOW_BYTES {
                    b.extend_from_slice(
                        format!("... ({} bytes in all; the rest is not shown)\n", s.len).as_bytes(),
                    );
                }
                Some(b)
            }
            None => None,
        };
        Ok(CheckReport {
            result,
            code,
            // As the response's `control.txt` writes it.
            message: message.map(|m| respond::one_line(&m)),
            statuses,
            result_csv: bytes.as_deref().map(|b| shown_result(&control, b)),
            control: Some(control),
            result_csv_bytes: bytes,
        })
    }
}
