//! The generic run loop of `canopy_core::Server` on tokio.
//!
//! One engine task owns the [`Server`]. Each connection has a reader task
//! that forwards bytes to the engine over a bounded channel (so a flood of
//! input back-pressures the sockets, not memory). Writes happen in the
//! engine task itself: after every batch of inputs it takes each flushed
//! connection's queued chunks and writes them with one non-blocking
//! vectored write; only when the socket is full does a small task wait for
//! it to become writable. A message thus crosses one task boundary between
//! publisher and subscriber.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use canopy_core::monitor::HostStats;
use canopy_core::{Action, ConnId, Event, Instant, ListenerKind, Options, Server};
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// Inputs gathered from sockets for the engine task.
enum Input {
    Read(ConnId, Bytes),
    Writable(ConnId),
    Closed(ConnId),
    /// A route dial finished.
    Dialed(ConnId, io::Result<TcpStream>),
}

/// The engine task's view of one connection.
struct Conn {
    stream: Arc<TcpStream>,
    reader: JoinHandle<()>,
    /// The task waiting for the socket to drain, when a write blocked.
    waiter: Option<JoinHandle<()>>,
    pause_until: Arc<AtomicU64>,
    /// Reads the reader may have handed over and the engine not yet
    /// handled: per-connection back-pressure, so a paused producer stops
    /// within a read or two.
    credits: Arc<Semaphore>,
    /// Chunks taken from the engine and not yet written.
    pending: VecDeque<Bytes>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(w) = self.waiter.take() {
            w.abort();
        }
    }
}

/// Most inputs handled per wakeup before actions are drained.
const MAX_INPUTS_PER_WAKEUP: usize = 256;
/// Smallest read buffer: most connections are quiet.
const READ_MIN: usize = 512;
/// Largest read buffer: a fast producer's reads grow to this, which halves
/// the syscalls per byte against 64 KiB (1 KiB row of BENCHMARKS.md).
const READ_MAX: usize = 256 * 1024;
/// Reads of one connection queued for the engine at most.
const READS_IN_FLIGHT: usize = 2;
/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// How long a connection closed with a flush may take to drain.
const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The driver's state besides the engine.
struct Driver {
    conns: HashMap<ConnId, Conn>,
    tx: mpsc::Sender<Input>,
    clock: Clock,
    scratch: Vec<Bytes>,
}

/// Converts real time into engine time from a fixed epoch.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: std::time::Instant,
}

impl Clock {
    /// Captures the epoch now.
    pub fn start() -> Self {
        Clock {
            epoch: std::time::Instant::now(),
        }
    }

    /// The current engine instant.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The real instant of an engine instant.
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        self.epoch + std::time::Duration::from_nanos(at.as_nanos())
    }
}

/// Binds the client listener; returns it and the port really bound.
pub async fn bind(options: &Options, port: i32) -> std::io::Result<(TcpListener, u16)> {
    let port = if port < 0 { 0 } else { port as u16 };
    let listener = TcpListener::bind((options.host.as_str(), port)).await?;
    let bound = listener.local_addr()?.port();
    Ok((listener, bound))
}

/// What the process asks of the running server (from signals).
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Close every connection and return (SIGINT, SIGTERM).
    Shutdown,
    /// Stop accepting clients and evict them slowly (SIGUSR2).
    LameDuck,
    /// Apply re-read options (SIGHUP), or log why they could not be read.
    Reload(Box<Result<Reload, String>>),
}

/// Options re-read for a reload.
#[derive(Clone, Debug, PartialEq)]
pub struct Reload {
    /// The new options.
    pub options: Options,
    /// The client port was given as `-1` (random): keep the bound one.
    pub random_port: bool,
    /// Text after `Reloaded server configuration` (the digest), if any.
    pub suffix: String,
}

/// Runs the engine until a [`Control::Shutdown`] arrives (or lame duck
/// mode ends), then closes every connection.
pub async fn run(
    options: Options,
    listener: TcpListener,
    monitor: Option<TcpListener>,
    routes: Option<TcpListener>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut listener = Some(listener);
    let clock = Clock::start();
    let mut seed = [0u8; 32];
    if getrandom::getrandom(&mut seed).is_err() {
        tracing::warn!("OS randomness unavailable; using a time-derived seed");
        seed[..16].copy_from_slice(&clock.now().as_nanos().to_le_bytes().repeat(2));
    }
    let mut server = Server::new(options, seed, clock.now());
    server.handle_wall_clock(unix_nanos(), clock.now());
    let mut host = HostSampler::default();
    let (tx, mut rx) = mpsc::channel::<Input>(1024);
    let mut d = Driver {
        conns: HashMap::new(),
        tx,
        clock,
        scratch: Vec::new(),
    };
    loop {
        let deadline = server.poll_timeout().map(|(at, _)| clock.to_std(at));
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ctl = control.recv() => match ctl {
                Some(Control::LameDuck) => {
                    // Stop accepting first: closing the listener refuses
                    // new clients at the socket, as nats-server does.
                    listener = None;
                    server.enter_lame_duck(clock.now());
                }
                Some(Control::Reload(reload)) => reload_options(&mut server, *reload, clock.now()),
                Some(Control::Shutdown) | None => break,
            },
            accepted = accept_optional(listener.as_ref()) => {
                if let Ok((stream, peer)) = accepted {
                    d.accept(&mut server, stream, peer, ListenerKind::Client);
                }
            }
            accepted = accept_optional(routes.as_ref()) => {
                if let Ok((stream, peer)) = accepted {
                    d.accept(&mut server, stream, peer, ListenerKind::Route);
                }
            }
            accepted = accept_optional(monitor.as_ref()) => {
                if let Ok((stream, peer)) = accepted {
                    server.handle_wall_clock(unix_nanos(), clock.now());
                    server.set_host_stats(host.sample());
                    d.accept(&mut server, stream, peer, ListenerKind::Monitor);
                }
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                // Flush after every input, as nats-server flushes after
                // every read: what one read produced reaches the sockets
                // before the next read adds more, which keeps pending bytes
                // (and slow-consumer verdicts) to what a socket refused.
                d.handle(&mut server, input);
                for _ in 0..MAX_INPUTS_PER_WAKEUP {
                    d.drain(&mut server);
                    match rx.try_recv() {
                        Ok(input) => d.handle(&mut server, input),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep => server.handle_timeout(clock.now()),
        }
        if d.drain(&mut server) {
            break;
        }
    }
    tracing::info!("Initiating Shutdown...");
    server.shutdown(clock.now());
    d.drain(&mut server);
}

impl Driver {
    fn accept(
        &mut self,
        server: &mut Server,
        stream: TcpStream,
        peer: SocketAddr,
        kind: ListenerKind,
    ) {
        let _ = stream.set_nodelay(true);
        let id = server.handle_accept(kind, peer, self.clock.now());
        self.attach(id, stream, server.read_cap(id));
    }

    /// Starts reading a connection the engine knows as `id`, at most
    /// `read_max` bytes a read.
    fn attach(&mut self, id: ConnId, stream: TcpStream, read_max: usize) {
        let clock = self.clock;
        let stream = Arc::new(stream);
        let pause_until = Arc::new(AtomicU64::new(0));
        let credits = Arc::new(Semaphore::new(READS_IN_FLIGHT));
        let reader = tokio::spawn(read_loop(
            id,
            stream.clone(),
            pause_until.clone(),
            credits.clone(),
            self.tx.clone(),
            clock,
            read_max.min(READ_MAX),
        ));
        self.conns.insert(
            id,
            Conn {
                stream,
                reader,
                waiter: None,
                pause_until,
                credits,
                pending: VecDeque::new(),
            },
        );
    }

    fn handle(&mut self, server: &mut Server, input: Input) {
        let now = self.clock.now();
        match input {
            Input::Read(id, data) => {
                server.handle_read(id, data, now);
                if let Some(c) = self.conns.get(&id) {
                    c.credits.add_permits(1);
                }
            }
            Input::Writable(id) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.waiter = None;
                    self.write(server, id);
                }
            }
            Input::Closed(id) => {
                if self.conns.remove(&id).is_some() {
                    server.handle_closed(id, now);
                }
            }
            Input::Dialed(id, Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                match stream.peer_addr() {
                    Ok(peer) => {
                        if server.handle_dialed(id, peer, now) {
                            self.attach(id, stream, server.read_cap(id));
                        }
                    }
                    Err(_) => server.handle_dial_failed(id, now),
                }
            }
            Input::Dialed(id, Err(e)) => {
                tracing::debug!("dial failed: {e}");
                server.handle_dial_failed(id, now);
            }
        }
    }

    /// Carries out the engine's actions; whether it asked for shutdown.
    fn drain(&mut self, server: &mut Server) -> bool {
        let mut stop = false;
        while let Some(action) = server.poll_action() {
            match action {
                Action::Flush(id) => {
                    if self.take(server, id) {
                        self.write(server, id);
                    }
                }
                Action::Close { conn, after_flush } => {
                    if after_flush {
                        self.take(server, conn);
                    }
                    if let Some(mut c) = self.conns.remove(&conn) {
                        if after_flush && !c.pending.is_empty() {
                            let pending = std::mem::take(&mut c.pending);
                            let stream = c.stream.clone();
                            tokio::spawn(finish_writes(stream, pending));
                        }
                    }
                    server.handle_closed(conn, self.clock.now());
                }
                Action::PauseReading { conn, until } => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.pause_until.store(until.as_nanos(), Ordering::Relaxed);
                    }
                }
                Action::ResumeReading { conn } => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.pause_until.store(0, Ordering::Relaxed);
                    }
                }
                Action::Dial {
                    conn,
                    kind,
                    addr,
                    timeout,
                } => {
                    let tx = self.tx.clone();
                    tracing::trace!("dialing {} {addr}", kind.name());
                    tokio::spawn(async move {
                        let result = match tokio::time::timeout(timeout, TcpStream::connect(&addr))
                            .await
                        {
                            Ok(r) => r,
                            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")),
                        };
                        let _ = tx.send(Input::Dialed(conn, result)).await;
                    });
                }
            }
        }
        while let Some(event) = server.poll_event() {
            match event {
                Event::ClientConnected { .. } => {}
                Event::ConnectionClosed { conn, reason } => {
                    tracing::trace!("{conn} closed: {reason}");
                }
                Event::SlowConsumerDetected { conn } => {
                    tracing::trace!("{conn} slow consumer");
                }
                Event::ShutdownRequested => stop = true,
            }
        }
        stop
    }

    /// Moves `id`'s queued bytes from the engine to the connection's
    /// pending chunks; whether there is anything to write now.
    fn take(&mut self, server: &mut Server, id: ConnId) -> bool {
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        if server.take_outbound(id, &mut self.scratch, self.clock.now()) > 0 {
            c.pending.extend(self.scratch.drain(..));
        }
        c.waiter.is_none() && !c.pending.is_empty()
    }

    /// Writes as much of `id`'s pending chunks as the socket takes now;
    /// if it fills up, starts a task that reports when it drains.
    fn write(&mut self, server: &mut Server, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let mut written = 0;
        let mut failed = false;
        while !c.pending.is_empty() {
            match write_some(&c.stream, &mut c.pending) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let stream = c.stream.clone();
                    let tx = self.tx.clone();
                    c.waiter = Some(tokio::spawn(async move {
                        let _ = stream.writable().await;
                        let _ = tx.send(Input::Writable(id)).await;
                    }));
                    break;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let now = self.clock.now();
        if written > 0 {
            server.handle_written(id, written, now);
        }
        if failed {
            self.conns.remove(&id);
            server.handle_closed(id, now);
        }
    }
}

/// One non-blocking vectored write of the front of `pending`; drops what
/// was written and returns its length.
fn write_some(stream: &TcpStream, pending: &mut VecDeque<Bytes>) -> io::Result<usize> {
    let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
    let mut n_iov = 0;
    for chunk in pending.iter().take(MAX_IOVECS) {
        iov[n_iov] = IoSlice::new(chunk);
        n_iov += 1;
    }
    let n = stream.try_write_vectored(&iov[..n_iov])?;
    if n == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    let mut left = n;
    while left > 0 {
        let Some(front) = pending.front_mut() else {
            break;
        };
        if front.len() <= left {
            left -= front.len();
            pending.pop_front();
        } else {
            front.advance(left);
            left = 0;
        }
    }
    Ok(n)
}

/// Writes what a closing connection still owes its peer, within a limit;
/// dropping the stream afterwards closes the socket.
async fn finish_writes(stream: Arc<TcpStream>, mut pending: VecDeque<Bytes>) {
    let _ = tokio::time::timeout(CLOSE_FLUSH_LIMIT, async {
        while !pending.is_empty() {
            match write_some(&stream, &mut pending) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if stream.writable().await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    })
    .await;
}

/// Reads from the socket and forwards each read to the engine, honouring
/// the engine's pause requests.
async fn read_loop(
    id: ConnId,
    stream: Arc<TcpStream>,
    pause: Arc<AtomicU64>,
    credits: Arc<Semaphore>,
    tx: mpsc::Sender<Input>,
    clock: Clock,
    read_max: usize,
) {
    // Doubles while reads fill it, halves while they use little of it.
    let mut size = READ_MIN * 8;
    let mut buf = BytesMut::with_capacity(size);
    loop {
        match credits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        let until = pause.load(Ordering::Relaxed);
        if until > clock.now().as_nanos() {
            tokio::time::sleep_until(clock.to_std(Instant::from_nanos(until)).into()).await;
        }
        if buf.capacity() - buf.len() < size {
            buf.reserve(size);
        }
        let spare = (buf.capacity() - buf.len()).min(read_max);
        if stream.readable().await.is_err() {
            let _ = tx.send(Input::Closed(id)).await;
            return;
        }
        let mut limited = (&mut buf).limit(spare);
        match stream.try_read_buf(&mut limited) {
            Ok(0) => {
                let _ = tx.send(Input::Closed(id)).await;
                return;
            }
            Ok(n) => {
                if n >= spare {
                    size = (size * 2).min(read_max);
                } else if n < size / 8 {
                    size = (size / 2).max(READ_MIN);
                }
                if tx
                    .send(Input::Read(id, buf.split().freeze()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => credits.add_permits(1),
            Err(_) => {
                let _ = tx.send(Input::Closed(id)).await;
                return;
            }
        }
    }
}

/// Accepts on the listener if there is one; never resolves otherwise.
async fn accept_optional(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Wall-clock nanoseconds since the Unix epoch.
fn unix_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Reads this process's memory and CPU use from `/proc` for `/varz`.
#[derive(Default)]
struct HostSampler {
    last: Option<(std::time::Instant, f64)>,
}

impl HostSampler {
    fn sample(&mut self) -> HostStats {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let page = 4096u64;
        let mem = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map_or(0, |pages| pages * page);
        // utime + stime, in clock ticks (100 per second on Linux).
        let cpu_secs = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
                let utime: f64 = after.get(11)?.parse().ok()?;
                let stime: f64 = after.get(12)?.parse().ok()?;
                Some((utime + stime) / 100.0)
            })
            .unwrap_or(0.0);
        let now = std::time::Instant::now();
        let cpu = match self.last {
            Some((at, used)) if now > at => {
                let wall = now.duration_since(at).as_secs_f64();
                ((cpu_secs - used) / wall * 100.0).max(0.0)
            }
            _ => 0.0,
        };
        self.last = Some((now, cpu_secs));
        HostStats {
            mem,
            cpu: (cpu * 100.0).round() / 100.0,
            cores,
        }
    }
}

/// Applies a reload, logging as nats-server does.
fn reload_options(server: &mut Server, reload: Result<Reload, String>, now: Instant) {
    let reload = match reload {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("Failed to reload server configuration: {e}");
            return;
        }
    };
    let current = server.options().clone();
    let mut options = reload.options;
    if reload.random_port {
        options.port = current.port;
    }
    // The monitoring listener is not re-bound on reload.
    options.http_host = current.http_host;
    options.http_port = current.http_port;
    match server.reload(options, now) {
        Ok(lines) => {
            for line in lines {
                tracing::info!("{line}");
            }
            tracing::info!("Reloaded server configuration{}", reload.suffix);
        }
        Err(e) => tracing::error!("Failed to reload server configuration: {e}"),
    }
}
