//! A fixed pool of worker threads, started up front.
//!
//! The shape is the Rust Book's (chapter 20): a `ThreadPool` owns `Worker`s,
//! jobs travel over a channel, and dropping the pool closes the channel and
//! joins every thread. It goes further in three ways:
//!
//! - the channel is *bounded* (`sync_channel`), so a flood of work waits
//!   instead of growing memory without limit;
//! - a job that panics is caught, counted, and the worker takes the next job,
//!   so the pool never shrinks;
//! - threads are named and their stack size is chosen, and a failure to start
//!   one is an error, not a panic.
//!
//! What it does not do: it knows nothing of sockets. A job is any closure; it
//! receives the index of the worker running it (for traces).

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A unit of work: runs once on some worker, which passes its own index.
pub type Job = Box<dyn FnOnce(usize) + Send + 'static>;

/// Why a job was not queued. The job is handed back so the caller can deal
/// with what it owned (e.g. refuse the connection it carried).
pub enum SubmitError {
    /// Every worker is busy and the queue is full (only from `try_execute`).
    Full(Job),
    /// The pool is shutting down.
    Closed(Job),
}

impl std::fmt::Debug for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SubmitError::Full(_) => "Full",
            SubmitError::Closed(_) => "Closed",
        })
    }
}

/// N named threads taking jobs from one bounded queue.
pub struct ThreadPool {
    workers: Vec<Worker>,
    sender: Option<SyncSender<Job>>,
    panics: Arc<AtomicU64>,
}

struct Worker {
    id: usize,
    thread: Option<JoinHandle<()>>,
}

impl ThreadPool {
    /// Starts `size` threads named `{name}-{index}` with `stack_size` bytes of
    /// stack, sharing a queue of `queue` jobs (0 = rendezvous: `execute`
    /// returns only once a worker has taken the job).
    ///
    /// Fails if `size` is 0 or the OS refuses a thread; threads already
    /// started are stopped and joined first.
    pub fn new(size: usize, queue: usize, name: &str, stack_size: usize) -> io::Result<Self> {
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a thread pool needs at least one worker",
            ));
        }
        let (sender, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let panics = Arc::new(AtomicU64::new(0));
        let mut pool = ThreadPool {
            workers: Vec::with_capacity(size),
            sender: Some(sender),
            panics: Arc::clone(&panics),
        };
        for id in 0..size {
            let receiver = Arc::clone(&receiver);
            let panics = Arc::clone(&panics);
            let thread = thread::Builder::new()
                .name(format!("{name}-{id}"))
                .stack_size(stack_size)
                .spawn(move || worker_loop(id, &receiver, &panics))?;
            // On error above, `pool` drops here: its Drop joins what started.
            pool.workers.push(Worker {
                id,
                thread: Some(thread),
            });
        }
        Ok(pool)
    }

    /// Queues a job, waiting while the queue is full.
    pub fn execute<F: FnOnce(usize) + Send + 'static>(&self, job: F) -> Result<(), SubmitError> {
        let job: Job = Box::new(job);
        match &self.sender {
            Some(tx) => tx.send(job).map_err(|e| SubmitError::Closed(e.0)),
            None => Err(SubmitError::Closed(job)),
        }
    }

    /// Queues a job only if a worker (or a queue slot) is free right now.
    ///
    /// With a rendezvous queue (size 0), "free" means *waiting on the queue
    /// at this instant*: a worker that has just finished a job, or is still
    /// taking its turn at the queue after another worker took one, counts as
    /// busy. To know whether any worker is idle, count busy ones yourself
    /// (as the TCP acceptor does for `--overload reject`).
    pub fn try_execute<F: FnOnce(usize) + Send + 'static>(
        &self,
        job: F,
    ) -> Result<(), SubmitError> {
        let job: Job = Box::new(job);
        match &self.sender {
            Some(tx) => tx.try_send(job).map_err(|e| match e {
                TrySendError::Full(j) => SubmitError::Full(j),
                TrySendError::Disconnected(j) => SubmitError::Closed(j),
            }),
            None => Err(SubmitError::Closed(job)),
        }
    }

    /// Number of workers (constant for the pool's life).
    pub fn size(&self) -> usize {
        self.workers.len()
    }

    /// Jobs that panicked so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Closes the queue, lets every worker finish its job, joins them all,
    /// and returns how many jobs panicked over the pool's life.
    pub fn join(mut self) -> u64 {
        self.shutdown();
        self.panics()
    }

    fn shutdown(&mut self) {
        drop(self.sender.take());
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                // A worker only ends by the queue closing; a join error would
                // mean the loop itself panicked, which catch_unwind prevents.
                if thread.join().is_err() {
                    eprintln!("sockref: worker {} ended abnormally", worker.id);
                }
            }
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker_loop(id: usize, receiver: &Mutex<Receiver<Job>>, panics: &AtomicU64) {
    loop {
        // The lock is held only while waiting for the next job; a poisoned
        // lock cannot happen (nothing panics while holding it) but is safe to
        // take anyway.
        let next = match receiver.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else { return };
        if panic::catch_unwind(AssertUnwindSafe(|| job(id))).is_err() {
            panics.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The text of a panic payload, for traces and logs.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn runs_every_job_and_survives_panics() -> Result<(), Box<dyn std::error::Error>> {
        let pool = ThreadPool::new(3, 8, "t", 64 * 1024)?;
        let (tx, rx) = channel();
        for i in 0..30 {
            let tx = tx.clone();
            pool.execute(move |_| {
                if i % 10 == 0 {
                    panic!("job {i}");
                }
                // The receiver outlives every job; a failed send would show
                // up as a missing number below.
                let _ = tx.send(i);
            })
            .map_err(|e| format!("{e:?}"))?;
        }
        drop(tx);
        assert_eq!(pool.size(), 3);
        // Join first: a panicking job's sender is dropped while unwinding,
        // before the worker counts the panic.
        assert_eq!(pool.join(), 3);
        let mut got: Vec<i32> = rx.iter().collect();
        got.sort();
        assert_eq!(got.len(), 27);
        Ok(())
    }

    #[test]
    fn zero_workers_is_an_error() {
        assert!(ThreadPool::new(0, 0, "t", 64 * 1024).is_err());
    }

    #[test]
    fn try_execute_reports_full() -> Result<(), Box<dyn std::error::Error>> {
        let pool = ThreadPool::new(1, 0, "t", 64 * 1024)?;
        let (hold_tx, hold_rx) = channel::<()>();
        let (started_tx, started_rx) = channel::<()>();
        pool.execute(move |_| {
            let _ = started_tx.send(());
            let _ = hold_rx.recv();
        })
        .map_err(|e| format!("{e:?}"))?;
        started_rx.recv()?;
        assert!(matches!(
            pool.try_execute(|_| {}),
            Err(SubmitError::Full(_))
        ));
        drop(hold_tx);
        pool.join();
        Ok(())
    }
}
