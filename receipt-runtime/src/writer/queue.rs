//! The queue from instrumented threads to the writer, and when a send wakes the writer.
//!
//! Waking a blocked thread is a system call, and the woken writer is often scheduled on
//! the caller's core, which then waits for it: measured, that made a call arriving at an
//! idle writer cost ten times one arriving at a busy one. So by default the writer polls:
//! an idle writer sleeps between looks at the queue, [`POLL_MIN`] at first and doubling up
//! to [`POLL_MAX`], and a send wakes it only when someone waits for the answer (sync,
//! finalize), when a stage is refused (the caller is about to panic), or when the queue is
//! a quarter full. A record thus reaches the file at most [`POLL_MAX`] after it was queued
//! into an idle queue, and at once on [`crate::sync`] and at finalize. Under
//! [`Durability::Always`] every send wakes the writer, which blocks on the queue: there,
//! the time from queue to fsync is the point.

use std::io;
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};

use super::{Durability, Record, Writer};

/// Queue capacity between instrumented threads and the writer; a full queue blocks the
/// sender (back-pressure) rather than growing.
pub(super) const QUEUE: usize = 16 * 1024;

/// Queue length at which a send wakes a polling writer.
const WAKE_AT: usize = QUEUE / 4;

/// The first sleep of a writer that found the queue empty.
const POLL_MIN: Duration = Duration::from_millis(1);

/// The longest sleep of an idle writer between looks at the queue.
const POLL_MAX: Duration = Duration::from_millis(32);

/// Whether the writer polls (sends wake it only when they must) or blocks on the queue
/// (every send wakes it).
fn polls(durability: Durability) -> bool {
    durability != Durability::Always
}

/// Starts `writer` on its own thread, reading a new queue; returns the queue's sending
/// half and the thread.
pub(crate) fn spawn(
    writer: Writer,
    durability: Durability,
) -> io::Result<(Outbox, JoinHandle<()>)> {
    let (tx, rx) = bounded(QUEUE);
    let inbox = Inbox::new(rx, durability);
    let handle = std::thread::Builder::new()
        .name("receipt-ledger".into())
        .spawn(move || writer.run(inbox))?;
    let outbox = Outbox {
        tx,
        writer: handle.thread().clone(),
        polls: polls(durability),
    };
    Ok((outbox, handle))
}

/// The sending half, for instrumented threads.
pub(crate) struct Outbox {
    tx: Sender<Record>,
    writer: Thread,
    polls: bool,
}

impl Outbox {
    /// Queues `rec`, blocking while the queue is full; fails once the writer is gone.
    pub(crate) fn send(&self, rec: Record) -> Result<(), WriterGone> {
        let urgent = matches!(
            rec,
            Record::Sync { .. } | Record::Finalize { .. } | Record::Violation { .. }
        );
        self.tx.send(rec).map_err(|_| WriterGone)?;
        // A blocking writer was woken by the send itself.
        if self.polls && (urgent || self.tx.len() >= WAKE_AT) {
            self.writer.unpark();
        }
        Ok(())
    }
}

/// The writer has stopped: the run was finalized, or the writer thread ended.
#[derive(Debug)]
pub(crate) struct WriterGone;

/// The receiving half, owned by the writer thread.
pub(crate) struct Inbox {
    rx: Receiver<Record>,
    polls: bool,
    /// How long to sleep the next time the queue is found empty.
    sleep: Duration,
}

impl Inbox {
    /// The writer's end of `rx`, read as `durability` asks.
    pub(crate) fn new(rx: Receiver<Record>, durability: Durability) -> Self {
        Inbox {
            rx,
            polls: polls(durability),
            sleep: POLL_MIN,
        }
    }

    /// The next record, waiting for one; `None` once every sender is gone.
    pub(crate) fn next(&mut self) -> Option<Record> {
        if !self.polls {
            return self.rx.recv().ok();
        }
        loop {
            match self.rx.try_recv() {
                Ok(rec) => {
                    self.sleep = POLL_MIN;
                    return Some(rec);
                }
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {
                    std::thread::park_timeout(self.sleep);
                    self.sleep = (self.sleep * 2).min(POLL_MAX);
                }
            }
        }
    }

    /// A record already queued, without waiting.
    pub(crate) fn try_next(&self) -> Option<Record> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// A thread standing in for a polling writer: it sleeps in long parks and reports each
    /// time it is woken.
    fn sleeper() -> (Thread, mpsc::Receiver<()>) {
        let (woke, wakes) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            loop {
                let t = Instant::now();
                std::thread::park_timeout(Duration::from_secs(30));
                if t.elapsed() >= Duration::from_secs(30) || woke.send(()).is_err() {
                    return;
                }
            }
        });
        (handle.thread().clone(), wakes)
    }

    fn start() -> Record {
        Record::Start {
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_polling_writer_is_woken_only_when_a_send_must_be_answered_or_the_queue_fills() {
        let (writer, wakes) = sleeper();
        let (tx, rx) = bounded(QUEUE);
        let out = Outbox {
            tx,
            writer,
            polls: polls(Durability::OnFinalize),
        };
        let quiet = Duration::from_millis(200);
        let soon = Duration::from_secs(10);

        // Plain records: no wake.
        for _ in 0..10 {
            out.send(start()).expect("queued");
        }
        assert!(
            wakes.recv_timeout(quiet).is_err(),
            "a plain record woke the writer"
        );

        // A sync request is waited on: it wakes the writer.
        let (done, _reply) = crossbeam_channel::bounded(1);
        out.send(Record::Sync { done }).expect("queued");
        assert!(
            wakes.recv_timeout(soon).is_ok(),
            "a sync did not wake the writer"
        );
        assert!(wakes.recv_timeout(quiet).is_err(), "one send, one wake");

        // A queue a quarter full wakes it too.
        while out.tx.len() + 1 < WAKE_AT {
            out.send(start()).expect("queued");
        }
        assert!(wakes.recv_timeout(quiet).is_err(), "woken below the mark");
        out.send(start()).expect("queued");
        assert!(
            wakes.recv_timeout(soon).is_ok(),
            "a filling queue did not wake the writer"
        );
        drop(rx);
    }

    #[test]
    fn a_polling_inbox_finds_records_queued_without_a_wake_and_ends_with_its_senders() {
        let (tx, rx) = bounded(QUEUE);
        let mut inbox = Inbox::new(rx, Durability::Never);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(start()).expect("queued");
        });
        let t = Instant::now();
        assert!(matches!(inbox.next(), Some(Record::Start { .. })));
        // Found by polling, within the longest sleep (and scheduling slack).
        assert!(t.elapsed() < Duration::from_millis(50) + POLL_MAX * 10);
        sender.join().expect("sender");
        assert!(
            inbox.next().is_none(),
            "the inbox ends when every sender is gone"
        );
    }

    #[test]
    fn only_always_blocks_on_the_queue() {
        assert!(!polls(Durability::Always));
        for d in [
            Durability::Never,
            Durability::OnFinalize,
            Durability::EveryN(3),
        ] {
            assert!(polls(d), "{d:?}");
        }
    }
}
