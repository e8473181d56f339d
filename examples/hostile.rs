//! Hostile but well-signed archives for the memory test (`scripts/memory.sh`, `docs/MEMORY.md`),
//! written streaming: nothing of the size of the registry is ever held in memory.
//!
//! ```sh
//! # A PAY archive whose registry.csv is BYTES of short valid rows (distinct payment ids,
//! # pseudo-random digits: it deflates only a few times, far under the 200:1 ratio limit),
//! # with right control totals, manifest and HMAC; and the billing export its rows pay.
//! cargo run --release --example hostile -- rows OUT.zip INVOICES.csv [BYTES]
//! # A PAY archive whose registry is the header and one row whose physical line is BYTES long
//! # (its purpose: pseudo-random letters and digits, so the ratio limit does not stop it).
//! cargo run --release --example hostile -- long-line OUT.zip [BYTES]
//! # A PAY archive whose registry is the header and COUNT rows (default 1) whose quoted purpose
//! # is BYTES of short lines (64 bytes and LF): every physical line is far under the 64 KiB line
//! # limit, but each record is BYTES long.
//! cargo run --release --example hostile -- long-record OUT.zip [BYTES] [COUNT]
//! # The same, with the BYTES of short lines in the quoted payment_id instead (echoed whole in
//! # result.csv) and the purpose empty.
//! cargo run --release --example hostile -- long-id OUT.zip [BYTES] [COUNT]
//! # A PAY archive whose registry.csv is BYTES of rows just under the 64 KiB line limit: each
//! # row's payment_id is WIDTH pseudo-random digits (default 65000; a 202 payment_id), the
//! # other fields valid.
//! cargo run --release --example hostile -- wide-rows OUT.zip [BYTES] [WIDTH]
//! ```
//!
//! `BYTES` defaults to 1 GiB (`rows`, `wide-rows`) and 64 MiB (`long-line`, `long-record`,
//! `long-id`).
//! The archives are signed with the reference key `tests/reference/MUNIS.key` and made for the
//! batch of `OUT.zip`'s file name, which must be an agreement PAY name such as
//! `MUNIS_SUDBILLING_PAY_20261121_001.zip`. Prints one JSON line: sizes, rows, amount total and
//! the registry's SHA-256.

use reestr::charset::Charset;
use reestr::integrity::Key;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, Invoice, PAY_HEADER, Rng};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zip::write::SimpleFileOptions;

/// Invoices the generated rows pay (each can take far more than its share of the rows).
const INVOICES: u64 = 1000;
const NAMES: [&str; 6] = [
    "Abdullayev Sardor",
    "Karimova Dilnoza",
    "Yo'ldoshev Bekzod",
    "Rahimov O'tkir",
    "Qodirova Nigora",
    "G'ulomov Jasur",
];
const BANKS: [&str; 4] = ["00014", "00083", "00440", "01069"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("rows") if args.len() >= 3 => size(args.get(3), 1 << 30)
            .and_then(|n| rows(Path::new(&args[1]), Path::new(&args[2]), n)),
        Some("long-line") if args.len() >= 2 => {
            size(args.get(2), 64 << 20).and_then(|n| long_line(Path::new(&args[1]), n))
        }
        Some("wide-rows") if args.len() >= 2 => size(args.get(2), 1 << 30).and_then(|n| {
            size(args.get(3), 65_000).and_then(|w| wide_rows(Path::new(&args[1]), n, w as usize))
        }),
        Some("long-record") if args.len() >= 2 => size(args.get(2), 64 << 20).and_then(|n| {
            size(args.get(3), 1).and_then(|c| long_record(Path::new(&args[1]), n, c, false))
        }),
        Some("long-id") if args.len() >= 2 => size(args.get(2), 64 << 20).and_then(|n| {
            size(args.get(3), 1).and_then(|c| long_record(Path::new(&args[1]), n, c, true))
        }),
        _ => Err("usage: hostile rows OUT.zip INVOICES.csv [BYTES] | hostile long-line OUT.zip [BYTES] | hostile long-record OUT.zip [BYTES] [COUNT] | hostile long-id OUT.zip [BYTES] [COUNT] | hostile wide-rows OUT.zip [BYTES] [WIDTH]".into()),
    };
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hostile: {e}");
            ExitCode::from(1)
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn size(arg: Option<&String>, default: u64) -> Res<u64> {
    arg.map_or(Ok(default), |a| Ok(a.parse::<u64>()?))
}

fn key() -> Res<Key> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/MUNIS.key");
    Key::parse(&std::fs::read_to_string(&p)?).ok_or_else(|| "reference key unreadable".into())
}

/// The batch of the archive's file name, with an empty registry and zero totals.
fn batch_for(out: &Path) -> Res<Batch> {
    let fname = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = reestr::name::BatchName::parse(&fname)
        .map_err(|e| format!("{fname}: not an agreement name: {e}"))?;
    if name.kind != BatchType::PAY {
        return Err(format!("{fname}: a PAY batch name is needed").into());
    }
    let mut b = Batch::new(
        BatchType::PAY,
        &name.seq,
        Charset::Utf8,
        &PAY_HEADER,
        &[],
        6,
    );
    b.sender = name.sender.clone();
    b.receiver = name.receiver.clone();
    b.date = name.date_text.clone();
    b.registry = Vec::new();
    Ok(b)
}

/// Writes the archive: `control.txt`, `registry.csv` (streamed from `write_registry`),
/// `manifest.sha256.hmac`, `manifest.sha256`, in the order of `reestr::sample`.
fn write_archive(
    out: &Path,
    b: &Batch,
    registry_sha: &[u8],
    write_registry: impl FnOnce(&mut dyn Write) -> Res<()>,
) -> Res<u64> {
    let key = key()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let control = b.control();
    let manifest = format!(
        "{}  control.txt\n{}  registry.csv\n",
        hex::encode(Sha256::digest(&control)),
        hex::encode(registry_sha)
    );
    let t = zip::DateTime::from_date_and_time(2026, 11, 22, 1, 5, 0).unwrap_or_default();
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(t);
    let tmp = out.with_extension("zip.part");
    let mut z = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, File::create(&tmp)?));
    z.start_file("control.txt", opts)?;
    z.write_all(&control)?;
    z.start_file("registry.csv", opts)?;
    write_registry(&mut z)?;
    z.start_file("manifest.sha256.hmac", opts)?;
    z.write_all(format!("{}\n", key.sign(manifest.as_bytes())).as_bytes())?;
    z.start_file("manifest.sha256", opts)?;
    z.write_all(manifest.as_bytes())?;
    let mut w = z.finish()?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    Ok(std::fs::metadata(out)?.len())
}

// ---------------------------------------------------------------------------------------------
// rows

/// The billing export the rows pay: `INVOICES` open invoices of individuals, each due far more
/// than the rows will pay it.
fn invoices() -> Vec<Invoice> {
    let mut rng = Rng::new(4242);
    (0..INVOICES)
        .map(|k| Invoice {
            no: format!("7{:019}", 1_234_567 + k * 7919),
            payer_type: "P".into(),
            payer_id: sample::pinfl(&mut rng),
            payer_name: rng.pick(&NAMES).to_string(),
            amount_due: "90000000000.00".into(),
            status: "OPEN".into(),
        })
        .collect()
}

/// Deterministic valid PAY rows: distinct payment ids, pseudo-random times, amounts, accounts.
struct Rows<'a> {
    rng: Rng,
    next_id: u64,
    inv: &'a [Invoice],
}

impl<'a> Rows<'a> {
    fn new(inv: &'a [Invoice]) -> Self {
        Self {
            rng: Rng::new(20261121),
            next_id: 1_000_000_000_000_000,
            inv,
        }
    }

    /// Appends one row (with its CRLF) to `out`; returns its amount in tiyin.
    fn next(&mut self, out: &mut Vec<u8>) -> i128 {
        let r = &mut self.rng;
        let v = &self.inv[r.below(self.inv.len() as u64) as usize];
        let mfo = *r.pick(&BANKS);
        let (so_m, tiyin) = (1 + r.below(9999), r.below(100));
        let line = format!(
            "{};2026-11-21 {:02}:{:02}:{:02};{};P;{};{};{so_m}.{tiyin:02};860;{mfo};{};Davlat boji, ish 2-{}/2026\r\n",
            self.next_id,
            r.below(24),
            r.below(60),
            r.below(60),
            v.no,
            v.payer_id,
            r.pick(&NAMES),
            sample::account(mfo, r),
            r.digits(6),
        );
        self.next_id += 1;
        out.extend_from_slice(line.as_bytes());
        i128::from(so_m * 100 + tiyin)
    }
}

fn header_line() -> Vec<u8> {
    format!("{}\r\n", PAY_HEADER.join(";")).into_bytes()
}

fn rows(out: &Path, invoices_csv: &Path, bytes: u64) -> Res<String> {
    let inv = invoices();
    std::fs::write(invoices_csv, sample::invoices_csv(&inv))?;
    // Pass one: count, total and hash, as a sender computes its control record.
    let header = header_line();
    let mut sha = Sha256::new();
    sha.update(&header);
    let (mut n, mut total, mut len) = (0u64, 0i128, header.len() as u64);
    let mut rowgen = Rows::new(&inv);
    let mut buf = Vec::with_capacity(1 << 20);
    while len < bytes {
        buf.clear();
        while buf.len() < (1 << 20) - 512 && len + (buf.len() as u64) < bytes {
            total += rowgen.next(&mut buf);
            n += 1;
        }
        sha.update(&buf);
        len += buf.len() as u64;
    }
    let digest = sha.finalize();
    let mut b = batch_for(out)?;
    b.rows = n;
    b.amount_total = total;
    // Pass two: the same rows again, into the archive.
    let zip_len = write_archive(out, &b, &digest, |w| {
        w.write_all(&header)?;
        let mut rowgen = Rows::new(&inv);
        let mut written = header.len() as u64;
        let mut left = n;
        while left > 0 {
            buf.clear();
            while left > 0 && buf.len() < (1 << 20) - 512 {
                rowgen.next(&mut buf);
                left -= 1;
            }
            w.write_all(&buf)?;
            written += buf.len() as u64;
        }
        if written != len {
            return Err(format!("second pass wrote {written} bytes, first {len}").into());
        }
        Ok(())
    })?;
    Ok(format!(
        "{{\"archive\":{:?},\"archive_bytes\":{zip_len},\"registry_bytes\":{len},\"rows\":{n},\"amount_total\":\"{}\",\"registry_sha256\":\"{}\",\"invoices\":{:?}}}",
        out.display().to_string(),
        reestr::amount::format(total),
        hex::encode(digest),
        invoices_csv.display().to_string()
    ))
}

// ---------------------------------------------------------------------------------------------
// long-line

/// Printable characters that are neither `;` nor `"`: 64 of them, so about 6 bits a byte.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// One physical line of exactly `bytes` bytes: a valid row whose purpose makes up the length.
fn long_line_parts(bytes: u64) -> Res<(Vec<u8>, u64)> {
    let start = b"25786018516942;2026-11-21 13:22:10;50122778370060254138;P;62504049323943;Yo'ldoshev Bekzod;204000.00;860;00014;20214000352925082571;".to_vec();
    let pad = bytes
        .checked_sub(start.len() as u64)
        .ok_or("the line must be longer than its fixed fields")?;
    Ok((start, pad))
}

fn fill_random(rng: &mut Rng, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let mut x = rng.next_u64();
        for b in chunk {
            *b = ALPHABET[(x & 63) as usize];
            x >>= 6;
        }
    }
}

fn stream_long_line(w: &mut dyn Write, bytes: u64, sha: Option<&mut Sha256>) -> Res<()> {
    let (start, mut pad) = long_line_parts(bytes)?;
    let put = |w: &mut dyn Write, b: &[u8], sha: &mut Option<&mut Sha256>| -> Res<()> {
        if let Some(s) = sha.as_deref_mut() {
            s.update(b);
        }
        w.write_all(b)?;
        Ok(())
    };
    let mut sha = sha;
    put(w, &header_line(), &mut sha)?;
    put(w, &start, &mut sha)?;
    let mut rng = Rng::new(64);
    let mut buf = vec![0u8; 1 << 20];
    while pad > 0 {
        let n = pad.min(buf.len() as u64) as usize;
        fill_random(&mut rng, &mut buf[..n]);
        put(w, &buf[..n], &mut sha)?;
        pad -= n as u64;
    }
    put(w, b"\r\n", &mut sha)?;
    Ok(())
}

fn long_line(out: &Path, bytes: u64) -> Res<String> {
    let mut sha = Sha256::new();
    stream_long_line(&mut std::io::sink(), bytes, Some(&mut sha))?;
    let digest = sha.finalize();
    let mut b = batch_for(out)?;
    b.rows = 1;
    b.amount_total = 20_400_000;
    let zip_len = write_archive(out, &b, &digest, |w| stream_long_line(w, bytes, None))?;
    let registry_bytes = header_line().len() as u64 + bytes + 2;
    Ok(format!(
        "{{\"archive\":{:?},\"archive_bytes\":{zip_len},\"registry_bytes\":{registry_bytes},\"line_bytes\":{bytes},\"line\":2,\"rows\":1,\"registry_sha256\":\"{}\"}}",
        PathBuf::from(out).display().to_string(),
        hex::encode(digest)
    ))
}

// ---------------------------------------------------------------------------------------------
// long-record

/// The header and `count` rows whose quoted purpose (or, with `id`, payment id) is `bytes`
/// bytes of 63 pseudo-random characters and an LF each.
fn stream_long_record(
    w: &mut dyn Write,
    bytes: u64,
    count: u64,
    id: bool,
    sha: Option<&mut Sha256>,
) -> Res<()> {
    let (start, _) = long_line_parts(1 << 10)?;
    let mut sha = sha;
    let mut put = |b: &[u8]| -> Res<()> {
        if let Some(s) = sha.as_deref_mut() {
            s.update(b);
        }
        w.write_all(b)?;
        Ok(())
    };
    put(&header_line())?;
    let mut rng = Rng::new(65);
    let mut buf = vec![0u8; 1 << 20];
    // With `id`, the fields after the payment id, the purpose left empty.
    let after_id = start.get(14..).ok_or("a payment id of 14 digits")?;
    for _ in 0..count {
        put(if id { b"" } else { &start })?;
        put(b"\"")?;
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            fill_random(&mut rng, &mut buf[..n]);
            for line in buf[..n].chunks_mut(64) {
                if let Some(last) = line.last_mut() {
                    *last = b'\n';
                }
            }
            put(&buf[..n])?;
            left -= n as u64;
        }
        put(b"\"")?;
        if id {
            put(after_id)?;
        }
        put(b"\r\n")?;
    }
    Ok(())
}

fn long_record(out: &Path, bytes: u64, count: u64, id: bool) -> Res<String> {
    let mut sha = Sha256::new();
    stream_long_record(&mut std::io::sink(), bytes, count, id, Some(&mut sha))?;
    let digest = sha.finalize();
    let mut b = batch_for(out)?;
    b.rows = count;
    b.amount_total = 20_400_000 * i128::from(count);
    let zip_len = write_archive(out, &b, &digest, |w| {
        stream_long_record(w, bytes, count, id, None)
    })?;
    Ok(format!(
        "{{\"archive\":{:?},\"archive_bytes\":{zip_len},\"record_bytes\":{bytes},\"rows\":{count},\"registry_sha256\":\"{}\"}}",
        PathBuf::from(out).display().to_string(),
        hex::encode(digest)
    ))
}

// ---------------------------------------------------------------------------------------------
// wide-rows

/// Rows whose payment_id is `width` pseudo-random digits, until `bytes`; returns rows and total.
fn stream_wide_rows(
    w: &mut dyn Write,
    bytes: u64,
    width: usize,
    sha: Option<&mut Sha256>,
) -> Res<(u64, i128)> {
    let rest = ";2026-11-21 13:22:10;50122778370060254138;P;62504049323943;Yo'ldoshev Bekzod;204000.00;860;00014;20214000352925082571;Davlat boji\r\n";
    let mut sha = sha;
    let mut put = |b: &[u8]| -> Res<()> {
        if let Some(s) = sha.as_deref_mut() {
            s.update(b);
        }
        w.write_all(b)?;
        Ok(())
    };
    let header = header_line();
    put(&header)?;
    let mut len = header.len() as u64;
    let mut rng = Rng::new(66);
    let mut row = Vec::with_capacity(width + rest.len());
    let mut n = 0u64;
    while len < bytes {
        row.clear();
        for _ in 0..width {
            row.push(b'0' + rng.below(10) as u8);
        }
        row.extend_from_slice(rest.as_bytes());
        put(&row)?;
        len += row.len() as u64;
        n += 1;
    }
    Ok((n, i128::from(n) * 20_400_000))
}

fn wide_rows(out: &Path, bytes: u64, width: usize) -> Res<String> {
    if width + 160 > 64 << 10 {
        return Err("WIDTH must leave the line under 64 KiB".into());
    }
    let mut sha = Sha256::new();
    let (n, total) = stream_wide_rows(&mut std::io::sink(), bytes, width, Some(&mut sha))?;
    let digest = sha.finalize();
    let mut b = batch_for(out)?;
    b.rows = n;
    b.amount_total = total;
    let zip_len = write_archive(out, &b, &digest, |w| {
        stream_wide_rows(w, bytes, width, None).map(|_| ())
    })?;
    Ok(format!(
        "{{\"archive\":{:?},\"archive_bytes\":{zip_len},\"rows\":{n},\"payment_id_digits\":{width},\"amount_total\":\"{}\",\"registry_sha256\":\"{}\"}}",
        PathBuf::from(out).display().to_string(),
        reestr::amount::format(total),
        hex::encode(digest)
    ))
}
