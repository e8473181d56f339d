//! Metrics for schedulers: a Prometheus textfile-collector file written after each run.

use crate::engine::{Engine, EngineError, io_at};
use crate::fsutil;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Renders the metrics text from the store (cumulative) and the last run's duration.
pub fn render(engine: &Engine, run_seconds: f64, success: bool) -> Result<String, EngineError> {
    let conn = &engine.store.conn;
    let mut out = String::new();
    let mut by_result: BTreeMap<String, i64> = BTreeMap::new();
    {
        let mut st = conn.prepare("SELECT CASE WHEN resent_of IS NULL THEN result ELSE 'RESENT' END, count(*) FROM deliveries GROUP BY 1")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for r in rows {
            let (k, v) = r?;
            by_result.insert(k, v);
        }
    }
    let aside: i64 = conn.query_row("SELECT count(*) FROM set_aside", [], |r| r.get(0))?;
    by_result.insert("SET_ASIDE".into(), aside);
    // Summed wide: the counts are read back from the store's journal, each any i64, and fewer
    // than 2^63 of them cannot reach i128's bounds.
    let mut by_status: BTreeMap<String, i128> = BTreeMap::new();
    {
        let mut st = conn.prepare("SELECT body FROM journal WHERE kind='delivery'")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        for body in rows {
            let v: serde_json::Value = serde_json::from_str(&body?).unwrap_or_default();
            if let Some(m) = v.get("statuses").and_then(|s| s.as_object()) {
                for (k, n) in m {
                    let sum = by_status.entry(k.clone()).or_default();
                    *sum = sum.saturating_add(i128::from(n.as_i64().unwrap_or(0)));
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP reestr_batches_total Archives handled, by result."
    );
    let _ = writeln!(out, "# TYPE reestr_batches_total counter");
    for r in ["ACK", "NAK", "RESENT", "SET_ASIDE"] {
        let _ = writeln!(
            out,
            "reestr_batches_total{{result=\"{r}\"}} {}",
            by_result.get(r).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "# HELP reestr_rows_total Registry rows answered, by status code."
    );
    let _ = writeln!(out, "# TYPE reestr_rows_total counter");
    for (k, v) in &by_status {
        let _ = writeln!(out, "reestr_rows_total{{status=\"{k}\"}} {v}");
    }
    let waiting = engine
        .scan(crate::inbox::Look::Once)
        .map(|s| {
            s.ready
                .len()
                .saturating_add(s.pending.len())
                .saturating_add(s.held.len())
        })
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP reestr_inbox_waiting Files waiting in the inbox after the run."
    );
    let _ = writeln!(out, "# TYPE reestr_inbox_waiting gauge");
    let _ = writeln!(out, "reestr_inbox_waiting {waiting}");
    let _ = writeln!(
        out,
        "# HELP reestr_run_duration_seconds Duration of the last run."
    );
    let _ = writeln!(out, "# TYPE reestr_run_duration_seconds gauge");
    let _ = writeln!(out, "reestr_run_duration_seconds {run_seconds:.3}");
    let _ = writeln!(
        out,
        "# HELP reestr_last_success_timestamp_seconds When a run last finished with every archive handled."
    );
    let _ = writeln!(out, "# TYPE reestr_last_success_timestamp_seconds gauge");
    let last = if success {
        Some(chrono::Utc::now().timestamp())
    } else {
        previous_success(engine)
    };
    let _ = writeln!(
        out,
        "reestr_last_success_timestamp_seconds {}",
        last.unwrap_or(0)
    );
    Ok(out)
}

fn previous_success(engine: &Engine) -> Option<i64> {
    let path = engine.cfg.metrics_file.as_ref()?;
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("reestr_last_success_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
}

/// Writes the metrics file atomically when the configuration names one.
pub fn write(engine: &Engine, run_seconds: f64, success: bool) -> Result<(), EngineError> {
    let Some(path) = engine.cfg.metrics_file.clone() else {
        return Ok(());
    };
    let text = render(engine, run_seconds, success)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    }
    fsutil::write_bytes(&path, text.as_bytes()).map_err(io_at(&path))?;
    // Counts only, no payment data: readable by a collector running under another account.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .map_err(io_at(&path))?;
    }
    Ok(())
}
