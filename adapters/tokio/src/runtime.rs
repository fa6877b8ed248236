//! The [`Runtime`] of canopy-driver on tokio, and [`serve`], which runs
//! the engine on a tokio runtime of its own.

use bytes::{BufMut, BytesMut};
use canopy_driver::{Listener, Runtime, Setup, Stream, Timer};
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Sleep;

/// Runs the engine on a new tokio runtime until it shuts down.
///
/// One thread by default: the engine is single-threaded, so extra workers
/// only move socket reads to other cores at the price of a cross-thread
/// wakeup per message batch; on small machines one thread is faster in
/// every benchmark row (BENCHMARKS.md). `workers > 1` selects a
/// multi-threaded runtime with that many workers.
pub fn serve(workers: usize, setup: Setup) -> io::Result<()> {
    let runtime = if workers > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(canopy_driver::run(TokioRuntime, setup));
    Ok(())
}

/// The tokio runtime whose context the driver runs in.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioRuntime;

/// A tokio task that is aborted when the handle is dropped.
#[derive(Debug)]
pub struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connected tokio socket.
#[derive(Debug)]
pub struct TokioStream(TcpStream);

/// A listening tokio socket.
#[derive(Debug)]
pub struct TokioListener(TcpListener);

/// A tokio timer (boxed: `Sleep` is not `Unpin`).
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<Sleep>>);

impl Runtime for TokioRuntime {
    type Stream = TokioStream;
    type Listener = TokioListener;
    type Timer = TokioTimer;
    type Task = AbortOnDrop;

    fn spawn<F>(&self, future: F) -> AbortOnDrop
    where
        F: Future<Output = ()> + Send + 'static,
    {
        AbortOnDrop(tokio::spawn(future))
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }

    fn timer(at: std::time::Instant) -> TokioTimer {
        TokioTimer(Box::pin(tokio::time::sleep_until(at.into())))
    }

    fn listener(&self, listener: std::net::TcpListener) -> io::Result<TokioListener> {
        TcpListener::from_std(listener).map(TokioListener)
    }

    async fn connect(addr: String) -> io::Result<TokioStream> {
        TcpStream::connect(addr).await.map(TokioStream)
    }
}

impl Stream for TokioStream {
    fn try_read_into(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        self.0.try_read_buf(&mut buf.limit(max))
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_ready(cx)
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_write_ready(cx)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0.set_nodelay(nodelay)
    }
}

impl Listener for TokioListener {
    type Stream = TokioStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TokioStream, SocketAddr)>> {
        self.0
            .poll_accept(cx)
            .map_ok(|(stream, peer)| (TokioStream(stream), peer))
    }
}

impl Timer for TokioTimer {
    fn reset(self: Pin<&mut Self>, at: std::time::Instant) {
        self.get_mut().0.as_mut().reset(at.into());
    }

    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.as_mut().poll(cx)
    }
}
