//! The few async pieces the peer needs, written for the page's one thread.
//!
//! The JS API returns promises, and joining, publishing and setting up a
//! DataChannel are easiest to write as `async` code. wasm-bindgen-futures and
//! futures-channel do this for any program (thread-safe wakers, a task queue
//! per future type, a general channel) and cost the bundle about 12 KB of
//! wasm; this module does what icn uses in a fraction of that:
//!
//! * [`spawn`] runs a future to completion on the microtask queue;
//! * [`promise`] runs one and settles a JS `Promise` with its result;
//! * [`wait`] awaits a JS `Promise`; [`sleep`] a timeout;
//! * [`channel`] hands values from callbacks to a waiting future.
//!
//! Tasks live in a table local to the thread; a waker is the index of its
//! task (so it is `Send` and `Sync` without any `unsafe`). Waking queues the
//! index and, if no drain is pending, schedules one as a microtask.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

type Boxed = Pin<Box<dyn Future<Output = ()>>>;

#[derive(Default)]
struct Exec {
    /// Task slots; `None` is free (or the task is being polled right now).
    tasks: Vec<Option<Boxed>>,
    /// Slots whose tasks finished, for reuse.
    free: Vec<usize>,
    /// Tasks to poll at the next drain.
    ready: VecDeque<usize>,
    /// Whether a drain is scheduled.
    scheduled: bool,
    /// The microtask callback, made once.
    drain: Option<Closure<dyn FnMut(JsValue)>>,
}

thread_local! {
    static EXEC: RefCell<Exec> = RefCell::new(Exec::default());
}

struct TaskWaker(usize);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        schedule(self.0);
    }
}

/// Queues task `id` and makes sure a drain is coming. (`then` only queues
/// the callback, so the table may stay borrowed meanwhile.)
fn schedule(id: usize) {
    EXEC.with(|e| {
        let mut e = e.borrow_mut();
        e.ready.push_back(id);
        if !e.scheduled {
            e.scheduled = true;
            let drain = e.drain.get_or_insert_with(|| Closure::new(|_| drain()));
            let _ = Promise::resolve(&JsValue::UNDEFINED).then(drain);
        }
    });
}

/// Polls every queued task once. A task is taken out of its slot while it is
/// polled, so it may spawn or wake others (or itself) meanwhile.
fn drain() {
    EXEC.with(|e| e.borrow_mut().scheduled = false);
    while let Some((id, task)) = EXEC.with(|e| {
        let mut e = e.borrow_mut();
        while let Some(id) = e.ready.pop_front() {
            if let Some(t) = e.tasks.get_mut(id).and_then(Option::take) {
                return Some((id, t));
            }
        }
        None
    }) {
        let mut task = task;
        let waker = Waker::from(Arc::new(TaskWaker(id)));
        let done = task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        EXEC.with(|e| {
            let mut e = e.borrow_mut();
            if done {
                e.free.push(id);
            } else {
                e.tasks[id] = Some(task);
            }
        });
    }
}

/// Runs `fut` to completion, starting at the next microtask.
pub(crate) fn spawn(fut: impl Future<Output = ()> + 'static) {
    spawn_boxed(Box::pin(fut));
}

/// The part of [`spawn`] that is the same for every future.
fn spawn_boxed(task: Boxed) {
    let id = EXEC.with(|e| {
        let mut e = e.borrow_mut();
        match e.free.pop() {
            Some(id) => {
                e.tasks[id] = Some(task);
                id
            }
            None => {
                e.tasks.push(Some(task));
                e.tasks.len() - 1
            }
        }
    });
    schedule(id);
}

/// A promise settled by `fut`: resolved with its value or rejected with its
/// error.
pub(crate) fn promise(fut: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let mut ends = None;
    let p = Promise::new(&mut |resolve, reject| ends = Some((resolve, reject)));
    if let Some((resolve, reject)) = ends {
        spawn(async move {
            let _ = match fut.await {
                Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
                Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
            };
        });
    }
    p
}

/// Awaits `p`: its value, or the reason it was rejected.
pub(crate) async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    let (ok, mut rx) = channel();
    let err = ok.clone();
    // Both callbacks live until the promise settles: this future is only
    // dropped when its task finishes, and it does not finish before.
    let on_ok = Closure::<dyn FnMut(JsValue)>::new(move |v| ok.send(Ok(v)));
    let on_err = Closure::<dyn FnMut(JsValue)>::new(move |e| err.send(Err(e)));
    let _ = p.then2(&on_ok, &on_err);
    let r = rx.recv().await;
    drop((on_ok, on_err));
    r
}

/// Resolves after `ms` milliseconds.
pub(crate) async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wait(p).await;
}

/// What the two ends of a [`channel`] share.
struct Queue<T> {
    items: VecDeque<T>,
    waker: Option<Waker>,
}

/// The sending end of a [`channel`].
pub(crate) struct Sender<T> {
    inner: Rc<RefCell<Queue<T>>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `value` and wakes the receiver.
    pub(crate) fn send(&self, value: T) {
        let waker = {
            let mut q = self.inner.borrow_mut();
            q.items.push_back(value);
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The receiving end of a [`channel`].
pub(crate) struct Receiver<T> {
    inner: Rc<RefCell<Queue<T>>>,
}

impl<T> Receiver<T> {
    /// The next value, waiting for one if none is queued.
    pub(crate) async fn recv(&mut self) -> T {
        std::future::poll_fn(|cx| {
            let mut q = self.inner.borrow_mut();
            match q.items.pop_front() {
                Some(v) => Poll::Ready(v),
                None => {
                    q.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The next value if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        self.inner.borrow_mut().items.pop_front()
    }
}

/// An unbounded single-consumer channel within the page.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Queue {
        items: VecDeque::new(),
        waker: None,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}
