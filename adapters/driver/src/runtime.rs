//! The seam between the driver and an async runtime: what the driver
//! needs of sockets, timers and tasks, and nothing else.
//!
//! Modelled on quinn's `runtime` module. The socket traits are poll-style
//! and non-blocking (`try_*` returns [`io::ErrorKind::WouldBlock`], then
//! `poll_*_ready` registers the task), which is what both tokio's
//! `TcpStream` and async-io's `Async<TcpStream>` offer natively, so an
//! implementation is a line per method and the driver's hot path is
//! generic code with no boxing.

use bytes::BytesMut;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An async runtime the driver can run on: spawns tasks, makes timers and
/// registers sockets with its reactor.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP socket registered with this runtime.
    type Stream: Stream;
    /// A listening TCP socket registered with this runtime.
    type Listener: Listener<Stream = Self::Stream>;
    /// A timer of this runtime.
    type Timer: Timer;
    /// A running task; dropping the handle cancels the task (and drops
    /// what it owns, closing its sockets).
    type Task: Send + 'static;

    /// Starts `future`; it runs until it ends or the handle is dropped.
    fn spawn<F>(&self, future: F) -> Self::Task
    where
        F: Future<Output = ()> + Send + 'static;

    /// Starts `future` and lets it run to its end.
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// A timer that expires at `at`. Made inside the runtime (tokio's
    /// need its context), but without a handle to it: tasks hold no
    /// runtime, so none keeps an executor alive after the driver ended.
    fn timer(at: std::time::Instant) -> Self::Timer;

    /// Registers a bound, non-blocking listener with this runtime.
    fn listener(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Connects to `addr` (`host:port`, resolved if need be).
    fn connect(addr: String) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static;
}

/// A connected, non-blocking TCP socket, shared by the task that reads it
/// and the engine task that writes it.
pub trait Stream: Send + Sync + 'static {
    /// Reads at most `max` bytes, appending them to `buf`; `WouldBlock`
    /// when nothing is there, `Ok(0)` at the end of the stream.
    fn try_read_into(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize>;

    /// Ready when a read may succeed; registers the task otherwise. Only
    /// the task of the latest call is woken.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// One vectored write of what the socket takes now; `WouldBlock` when
    /// it takes nothing.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Ready when a write may succeed; registers the task otherwise. Only
    /// the task of the latest call is woken.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// The peer's address.
    fn peer_addr(&self) -> io::Result<SocketAddr>;

    /// Sets `TCP_NODELAY`.
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()>;
}

/// A listening socket.
pub trait Listener: Send + 'static {
    /// The sockets it accepts.
    type Stream;

    /// Ready with the next accepted socket; registers the task otherwise.
    /// An accept error is returned, not retried here: the engine task
    /// must get to its other inputs while accepts keep failing (out of
    /// file descriptors, say).
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;
}

/// A timer that can be moved to another deadline without allocating.
pub trait Timer: Send + 'static {
    /// Moves the deadline to `at` (a past instant expires at once).
    fn reset(self: Pin<&mut Self>, at: std::time::Instant);

    /// Ready once the deadline has passed; registers the task otherwise.
    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// Waits until `timer` expires.
pub(crate) async fn expired<T: Timer>(mut timer: Pin<&mut T>) {
    std::future::poll_fn(|cx| timer.as_mut().poll_expired(cx)).await;
}

/// Sleeps until `at` on runtime `R`.
pub(crate) async fn sleep_until<R: Runtime>(at: std::time::Instant) {
    let timer = std::pin::pin!(R::timer(at));
    expired(timer).await;
}
