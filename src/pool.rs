//! A fixed pool of worker threads, started up front, and the one place in
//! the crate where a panic is caught.
//!
//! The shape is the Rust Book's (chapter 21): a `ThreadPool` owns `Worker`s,
//! jobs travel over a channel, and dropping the pool closes the channel and
//! joins every thread. It goes further in four ways:
//!
//! - the channel is *bounded* (`sync_channel`), so a flood of work waits
//!   instead of growing memory without limit;
//! - a job may be a *loop* ([`ThreadPool::repeat`]): the worker runs it again
//!   and again until it says stop. The prethreaded server's accept -> serve
//!   cycle and the datagram server's recvfrom -> sendto cycle are such loops;
//! - a panic in one run of a job is caught here, and only here: the pool
//!   counts it, hands its message to the owner's hook (which traces it), and
//!   the worker goes on with the next run, so the pool never shrinks;
//! - threads are named and their stack size is chosen, and a failure to start
//!   one is an error, not a panic.
//!
//! What it does not do: it knows nothing of sockets. A job is any closure; it
//! receives the index of the worker running it (for traces).

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A job that runs once on some worker, which passes its own index.
pub type Job = Box<dyn FnOnce(usize) + Send + 'static>;

/// A job a worker runs again and again until it returns `false`.
pub type Loop = Box<dyn FnMut(usize) -> bool + Send + 'static>;

/// Called on the worker thread after a run of a job panicked, with the
/// worker's index and the panic message.
pub type PanicHook = Arc<dyn Fn(usize, &str) + Send + Sync + 'static>;

enum Work {
    Once(Job),
    Loop(Loop),
}

/// The pool is shutting down: the job was not queued.
#[derive(Debug)]
pub struct Closed;

/// N named threads taking jobs from one bounded queue.
pub struct ThreadPool {
    workers: Vec<Worker>,
    sender: Option<SyncSender<Work>>,
    panics: Arc<AtomicU64>,
}

struct Worker {
    id: usize,
    thread: Option<JoinHandle<()>>,
}

impl ThreadPool {
    /// Starts `size` threads named `{name}-{index}` with `stack_size` bytes of
    /// stack, sharing a queue of `queue` jobs (0 = rendezvous: `execute`
    /// returns only once a worker has taken the job). Panics are counted
    /// and otherwise silent; see [`ThreadPool::with_hook`].
    pub fn new(size: usize, queue: usize, name: &str, stack_size: usize) -> io::Result<Self> {
        Self::with_hook(size, queue, name, stack_size, Arc::new(|_, _| {}))
    }

    /// Like [`ThreadPool::new`], calling `hook` after every caught panic.
    ///
    /// Fails if `size` is 0 or the OS refuses a thread; threads already
    /// started are stopped and joined first.
    pub fn with_hook(
        size: usize,
        queue: usize,
        name: &str,
        stack_size: usize,
        hook: PanicHook,
    ) -> io::Result<Self> {
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a thread pool needs at least one worker",
            ));
        }
        let (sender, receiver) = mpsc::sync_channel::<Work>(queue);
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
            let hook = Arc::clone(&hook);
            let thread = thread::Builder::new()
                .name(format!("{name}-{id}"))
                .stack_size(stack_size)
                .spawn(move || worker_loop(id, &receiver, &panics, &*hook))?;
            // On error above, `pool` drops here: its Drop joins what started.
            pool.workers.push(Worker { id, thread: Some(thread) });
        }
        Ok(pool)
    }

    /// Queues a job, waiting while the queue is full.
    pub fn execute<F: FnOnce(usize) + Send + 'static>(&self, job: F) -> Result<(), Closed> {
        self.send(Work::Once(Box::new(job)))
    }

    /// Queues a job that the worker taking it runs until it returns
    /// `false`. A run that panics is reported and followed by the next run.
    pub fn repeat<F: FnMut(usize) -> bool + Send + 'static>(&self, job: F) -> Result<(), Closed> {
        self.send(Work::Loop(Box::new(job)))
    }

    fn send(&self, work: Work) -> Result<(), Closed> {
        match &self.sender {
            Some(tx) => tx.send(work).map_err(|_| Closed),
            None => Err(Closed),
        }
    }

    /// Number of workers (constant for the pool's life).
    pub fn size(&self) -> usize {
        self.workers.len()
    }

    /// Runs of jobs that panicked so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Closes the queue, lets every worker finish its job, joins them all,
    /// and returns how many runs panicked over the pool's life.
    pub fn join(mut self) -> u64 {
        self.shutdown();
        self.panics()
    }

    fn shutdown(&mut self) {
        drop(self.sender.take());
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                // A worker only ends by the queue closing; a join error would
                // mean the loop itself panicked, which `run` prevents.
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

fn worker_loop(
    id: usize,
    receiver: &Mutex<Receiver<Work>>,
    panics: &AtomicU64,
    hook: &dyn Fn(usize, &str),
) {
    loop {
        // The lock is held only while waiting for the next job; a poisoned
        // lock cannot happen (nothing panics while holding it) but is safe to
        // take anyway.
        let next = match receiver.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match next {
            Err(_) => return,
            Ok(Work::Once(job)) => {
                run(id, panics, hook, || job(id));
            }
            Ok(Work::Loop(mut job)) => while run(id, panics, hook, || job(id)).unwrap_or(true) {},
        }
    }
}

/// One run of a job under the crate's only `catch_unwind` for panics in
/// services, observers and the server's own code: `None` if it panicked.
fn run<R>(
    id: usize,
    panics: &AtomicU64,
    hook: &dyn Fn(usize, &str),
    f: impl FnOnce() -> R,
) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            panics.fetch_add(1, Ordering::Relaxed);
            // The hook reports through an observer, which is user code too:
            // a panic there is swallowed rather than allowed to end the worker.
            let message = panic_message(&*payload);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| hook(id, message)));
            None
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
    fn a_loop_survives_its_panics_and_reports_each() -> Result<(), Box<dyn std::error::Error>> {
        let (said, heard) = channel::<String>();
        let said = Mutex::new(said);
        let hook: PanicHook = Arc::new(move |worker, message: &str| {
            let _ = said.lock().map(|s| s.send(format!("{worker}:{message}")));
        });
        let pool = ThreadPool::with_hook(1, 0, "t", 64 * 1024, hook)?;
        let mut run = 0;
        pool.repeat(move |_| {
            run += 1;
            if run % 2 == 0 {
                panic!("run {run}");
            }
            run < 7
        })
        .map_err(|e| format!("{e:?}"))?;
        assert_eq!(pool.join(), 3);
        let heard: Vec<String> = heard.iter().collect();
        assert_eq!(heard, ["0:run 2", "0:run 4", "0:run 6"]);
        Ok(())
    }
}
