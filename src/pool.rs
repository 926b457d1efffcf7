//! A fixed pool of worker threads, started up front, and the one place in
//! the crate where a panic is caught.
//!
//! The shape is the Rust Book's (chapter 21): a `ThreadPool` owns its
//! threads, jobs travel over a channel, and dropping the pool closes the
//! channel and joins every thread. It goes further in four ways:
//!
//! - the channel is *bounded* (`sync_channel`), so a flood of work waits
//!   instead of growing memory without limit;
//! - a job may be a *loop* ([`ThreadPool::repeat`]): the worker runs it again
//!   and again until it says stop. The prethreaded server's accept -> serve
//!   cycle and the datagram server's recvfrom -> sendto cycle are such loops;
//! - a panic in one run of a job is caught here, and only here: the pool
//!   hands its message to the owner's hook (which counts and traces it), and
//!   the worker goes on with the next run, so the pool never shrinks;
//! - threads are named and their stack size is chosen, and a failure to start
//!   one is an error, not a panic.
//!
//! What it does not do: it knows nothing of sockets. A job is any closure; it
//! receives the index of the worker running it (for traces).

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// Called on the worker thread after a run of a job panicked, with the
/// worker's index and the panic message.
pub type PanicHook = Arc<dyn Fn(usize, &str) + Send + Sync + 'static>;

/// A job a worker runs again and again until it returns `false`; a job
/// that runs once is one that returns `false` the first time.
type Loop = Box<dyn FnMut(usize) -> bool + Send + 'static>;

/// N named threads taking jobs from one bounded queue.
pub struct ThreadPool {
    threads: Vec<JoinHandle<()>>,
    sender: Option<SyncSender<Loop>>,
}

impl ThreadPool {
    /// Starts `size` threads named `{name}-{index}` with `stack_size` bytes of
    /// stack, sharing a queue of `queue` jobs (0 = rendezvous: `execute`
    /// returns only once a worker has taken the job). `hook` is called after
    /// every caught panic (the server counts and traces it there).
    ///
    /// Fails if `size` is 0 or the OS refuses a thread; threads already
    /// started are stopped and joined first.
    pub fn new(
        size: usize,
        queue: usize,
        name: &str,
        stack_size: usize,
        hook: PanicHook,
    ) -> io::Result<Self> {
        if size == 0 {
            let why = "a thread pool needs at least one worker";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let (sender, receiver) = mpsc::sync_channel::<Loop>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let mut pool = ThreadPool { threads: Vec::with_capacity(size), sender: Some(sender) };
        for id in 0..size {
            let (receiver, hook) = (Arc::clone(&receiver), Arc::clone(&hook));
            let thread = thread::Builder::new()
                .name(format!("{name}-{id}"))
                .stack_size(stack_size)
                .spawn(move || worker_loop(id, &receiver, &*hook))?;
            // On error above, `pool` drops here: its Drop joins what started.
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Queues a job, waiting while the queue is full. Fails only once the
    /// pool is shutting down.
    pub fn execute<F: FnOnce(usize) + Send + 'static>(&self, job: F) -> io::Result<()> {
        let mut job = Some(job);
        self.repeat(move |id| {
            if let Some(job) = job.take() {
                job(id);
            }
            false
        })
    }

    /// Queues a job that the worker taking it runs until it returns
    /// `false`. A run that panics is reported and followed by the next run.
    pub fn repeat<F: FnMut(usize) -> bool + Send + 'static>(&self, job: F) -> io::Result<()> {
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "the thread pool is stopping");
        let tx = self.sender.as_ref().ok_or_else(closed)?;
        tx.send(Box::new(job)).map_err(|_| closed())
    }

    /// Closes the queue, lets every worker finish its job and joins them all.
    pub fn join(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.sender.take());
        for (id, thread) in self.threads.drain(..).enumerate() {
            // A worker only ends by the queue closing; a join error would
            // mean the loop itself panicked, which `run` prevents.
            if thread.join().is_err() {
                eprintln!("sockref: worker {id} ended abnormally");
            }
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker_loop(id: usize, receiver: &Mutex<Receiver<Loop>>, hook: &dyn Fn(usize, &str)) {
    loop {
        // The lock is held only while waiting for the next job (a statement
        // of its own, so that the guard is dropped before the job runs); a
        // poisoned lock cannot happen (nothing panics while holding it) but
        // is safe to take.
        let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(mut job) = next else { return };
        while run(id, hook, || job(id)).unwrap_or(true) {}
    }
}

/// One run of a job under the crate's only `catch_unwind` for panics in
/// services, observers and the server's own code: `None` if it panicked.
fn run<R>(id: usize, hook: &dyn Fn(usize, &str), f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            // The hook reports through an observer, which is user code too:
            // a panic there is swallowed rather than allowed to end the worker.
            let message = panic_message(&*payload);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| hook(id, message)));
            None
        }
    }
}

/// The text of a panic payload, for traces and logs.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
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
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::channel;

    /// A hook that counts panics, and the count.
    fn counting() -> (PanicHook, Arc<AtomicU64>) {
        let panics = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&panics);
        let hook = move |_, _: &str| {
            seen.fetch_add(1, Ordering::Relaxed);
        };
        (Arc::new(hook), panics)
    }

    #[test]
    fn runs_every_job_and_survives_panics() -> Result<(), Box<dyn std::error::Error>> {
        let (hook, panics) = counting();
        let pool = ThreadPool::new(3, 8, "t", 64 * 1024, hook)?;
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
        assert_eq!(pool.threads.len(), 3);
        // Join first: a panicking job's sender is dropped while unwinding,
        // before the worker counts the panic.
        pool.join();
        assert_eq!(panics.load(Ordering::Relaxed), 3);
        let mut got: Vec<i32> = rx.iter().collect();
        got.sort();
        assert_eq!(got.len(), 27);
        Ok(())
    }

    #[test]
    fn zero_workers_is_an_error() {
        assert!(ThreadPool::new(0, 0, "t", 64 * 1024, counting().0).is_err());
    }

    #[test]
    fn a_loop_survives_its_panics_and_reports_each() -> Result<(), Box<dyn std::error::Error>> {
        let (said, heard) = channel::<String>();
        let said = Mutex::new(said);
        let hook: PanicHook = Arc::new(move |worker, message: &str| {
            let _ = said.lock().map(|s| s.send(format!("{worker}:{message}")));
        });
        let pool = ThreadPool::new(1, 0, "t", 64 * 1024, hook)?;
        let mut run = 0;
        pool.repeat(move |_| {
            run += 1;
            if run % 2 == 0 {
                panic!("run {run}");
            }
            run < 7
        })
        .map_err(|e| format!("{e:?}"))?;
        pool.join();
        let heard: Vec<String> = heard.iter().collect();
        assert_eq!(heard, ["0:run 2", "0:run 4", "0:run 6"]);
        Ok(())
    }
}
