//! Blocking work (reading and hashing files) on an async path, run off the thread that polls it.
//!
//! A run's targets are futures of one task (`publish::in_flight`), polled on the thread that
//! runs the command's one `block_on`: a 50 MB read and hash done in place holds up every other
//! target's requests until it ends. [`off_workers`] hands the work to tokio's blocking pool and
//! awaits it, so the other targets go on meanwhile. `block_in_place` would not do: it moves the
//! worker's *other tasks* away, not the sibling futures of this one (nor can it move anything
//! off `block_on`'s own thread), and it panics on a current-thread runtime, which a library
//! function must not care about.

use crate::domain::error::Error;

/// Runs `work` on tokio's blocking pool and gives its result; a panic in `work` carries on in
/// the caller. The work runs to its end even if the caller stops waiting (a signal): reads and
/// hashes have nothing to undo.
pub(crate) async fn off_workers<T, W>(work: W) -> Result<T, Error>
where
    T: Send + 'static,
    W: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime shuts down under the run.
        Err(e) => Err(Error::Io {
            context: "a file read was cancelled because the run is ending".into(),
            source: std::io::Error::other(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn other_futures_run_while_the_work_is_done() {
        // A current-thread runtime: one thread polls both futures, as `block_on` polls a run's
        // targets. Work done in place would finish before the second future is first polled.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other_ran = Cell::new(false);
        rt.block_on(async {
            let work = async {
                // Waits until the other future has run: in place, this would never return.
                off_workers(move || {
                    rx.recv_timeout(std::time::Duration::from_secs(10))
                        .map_err(|_| Error::bad_input("the other future never ran"))
                })
                .await
            };
            let other = async {
                other_ran.set(true);
                tx.send(()).unwrap();
            };
            let (done, ()) = tokio::join!(work, other);
            done.unwrap();
        });
        assert!(other_ran.get());
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn a_panic_in_the_work_carries_on_in_the_caller() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _ = rt.block_on(off_workers(|| -> Result<(), Error> { panic!("boom") }));
    }
}
