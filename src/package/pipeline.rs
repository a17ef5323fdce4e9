//! The parallel pipeline behind packaging and tree hashing: a feed (the walk, on its own
//! thread) hands entries over in name order as it finds them, workers process them on every
//! core, and the calling thread receives the results in that same order.
//!
//! Why batches: a layer of small files is mostly per-file overhead, and per-entry hand-offs
//! (a channel send, a window lock, a wake-up each) cost more than compressing a 1 KB file.
//! Entries travel in batches of up to [`BATCH_ENTRIES`] entries or [`BATCH_BYTES`] of input,
//! so the threads meet about once per batch instead of once per file.
//!
//! Each batch carries one byte buffer, its arena, for what the workers make of its entries
//! (their compressed bytes): one buffer per batch, recycled once the writer is done with it,
//! instead of one allocation per file, made on a worker and freed on the writer. With musl's
//! allocator, which the static binary ships, per-file buffers crossing threads cost mmap and
//! munmap calls and their page faults (docs/benchmarks.md, Packaging).
//!
//! Memory stays bounded whatever the tree: the feed may run at most [`QUEUED_BATCHES`] batches
//! ahead of the workers, and the workers at most [`WINDOW_BATCHES`] batches and
//! [`WINDOW_BYTES`] of input ahead of the writer. Output order depends only on the feed's
//! order, never on which worker finished first.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use crate::domain::error::PackageError;
use crate::package::SPOOL_BYTES;
use crate::package::walk::Entry;

/// Entries per batch at most.
pub(crate) const BATCH_ENTRIES: usize = 64;
/// Input bytes per batch at most (a larger file travels alone).
pub(crate) const BATCH_BYTES: u64 = 1 << 20;
/// Batches the feed may have waiting for a worker.
const QUEUED_BATCHES: usize = 16;
/// Batches the workers may be ahead of the writer.
pub(crate) const WINDOW_BATCHES: usize = 8;
/// Input bytes the workers may hold ahead of the writer.
pub(crate) const WINDOW_BYTES: u64 = 64 << 20;
/// Arenas larger than this (a batch of one large file) are freed after use, not recycled.
const KEEP_ARENA: usize = 2 << 20;

/// What an entry weighs in the window: its input bytes, up to what a worker holds in memory
/// (larger files are spooled to disk).
fn cost(entry: &Entry) -> u64 {
    entry.size.min(SPOOL_BYTES)
}

/// Consecutive entries handed to one worker.
struct Batch {
    /// Position of the batch in the feed: the writer's order.
    seq: usize,
    entries: Vec<Entry>,
    cost: u64,
}

/// A processed batch: the results of its entries in order, ending at the first error, and
/// the batch's arena.
type Done<T> = (Batch, Vec<Result<T, PackageError>>, Arena);

/// A batch's bytes: what the workers made of its entries, one after the other. Its buffer
/// keeps its length from batch to batch, so that writing into it never clears memory first
/// (only growing it does); `used` says how much holds this batch's bytes.
#[derive(Default)]
pub(crate) struct Arena {
    buf: Vec<u8>,
    used: usize,
}

impl Arena {
    /// `len` bytes of room after the bytes in use, to write into; what they hold is stale.
    pub(crate) fn room(&mut self, len: usize) -> &mut [u8] {
        let end = self.used + len;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.used..end]
    }

    /// Keeps the first `len` bytes of the room; returns where they are in [`Arena::bytes`].
    pub(crate) fn commit(&mut self, len: usize) -> Range<usize> {
        let at = self.used..self.used + len;
        self.used = at.end;
        at
    }

    /// Copies `bytes` in; returns where they are.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Range<usize> {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.commit(bytes.len())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.used]
    }
}

/// Runs `feed` on its own thread, `work` on every entry it pushes (on `threads` workers, 0:
/// one per core), and hands each entry with its result to `sink` in the order the feed pushed
/// them, on the calling thread. `work` may add bytes to its batch's [`Arena`] (empty at the
/// start of each batch) and say where in its result; `sink` gets the arena's bytes. `feed`'s push returns false once the run is stopping (an
/// error on another side): the feed should then return. Stops at the first error; an error
/// of the feed's own (a walk error, a layer too large) wins over the others, so the user sees
/// what is wrong with the tree first.
pub(crate) fn in_order<R, T, F, W, S>(
    threads: usize,
    feed: F,
    work: W,
    mut sink: S,
) -> Result<R, PackageError>
where
    R: Send,
    T: Send,
    F: FnOnce(&mut dyn FnMut(Entry) -> bool) -> Result<R, PackageError> + Send,
    W: Fn(&Entry, &mut Arena) -> Result<T, PackageError> + Sync,
    S: FnMut(Entry, T, &[u8]) -> Result<(), PackageError>,
{
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let window = Window::default();
    let stop = AtomicBool::new(false);

    let (batch_tx, batch_rx) = mpsc::sync_channel::<Batch>(QUEUED_BATCHES);
    let batch_rx = Mutex::new(Some(batch_rx));
    let arenas = Mutex::new(Vec::<Arena>::new());
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<Done<T>>();

        let feeder = {
            let stop = &stop;
            scope.spawn(move || {
                let mut batcher = Batcher {
                    tx: batch_tx,
                    current: Vec::new(),
                    cost: 0,
                    seq: 0,
                };
                let mut push = |entry: Entry| !stop.load(Ordering::Relaxed) && batcher.push(entry);
                let result = feed(&mut push);
                batcher.flush();
                result
            })
        };
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (batch_rx, window, work, stop, arenas) =
                (&batch_rx, &window, &work, &stop, &arenas);
            scope.spawn(move || {
                loop {
                    // The lock is held only to take the next batch: batches start in order.
                    let next = match &*batch_rx.lock().unwrap_or_else(|p| p.into_inner()) {
                        Some(rx) => rx.recv(),
                        None => break,
                    };
                    let Ok(batch) = next else { break };
                    if !window.enter(batch.seq, batch.cost) {
                        break;
                    }
                    let mut results = Vec::with_capacity(batch.entries.len());
                    let mut arena = arenas
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .pop()
                        .unwrap_or_default();
                    arena.used = 0;
                    for entry in &batch.entries {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let r = work(entry, &mut arena);
                        let failed = r.is_err();
                        results.push(r);
                        if failed {
                            break;
                        }
                    }
                    if done_tx.send((batch, results, arena)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);

        let mut pending = BTreeMap::new();
        let mut want = 0;
        let written = (|| {
            for (batch, results, arena) in done_rx.iter() {
                pending.insert(batch.seq, (batch, results, arena));
                while let Some((batch, results, arena)) = pending.remove(&want) {
                    let complete = results.len() == batch.entries.len();
                    for (entry, r) in batch.entries.into_iter().zip(results) {
                        sink(entry, r?, arena.bytes())?;
                    }
                    if arena.buf.len() <= KEEP_ARENA {
                        arenas.lock().unwrap_or_else(|p| p.into_inner()).push(arena);
                    }
                    if !complete {
                        // Only a run that is stopping leaves a batch unfinished.
                        return Ok(());
                    }
                    window.leave(want + 1, batch.cost);
                    want += 1;
                }
            }
            Ok(())
        })();
        // Stop the feed and wake any worker waiting for room so that the scope can end.
        // Dropping the queue's receiving end makes a feed blocked on a full queue return.
        stop.store(true, Ordering::Relaxed);
        window.cancel();
        drop(pending);
        drop(batch_rx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let fed = feeder
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (fed, written) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(r), Ok(())) => Ok(r),
        }
    })
}

/// Groups the feed's entries into batches and queues them for the workers.
struct Batcher {
    tx: mpsc::SyncSender<Batch>,
    current: Vec<Entry>,
    cost: u64,
    seq: usize,
}

impl Batcher {
    /// Adds one entry; false once the workers are gone.
    fn push(&mut self, entry: Entry) -> bool {
        let c = cost(&entry);
        // A file that would overfill the batch starts the next one.
        if !self.current.is_empty() && self.cost + c > BATCH_BYTES && !self.flush() {
            return false;
        }
        self.cost += c;
        self.current.push(entry);
        if self.current.len() >= BATCH_ENTRIES || self.cost >= BATCH_BYTES {
            return self.flush();
        }
        true
    }

    /// Queues the batch being filled, if any; false once the workers are gone.
    fn flush(&mut self) -> bool {
        if self.current.is_empty() {
            return true;
        }
        let batch = Batch {
            seq: self.seq,
            entries: std::mem::take(&mut self.current),
            cost: std::mem::take(&mut self.cost),
        };
        self.seq += 1;
        self.tx.send(batch).is_ok()
    }
}

/// How far ahead of the writer the workers may run, in batches.
#[derive(Default)]
struct Window {
    state: Mutex<WindowState>,
    room: Condvar,
    cancelled: AtomicBool,
}

#[derive(Default)]
struct WindowState {
    written: usize,
    bytes: u64,
}

impl Window {
    /// Waits until batch `seq` may start; false when the run was cancelled. The batch the
    /// writer waits for always may, so the pipeline cannot stall.
    fn enter(&self, seq: usize, cost: u64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return false;
            }
            let within = seq < s.written + WINDOW_BATCHES && s.bytes + cost <= WINDOW_BYTES;
            if seq == s.written || within {
                s.bytes += cost;
                return true;
            }
            s = self.room.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn leave(&self, written: usize, cost: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.written = written;
        s.bytes = s.bytes.saturating_sub(cost);
        self.room.notify_all();
    }

    fn cancel(&self) {
        let _guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.cancelled.store(true, Ordering::Relaxed);
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;
    use crate::package::tests::entries;

    /// A feed that pushes `es` in order.
    fn feed_of(
        es: Vec<Entry>,
    ) -> impl FnOnce(&mut dyn FnMut(Entry) -> bool) -> Result<(), PackageError> + Send {
        move |push| {
            for e in es {
                if !push(e) {
                    break;
                }
            }
            Ok(())
        }
    }

    #[test]
    fn results_arrive_in_entry_order_whatever_finishes_first() {
        let es = entries(&[1; 2000]);
        let mut seen = Vec::new();
        in_order(
            4,
            feed_of(es.clone()),
            |e, _| {
                // Uneven work so that workers overtake each other.
                if e.name.ends_with('7') {
                    std::thread::yield_now();
                }
                Ok(e.name.clone())
            },
            |e, name, _| {
                assert_eq!(name, e.name);
                seen.push(e.name);
                Ok(())
            },
        )
        .unwrap();
        let names: Vec<String> = es.into_iter().map(|e| e.name).collect();
        assert_eq!(seen, names);
    }

    #[test]
    fn each_entry_finds_its_bytes_in_its_batchs_arena() {
        // Entry i adds i % 700 bytes (some none, some past a batch's worth), each batch's
        // arena recycled for the next: every entry must read back exactly its own bytes.
        let es = entries(&[1; 3000]);
        let bytes_of = |name: &str| -> Vec<u8> {
            let i: usize = name[1..].parse().unwrap();
            (0..i % 700).map(|k| (i + k) as u8).collect()
        };
        let mut seen = 0;
        in_order(
            3,
            feed_of(es),
            |e, arena| Ok(arena.push(&bytes_of(&e.name))),
            |e, at, bytes| {
                assert_eq!(bytes[at].to_vec(), bytes_of(&e.name), "{}", e.name);
                seen += 1;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, 3000);
    }

    #[test]
    fn an_arenas_room_keeps_what_was_committed_before_it() {
        let mut a = Arena::default();
        let first = a.push(b"abc");
        a.room(10).fill(b'x');
        let second = a.commit(2);
        assert_eq!((first.clone(), second.clone()), (0..3, 3..5));
        assert_eq!(a.bytes(), b"abcxx");
        // Recycled: the buffer keeps its length, the bytes in use start again from none.
        a.used = 0;
        assert_eq!(a.bytes(), b"");
        assert_eq!(a.push(b"z"), 0..1);
        assert_eq!(a.bytes(), b"z");
    }

    #[test]
    fn a_worker_error_stops_the_run_and_is_returned() {
        let es = entries(&[1; 5000]);
        let err = in_order(
            3,
            feed_of(es),
            |e, _| {
                if e.name == "f00100" {
                    Err(PackageError::input("boom"))
                } else {
                    Ok(())
                }
            },
            |_, _, _| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }

    #[test]
    fn a_sink_error_stops_the_workers_too() {
        // Large entries fill the byte window at once: workers must be woken to end.
        let es = entries(&[SPOOL_BYTES; 64]);
        let err = in_order(
            2,
            feed_of(es),
            |_, _| Ok(()),
            |e, _, _| {
                if e.name == "f00001" {
                    Err(PackageError::input("disk full"))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }

    #[test]
    fn work_starts_while_the_feed_is_still_walking() {
        // The feed waits for the first result before it goes on: a walk that had to finish
        // before the work started would never end.
        let first_done = AtomicBool::new(false);
        let es = entries(&[1; 3]);
        let feed = |push: &mut dyn FnMut(Entry) -> bool| {
            let mut es = es.into_iter();
            push(es.next().unwrap());
            // Flushed as a batch of its own once the feed waits: push a batch-full.
            let waited = (0..200).any(|_| {
                std::thread::sleep(Duration::from_millis(10));
                first_done.load(Ordering::SeqCst)
            });
            es.for_each(|e| {
                push(e);
            });
            Ok(waited)
        };
        let fed_after_work = in_order(
            2,
            |push: &mut dyn FnMut(Entry) -> bool| {
                // A lone first entry travels only when its batch is full: make it full.
                let mut padding = entries(&[1; BATCH_ENTRIES - 1]);
                for (i, e) in padding.iter_mut().enumerate() {
                    e.name = format!("a{i:05}");
                }
                padding.into_iter().for_each(|e| {
                    push(e);
                });
                feed(push)
            },
            |_, _| {
                first_done.store(true, Ordering::SeqCst);
                Ok(())
            },
            |_, _, _| Ok(()),
        )
        .unwrap();
        assert!(
            fed_after_work,
            "the workers ran while the feed was still going"
        );
    }

    #[test]
    fn a_stuck_writer_holds_back_the_feed() {
        // Memory stays bounded: while the writer is stuck, the feed and the workers may only
        // run a few batches ahead, not through the whole tree.
        let fed = AtomicUsize::new(0);
        let es = entries(&[1; 100_000]);
        let bound = (QUEUED_BATCHES + WINDOW_BATCHES + 4) * BATCH_ENTRIES;
        let mut first = true;
        in_order(
            2,
            |push: &mut dyn FnMut(Entry) -> bool| {
                for e in es {
                    fed.fetch_add(1, Ordering::SeqCst);
                    if !push(e) {
                        break;
                    }
                }
                Ok(())
            },
            |_, _| Ok(()),
            |_, _, _| {
                if std::mem::take(&mut first) {
                    std::thread::sleep(Duration::from_millis(300));
                    let n = fed.load(Ordering::SeqCst);
                    assert!(n <= bound, "{n} entries fed while the writer was stuck");
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(fed.load(Ordering::SeqCst), 100_000);
    }

    #[test]
    fn the_feeds_error_wins_and_comes_after_what_it_pushed() {
        let es = entries(&[1; 10]);
        let mut written = 0;
        let err = in_order(
            2,
            |push: &mut dyn FnMut(Entry) -> bool| {
                feed_of(es)(push)?;
                Err::<(), _>(PackageError::input("too large"))
            },
            |_, _| Ok(()),
            |_, _, _| {
                written += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "too large");
        assert!(written <= 10);
    }

    #[test]
    fn small_entries_travel_in_batches_and_large_ones_alone() {
        let (tx, rx) = mpsc::sync_channel(1000);
        let mut b = Batcher {
            tx,
            current: Vec::new(),
            cost: 0,
            seq: 0,
        };
        let mut sizes = vec![1; BATCH_ENTRIES + 1];
        sizes.push(BATCH_BYTES * 2);
        sizes.push(1);
        for e in entries(&sizes) {
            assert!(b.push(e));
        }
        assert!(b.flush());
        drop(b);
        let lens: Vec<usize> = rx.iter().map(|b| b.entries.len()).collect();
        assert_eq!(lens, [BATCH_ENTRIES, 1, 1, 1]);
    }
}
