//! The benchmark's generator (`reestr::bench_data`) makes every row what it says: the engine's
//! answer to a small generated archive matches the expected status and field of every line.

use reestr::bench_data::{self, Model, Spec};
use reestr::config::Config;
use reestr::engine::{Engine, read_response};
use std::os::unix::fs::PermissionsExt;

#[test]
fn engine_answers_every_generated_row_as_expected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let spec = Spec {
        rows: 4000,
        invoices: 4500,
        seed: 7,
    };
    let summary = bench_data::generate(spec, &data).expect("generates");
    assert_eq!(summary.registry.rows, 4000);

    let rx = dir.path().join("rx");
    std::fs::create_dir_all(&rx).expect("rx dir");
    let key = rx.join("MUNIS.key");
    std::fs::copy(&summary.key_file, &key).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let cfgp = rx.join("reestr.toml");
    std::fs::write(
        &cfgp,
        "receiver = \"SUDBILLING\"\nsettle_seconds = 0\n[partners.MUNIS]\nkey_file = \"MUNIS.key\"\n",
    )
    .expect("config");
    let mut engine = Engine::init(Config::load(&cfgp).expect("config loads")).expect("init");
    engine
        .import_invoices(&summary.invoices_csv)
        .expect("import runs")
        .expect("export valid");
    std::fs::copy(
        &summary.archive,
        engine.cfg.inbox.join(bench_data::ARCHIVE_NAME),
    )
    .expect("drop in");
    let reestr::engine::RunOutcome {
        handled,
        error: err,
        ..
    } = engine.run();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].result, "ACK", "{:?}", handled[0].message);

    let response = engine
        .cfg
        .outbox
        .join("SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip");
    let (control, result) = read_response(&response).expect("response");
    assert!(
        control.contains(&format!("\naccepted={}\n", summary.registry.accepted)),
        "{control}"
    );
    assert!(
        control.ends_with(&format!("amount_accepted={}\n", summary.amount_accepted)),
        "{control}"
    );
    let model = Model::new(spec);
    let result = result.expect("result.csv");
    let mut lines = result.split("\r\n").skip(1).filter(|l| !l.is_empty());
    for r in 0..spec.rows {
        let line = lines.next().expect("a result line per row");
        let f: Vec<&str> = line.splitn(5, ';').collect();
        let (status, field) = model.expected(r);
        assert_eq!(f[0], (r + 1).to_string(), "{line}");
        assert_eq!(f[1], model.written_payment_id(r).to_string(), "{line}");
        assert_eq!(
            (f[2], f[3]),
            (status, field),
            "row {r} ({:?}): {line}",
            model.kind(r)
        );
    }
    assert!(lines.next().is_none());
}
