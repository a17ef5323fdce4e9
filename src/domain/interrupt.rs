//! SIGINT and SIGTERM during a run: caught, so that a publish stops cleanly (the multipart
//! upload aborted, the claim released, nothing half-published) and exits with 130 or 143, as
//! a shell does for a process the signal ended.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::domain::error::{Error, Signal};

/// The first SIGINT or SIGTERM of the run, once it has arrived.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Option<Signal>>,
}

impl Interrupt {
    /// Starts listening, on the runtime this is awaited in (the command line's one runtime:
    /// the library never makes or enters one). From then on the signals no longer end the
    /// process: the run checks [`Interrupt::check`] between steps and races
    /// [`Interrupt::wait`] inside them. The listener is a task of that runtime, so it keeps
    /// listening while the caller blocks its own thread (packaging, outside any future).
    pub async fn install() -> Result<Interrupt, Error> {
        let (tx, rx) = watch::channel(None);
        let io = |source| Error::Io {
            context: "cannot listen for SIGINT/SIGTERM".into(),
            source,
        };
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
            };
            let _ = tx.send(Some(which));
        });
        Ok(Interrupt { rx })
    }

    /// An interrupt that never fires (for callers that do not listen).
    pub fn never() -> Interrupt {
        let (_tx, rx) = watch::channel(None);
        Interrupt { rx }
    }

    /// `Err(Error::Interrupted)` once a signal has arrived.
    pub fn check(&self) -> Result<(), Error> {
        match self.signal() {
            Some(s) => Err(Error::Interrupted(s)),
            None => Ok(()),
        }
    }

    /// The signal, once one has arrived; callable from any thread.
    pub fn signal(&self) -> Option<Signal> {
        *self.rx.borrow()
    }

    /// Resolves when a signal arrives (never, for [`Interrupt::never`]).
    pub async fn wait(&self) -> Signal {
        let mut rx = self.rx.clone();
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
