//! The [`Runtime`] of canopy-driver on async-io (smol's reactor and
//! timers) and async-executor, and the entry points [`run`] and [`serve`].

use async_executor::{Executor, Task};
use async_io::Async;
use bytes::BytesMut;
use canopy_driver::{Listener, Runtime, Setup, Stream, Timer};
use futures_lite::ready;
use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Runs the engine until it shuts down, on an executor of its own that
/// this future drives: poll it from any executor on async-io's reactor
/// (`smol::block_on`, `async_io::block_on`, async-std's `block_on` or
/// `spawn`).
pub async fn run(setup: Setup) {
    run_on(Arc::new(Executor::new()), setup).await;
}

/// Runs the engine on this thread until it shuts down, like the tokio
/// adapter's `serve`: one thread by default, `workers > 1` adds threads
/// that run the connections' tasks too.
pub fn serve(workers: usize, setup: Setup) -> io::Result<()> {
    let executor = Arc::new(Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let helpers = (1..workers)
        .map(|i| {
            let (executor, stopped) = (executor.clone(), stopped.clone());
            std::thread::Builder::new()
                .name(format!("canopy-smol-{i}"))
                .spawn(move || async_io::block_on(executor.run(stopped.recv())))
        })
        .collect::<io::Result<Vec<_>>>()?;
    async_io::block_on(run_on(executor, setup));
    drop(stop);
    for helper in helpers {
        let _ = helper.join();
    }
    Ok(())
}

async fn run_on(executor: Arc<Executor<'static>>, setup: Setup) {
    let rt = SmolRuntime {
        executor: executor.clone(),
    };
    executor.run(canopy_driver::run(rt, setup)).await;
}

/// async-io sockets and timers, tasks on an async-executor.
#[derive(Clone, Debug)]
pub struct SmolRuntime {
    executor: Arc<Executor<'static>>,
}

/// A connected socket on async-io's reactor.
#[derive(Debug)]
pub struct SmolStream(Async<TcpStream>);

/// A listening socket on async-io's reactor.
#[derive(Debug)]
pub struct SmolListener(Async<TcpListener>);

/// An async-io timer.
#[derive(Debug)]
pub struct SmolTimer(async_io::Timer);

impl Runtime for SmolRuntime {
    type Stream = SmolStream;
    type Listener = SmolListener;
    type Timer = SmolTimer;
    type Task = Task<()>;

    fn spawn<F>(&self, future: F) -> Task<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.executor.spawn(future)
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.executor.spawn(future).detach();
    }

    fn timer(at: std::time::Instant) -> SmolTimer {
        SmolTimer(async_io::Timer::at(at))
    }

    fn listener(&self, listener: TcpListener) -> io::Result<SmolListener> {
        Async::new(listener).map(SmolListener)
    }

    async fn connect(addr: String) -> io::Result<SmolStream> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for peer in async_net::resolve(addr.as_str()).await? {
            match Async::<TcpStream>::connect(peer).await {
                Ok(stream) => return Ok(SmolStream(stream)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl Stream for SmolStream {
    fn try_read_into(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        // std reads only into initialised memory (and this crate forbids
        // unsafe code): zero the space first. It costs a memset of what
        // the read may fill, small next to the read itself.
        let start = buf.len();
        buf.resize(start + max, 0);
        let read = self.0.get_ref().read(&mut buf[start..]);
        buf.truncate(start + read.as_ref().map_or(0, |n| *n));
        read
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_readable(cx)
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.get_ref().write_vectored(bufs)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_writable(cx)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0.get_ref().set_nodelay(nodelay)
    }
}

impl Listener for SmolListener {
    type Stream = SmolStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(SmolStream, SocketAddr)>> {
        // Readiness first: the engine task polls every listener on every
        // wakeup, and an accept per poll would be a syscall each time.
        loop {
            ready!(self.0.poll_readable(cx))?;
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => {
                    return Poll::Ready(Async::new(stream).map(|s| (SmolStream(s), peer)))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Timer for SmolTimer {
    fn reset(self: Pin<&mut Self>, at: std::time::Instant) {
        self.get_mut().0.set_at(at);
    }

    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx).map(|_| ())
    }
}
