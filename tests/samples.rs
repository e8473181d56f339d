//! The bundled samples: the generator reproduces them, and the engine reproduces the golden
//! responses in `samples/expected` byte for byte (run and replay).

mod common;
use common::*;
use std::path::Path;

fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

#[test]
fn the_generator_reproduces_the_committed_samples() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = reestr::sample::write_samples(dir.path()).expect("generate");
    assert!(files.len() >= 7);
    for f in files {
        let rel = f.strip_prefix(dir.path()).expect("inside");
        let committed =
            std::fs::read(samples().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        assert_eq!(
            std::fs::read(&f).expect("read"),
            committed,
            "{} differs: regenerate with `reestr sample`",
            rel.display()
        );
    }
}

#[test]
fn the_engine_reproduces_the_golden_responses_and_replays_them() {
    // The samples are signed with the sample key, not the reference key.
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("sample.key");
    std::fs::copy(samples().join("MUNIS.key"), &key).expect("key");
    set_mode(&key, 0o600);
    let cfgp = dir.path().join("reestr.toml");
    std::fs::write(
        &cfgp,
        config_text("[partners.MUNIS]\nkey_file = \"sample.key\"\n"),
    )
    .expect("config");
    let cfg = reestr::config::Config::load(&cfgp).expect("config");
    let mut engine = reestr::engine::Engine::init(cfg).expect("init");
    engine
        .import_invoices(&samples().join("invoices.csv"))
        .expect("import")
        .expect("valid");
    for e in std::fs::read_dir(samples().join("inbox")).expect("inbox") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), engine.cfg.inbox.join(e.file_name())).expect("copy");
    }
    let reestr::engine::RunOutcome {
        handled,
        error: err,
        ..
    } = engine.run();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(handled.len(), 6);
    assert_eq!(
        handled.iter().filter(|h| h.result == "SET_ASIDE").count(),
        1
    );
    let expected = list(&samples().join("expected"));
    assert_eq!(list(&engine.cfg.outbox), expected);
    for name in &expected {
        let golden = std::fs::read(samples().join("expected").join(name)).expect("golden");
        let sent = std::fs::read(engine.cfg.outbox.join(name)).expect("sent");
        assert!(sent == golden, "{name} differs from samples/expected");
    }
    let out = dir.path().join("replayed");
    for e in std::fs::read_dir(samples().join("inbox")).expect("inbox") {
        let p = e.expect("entry").path();
        if p.file_name().is_some_and(|n| n == "payments-november.zip") {
            continue;
        }
        let r = engine.replay(&p, &out).expect("replay");
        assert_eq!(r.identical, Some(true), "{}", p.display());
        let golden = std::fs::read(samples().join("expected").join(&r.response)).expect("golden");
        assert_eq!(
            std::fs::read(out.join(&r.response)).expect("replayed"),
            golden
        );
    }
}
