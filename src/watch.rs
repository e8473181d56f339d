//! `reestr watch`: handle archives as they arrive, until a stop is requested.
//!
//! File-system events from `notify` are only hints that something changed: every event, every
//! `Rescan` flag and every `rescan` interval leads to a full rescan of the inbox (network shares
//! send no events, and events drop under load). A batch in hand when the stop comes is
//! abandoned and rolled back (it stays in the inbox); the process then exits.

use crate::engine::{Engine, EngineError, Handled};
use crate::inbox::{Look, Stability};
use crate::pipeline::PipelineError;
use notify::{RecursiveMode, Watcher};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Watches until `engine.cancel` is set. `on_batch` is called after every handled archive,
/// `on_cycle` after every scan that handled something.
pub fn watch(
    engine: &mut Engine,
    mut on_batch: impl FnMut(&Handled),
    mut on_cycle: impl FnMut(&Engine, &[Handled]),
) -> Result<(), EngineError> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Opening or reading a file changes nothing, and every scan opens the zips it judges:
        // taken as hints, those events would make the scans their own cause. Any other event,
        // an error, or a rescan flag means "look again" (a writer closing its file included).
        if let Ok(ev) = &res
            && !ev.need_rescan()
            && matches!(
                ev.kind,
                notify::EventKind::Access(a)
                    if a != notify::event::AccessKind::Close(notify::event::AccessMode::Write)
            )
        {
            return;
        }
        let _ = tx.send(());
    });
    match watcher.as_mut() {
        Ok(w) => {
            if let Err(e) = w.watch(&engine.cfg.inbox, RecursiveMode::NonRecursive) {
                tracing::warn!(error = %e, "no file-system events for the inbox; polling only");
            }
        }
        Err(e) => tracing::warn!(error = %e, "no file-system watcher; polling only"),
    }
    let mut stability = Stability::new();
    tracing::info!(inbox = %engine.cfg.inbox.display(), "watching");
    loop {
        if engine.cancel.load(Ordering::Relaxed) {
            break;
        }
        engine.recover()?;
        let scan = engine.scan(Look::Watch(&mut stability))?;
        let mut handled = Vec::new();
        for f in &scan.ready {
            if engine.cancel.load(Ordering::Relaxed) {
                break;
            }
            match engine.handle(f) {
                Ok(h) => {
                    on_batch(&h);
                    handled.push(h);
                }
                Err(EngineError::Pipeline(PipelineError::Cancelled)) => break,
                Err(e) => {
                    // The archive stays in the inbox; try again after the next wait.
                    tracing::error!(file = %f.display(), error = %e, "could not handle; will retry");
                    break;
                }
            }
        }
        if !handled.is_empty() {
            on_cycle(engine, &handled);
        }
        // Wait for an event, the rescan interval, or (with files still settling) a short tick.
        let wait = if !scan.pending.is_empty() {
            engine.cfg.rescan.min(
                Duration::from_millis(250)
                    .max(engine.cfg.settle.checked_div(4).unwrap_or_default()),
            )
        } else {
            engine.cfg.rescan
        };
        // In range: `rescan` is at most a day (the configuration's bounds).
        #[allow(clippy::arithmetic_side_effects)]
        let deadline = Instant::now() + wait;
        while !engine.cancel.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(()) => {
                    while rx.try_recv().is_ok() {}
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left.min(Duration::from_millis(200)))
                }
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}
