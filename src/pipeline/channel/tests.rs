//! The channel: batching, the byte budget, and loss reports.

use super::*;
use crate::record::Record;

fn lost(n: u64) -> Record {
    Record::Lost(LostRecord {
        timestamp: Timestamp(0),
        count: n,
        reason: LostReason::RingbufFull,
    })
}

fn counts(batch: &[Record]) -> Vec<(u64, LostReason)> {
    batch
        .iter()
        .map(|r| match r {
            Record::Lost(l) => (l.count, l.reason),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn records_travel_in_batches() {
    let (mut tx, rx) = channel();
    tx.send(lost(1));
    tx.send(lost(2));
    assert!(
        rx.rx.try_recv().is_err(),
        "nothing is handed over before a flush"
    );
    tx.flush();
    let b = rx.rx.try_recv().unwrap();
    assert_eq!(
        counts(&b),
        [(1, LostReason::RingbufFull), (2, LostReason::RingbufFull)]
    );
    for _ in 0..BATCH_RECORDS {
        tx.send(lost(3));
    }
    assert_eq!(
        rx.rx.try_recv().unwrap().len(),
        BATCH_RECORDS,
        "a full batch goes at once"
    );
}

#[test]
fn full_queue_drops_are_counted_and_reported_first() {
    let (mut tx, rx) = channel();
    for _ in 0..QUEUE_BATCHES {
        tx.send(lost(7));
        tx.flush();
    }
    // The queue is full: these batches cannot be handed over.
    tx.send(lost(8));
    tx.send(lost(9));
    tx.flush();
    tx.send(lost(10));
    tx.flush();
    assert_eq!(
        tx.pending[..2],
        [8 + 9 + 10, 0],
        "loss reports keep their counts"
    );
    // The writer catches up: the loss report goes out before the next record.
    let b = rx.rx.recv().unwrap();
    rx.done(b.iter().map(Record::weight).sum());
    tx.send(lost(999));
    tx.flush();
    assert_eq!(tx.pending, [0; LostReason::ALL.len()]);
    let last = rx.rx.try_iter().last().unwrap();
    assert_eq!(
        counts(&last),
        [
            (27, LostReason::RingbufFull),
            (999, LostReason::RingbufFull)
        ]
    );
}

#[test]
fn send_wait_waits_for_the_writer_instead_of_dropping() {
    let (mut tx, rx) = channel();
    let n = 3 * QUEUE_BYTES / lost(0).weight();
    let writer = std::thread::spawn(move || {
        let mut got = 0u64;
        while let Ok(b) = rx.rx.recv() {
            rx.done(b.iter().map(Record::weight).sum());
            got += b.len() as u64;
        }
        got
    });
    for _ in 0..n {
        tx.send_wait(lost(1));
    }
    assert_eq!(tx.pending, [0; LostReason::ALL.len()], "nothing dropped");
    assert_eq!(
        tx.finish(),
        [0; LostReason::ALL.len()],
        "everything handed over"
    );
    assert_eq!(writer.join().unwrap(), n as u64);
}

#[test]
fn byte_budget_bounds_what_is_in_flight() {
    let (mut tx, _rx) = channel();
    let n = QUEUE_BYTES / lost(0).weight() + 10;
    for _ in 0..n {
        tx.send(lost(1));
    }
    assert!(
        tx.pending[slot(LostReason::ConsumerSlow)] >= 10,
        "{:?}",
        tx.pending
    );
    assert!(tx.in_flight.load(Ordering::Relaxed) + tx.batch_weight <= QUEUE_BYTES);
    // Dropping more does not grow the batch: the count just goes up.
    let len = tx.batch.len();
    for _ in 0..1000 {
        tx.send(lost(1));
    }
    assert_eq!(tx.batch.len(), len);
    assert!(tx.in_flight.load(Ordering::Relaxed) <= QUEUE_BYTES);
}
