//! File modes of everything the engine creates, and keys kept out of every output.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn store_kept_files_and_responses_are_private() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    rx.process(
        "MUNIS_SUDBILLING_PAY_20261121_001.zip",
        &reference("MUNIS_SUDBILLING_PAY_20261121_001.zip"),
    );
    rx.process("not-a-batch.zip", b"junk");
    let data = rx.engine.cfg.data.clone();
    for d in ["", "received", "sent", "set-aside", "imports", "tmp"] {
        assert_eq!(mode(&data.join(d)), 0o700, "folder {d}");
    }
    assert_eq!(mode(&data.join("reestr.db")), 0o600, "store");
    for d in ["received", "sent", "set-aside", "imports"] {
        for n in list(&data.join(d)) {
            assert_eq!(mode(&data.join(d).join(&n)), 0o600, "{d}/{n}");
        }
    }
    for n in rx.outbox() {
        assert_eq!(mode(&rx.engine.cfg.outbox.join(&n)), 0o600, "outbox/{n}");
    }
}

#[test]
fn keys_others_may_change_are_refused_naming_the_file() {
    let rx = Rx::new();
    let k = rx.dir.path().join("MUNIS.key");
    for bad in [0o664, 0o620, 0o602, 0o666, 0o622] {
        set_mode(&k, bad);
        let err = reestr::config::Config::load(&rx.config_path()).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("MUNIS.key") && msg.contains("0600"), "{msg}");
        assert!(msg.contains(&format!("{bad:04o}")), "{msg}");
        assert!(
            !msg.contains(
                &String::from_utf8_lossy(&reference("MUNIS.key"))
                    .trim()
                    .to_string()
            )
        );
    }
    // Readable by others: used (with a warning, tests/operations.rs); the owner's own modes
    // are the owner's business.
    for fine in [0o400, 0o600, 0o700, 0o640, 0o644, 0o444] {
        set_mode(&k, fine);
        assert!(
            reestr::config::Config::load(&rx.config_path()).is_ok(),
            "{fine:04o} loads"
        );
    }
}

#[test]
fn the_journal_records_a_fingerprint_never_the_key() {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    rx.process(
        "MUNIS_SUDBILLING_PAY_20261121_001.zip",
        &reference("MUNIS_SUDBILLING_PAY_20261121_001.zip"),
    );
    let key_hex = String::from_utf8_lossy(&reference("MUNIS.key"))
        .trim()
        .to_string();
    let bodies: Vec<String> = reestr::journal::entries(&rx.engine.store.conn)
        .expect("journal")
        .iter()
        .map(|e| e.body.to_string())
        .collect();
    assert!(bodies.iter().any(|b| b.contains(&key().fingerprint())));
    assert!(bodies.iter().all(|b| !b.contains(&key_hex)));
    assert_eq!(
        format!("{:?}", rx.engine.cfg.partners),
        format!("{:?}", rx.engine.cfg.partners).replace(&key_hex, "")
    );
}
