//! The run loop of `canopy_core::Server` on any [`Runtime`].
//!
//! One engine task owns the [`Server`]. Each connection has a reader task
//! that forwards bytes to the engine over a bounded channel (so a flood of
//! input back-pressures the sockets, not memory). Writes happen in the
//! engine task itself: after every input it takes each flushed
//! connection's queued chunks and writes them with one non-blocking
//! vectored write; only when the socket is full does a small task wait for
//! it to become writable. A message thus crosses one task boundary between
//! publisher and subscriber.

use crate::control::{reload_options, Control};
use crate::host::{self, Clock, HostSampler};
use crate::runtime::{self, Listener, Runtime, Stream, Timer};
use async_channel::{Receiver, Sender};
use bytes::{Buf, Bytes, BytesMut};
use canopy_core::{Action, ConnId, Event, Instant, ListenerKind, Options, Server};
use futures_lite::Stream as _;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

/// Most inputs handled per wakeup before the loop looks at timers,
/// listeners and controls again.
const MAX_INPUTS_PER_WAKEUP: usize = 256;
/// Inputs queued for the engine task at most (then readers wait).
const INPUT_QUEUE: usize = 1024;
/// Smallest read buffer: most connections are quiet.
const READ_MIN: usize = 512;
/// A connection's first read buffer.
const READ_START: usize = 4096;
/// Largest read buffer: a fast producer's reads grow to this, which halves
/// the syscalls per byte against 64 KiB (1 KiB row of BENCHMARKS.md). The
/// engine's [`Server::read_cap`] may lower it.
const READ_MAX: usize = 256 * 1024;
/// Reads of one connection queued for the engine at most.
const READS_IN_FLIGHT: usize = 2;
/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// How long a connection closed with a flush may take to drain.
const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(5);
/// The pause after a failed accept (out of file descriptors, say),
/// doubling while accepts keep failing, as nats-server's
/// `ACCEPT_MIN_SLEEP` and `ACCEPT_MAX_SLEEP`: a listener that stays
/// readable must not spin a core.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// Everything a server runs with besides its runtime.
#[derive(Debug)]
pub struct Setup {
    /// The engine's options (with the ports really bound).
    pub options: Options,
    /// Bound, non-blocking sockets ([`crate::bind`]) with the kind of
    /// connection each accepts; [`Control::LameDuck`] closes the client
    /// ones.
    pub listeners: Vec<(ListenerKind, std::net::TcpListener)>,
    /// What the process asks of the server (from signals); the server
    /// shuts down when every sender is gone.
    pub control: Receiver<Control>,
}

/// Runs the engine until a [`Control::Shutdown`] arrives (or lame duck
/// mode ends), then closes every connection. Poll the returned future on
/// `rt`'s executor.
pub async fn run<R: Runtime>(rt: R, setup: Setup) {
    let Setup {
        options,
        listeners,
        control,
    } = setup;
    let clock = Clock::start();
    let mut server = Server::new(options, host::seed(&clock), clock.now());
    server.handle_wall_clock(host::unix_nanos(), clock.now());
    server.handle_host_addresses(&host::interface_addresses());
    let mut listeners: Vec<Accepting<R>> = listeners
        .into_iter()
        .filter_map(|(kind, l)| match rt.listener(l) {
            Ok(listener) => Some(Accepting {
                kind,
                listener,
                pause: ACCEPT_PAUSE_MIN,
                paused: None,
            }),
            Err(e) => {
                tracing::error!("cannot register the {kind:?} listener: {e}");
                None
            }
        })
        .collect();
    let (tx, rx) = async_channel::bounded(INPUT_QUEUE);
    let mut timer = Box::pin(R::timer(std::time::Instant::now()));
    let mut d = Driver {
        rt,
        conns: HashMap::new(),
        tx,
        clock,
        scratch: Vec::new(),
        host: HostSampler::default(),
    };
    let mut control = pin!(control);
    let mut rx = pin!(rx);
    // The deadline the timer is set to; `None` once it fired.
    let mut armed: Option<Instant> = None;
    loop {
        match server.poll_timeout() {
            Some((at, _)) if armed != Some(at) => {
                timer.as_mut().reset(clock.to_std(at));
                armed = Some(at);
            }
            Some(_) => {}
            None => armed = None,
        }
        // Controls first, then the deadline (so a flood of input cannot
        // starve it), then listeners, then input.
        let wake = poll_fn(|cx| {
            if let Poll::Ready(ctl) = control.as_mut().poll_next(cx) {
                return Poll::Ready(Wake::Control(ctl));
            }
            if armed.is_some() && timer.as_mut().poll_expired(cx).is_ready() {
                return Poll::Ready(Wake::Timeout);
            }
            for (i, listener) in listeners.iter_mut().enumerate() {
                if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                    return Poll::Ready(Wake::Accepted(i, accepted));
                }
            }
            rx.as_mut().poll_next(cx).map(Wake::Input)
        })
        .await;
        match wake {
            Wake::Control(Some(Control::LameDuck)) => {
                // Stop accepting first: closing the listener refuses new
                // clients at the socket, as nats-server does.
                listeners.retain(|l| l.kind != ListenerKind::Client);
                server.enter_lame_duck(clock.now());
            }
            Wake::Control(Some(Control::Reload(reload))) => {
                reload_options(&mut server, *reload, clock.now());
            }
            Wake::Control(Some(Control::Shutdown) | None) | Wake::Input(None) => break,
            Wake::Timeout => {
                armed = None;
                server.handle_timeout(clock.now());
            }
            Wake::Accepted(i, Ok((stream, peer))) => {
                listeners[i].pause = ACCEPT_PAUSE_MIN;
                d.accept(&mut server, listeners[i].kind, stream, peer);
            }
            Wake::Accepted(i, Err(e)) => listeners[i].failed(&e),
            Wake::Input(Some(input)) => {
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
        }
        if d.drain(&mut server) {
            break;
        }
    }
    tracing::info!("Initiating Shutdown...");
    server.shutdown(clock.now());
    d.drain(&mut server);
}

/// A listener, paused for a while after an accept failed.
struct Accepting<R: Runtime> {
    kind: ListenerKind,
    listener: R::Listener,
    /// How long the next failure pauses accepting.
    pause: Duration,
    /// Accepting resumes when this expires.
    paused: Option<Pin<Box<R::Timer>>>,
}

impl<R: Runtime> Accepting<R> {
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(R::Stream, SocketAddr)>> {
        if let Some(paused) = self.paused.as_mut() {
            ready!(paused.as_mut().poll_expired(cx));
            self.paused = None;
        }
        self.listener.poll_accept(cx)
    }

    /// Logs a failed accept as nats-server does and pauses accepting,
    /// unless it concerned only a connection its peer had already reset.
    fn failed(&mut self, e: &io::Error) {
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
        ) {
            tracing::debug!("{:?} accept: {e}", self.kind);
            return;
        }
        tracing::error!(
            "Temporary {:?} Accept Error({e}), sleeping {}ms",
            self.kind,
            self.pause.as_millis()
        );
        self.paused = Some(Box::pin(R::timer(std::time::Instant::now() + self.pause)));
        self.pause = (self.pause * 2).min(ACCEPT_PAUSE_MAX);
    }
}

/// What woke the engine task.
enum Wake<S> {
    Control(Option<Control>),
    Timeout,
    /// An accept on the listener at this index finished.
    Accepted(usize, io::Result<(S, SocketAddr)>),
    Input(Option<Input<S>>),
}

/// Inputs gathered from sockets for the engine task.
enum Input<S> {
    Read(ConnId, Bytes),
    Writable(ConnId),
    Closed(ConnId),
    /// A dial finished.
    Dialed(ConnId, io::Result<S>),
}

/// The engine task's view of one connection. Dropping it cancels its
/// tasks, which closes the socket.
struct Conn<R: Runtime> {
    stream: Arc<R::Stream>,
    _reader: R::Task,
    /// The task waiting for the socket to drain, when a write blocked.
    waiter: Option<R::Task>,
    pause: Arc<Pause>,
    /// Reads the reader may have handed over and the engine not yet
    /// handled: per-connection back-pressure, so a paused producer stops
    /// within a read or two.
    credits: Arc<Credits>,
    /// Chunks taken from the engine and not yet written.
    pending: VecDeque<Bytes>,
}

/// The driver's state besides the engine.
struct Driver<R: Runtime> {
    rt: R,
    conns: HashMap<ConnId, Conn<R>>,
    tx: Sender<Input<R::Stream>>,
    clock: Clock,
    scratch: Vec<Bytes>,
    host: HostSampler,
}

impl<R: Runtime> Driver<R> {
    /// Drops a connection's socket state; a table grown for a burst of
    /// connections gives the room back once most are gone.
    fn forget(&mut self, id: ConnId) -> Option<Conn<R>> {
        let c = self.conns.remove(&id);
        let room = self.conns.capacity();
        if room > 64 && self.conns.len() * 4 < room {
            self.conns.shrink_to(self.conns.len() * 2);
        }
        c
    }

    fn accept(
        &mut self,
        server: &mut Server,
        kind: ListenerKind,
        stream: R::Stream,
        peer: SocketAddr,
    ) {
        let now = self.clock.now();
        if matches!(
            kind,
            ListenerKind::Monitor | ListenerKind::Https | ListenerKind::Websocket
        ) {
            // What `/varz` shows that only the host knows (and the
            // `Date` of a refused websocket upgrade).
            server.handle_wall_clock(host::unix_nanos(), now);
            server.set_host_stats(self.host.sample());
        }
        let _ = stream.set_nodelay(true);
        let id = server.handle_accept(kind, peer, now);
        self.attach(id, stream, server.read_cap(id));
    }

    /// Starts reading a connection the engine knows as `id`, at most
    /// `read_cap` bytes a read.
    fn attach(&mut self, id: ConnId, stream: R::Stream, read_cap: usize) {
        let stream = Arc::new(stream);
        let pause = Arc::new(Pause::default());
        let credits = Arc::new(Credits::new(READS_IN_FLIGHT));
        let reader = self.rt.spawn(read_loop(Reader::<R> {
            id,
            stream: stream.clone(),
            pause: pause.clone(),
            credits: credits.clone(),
            tx: self.tx.clone(),
            clock: self.clock,
            read_max: read_cap.min(READ_MAX),
        }));
        self.conns.insert(
            id,
            Conn {
                stream,
                _reader: reader,
                waiter: None,
                pause,
                credits,
                pending: VecDeque::new(),
            },
        );
    }

    fn handle(&mut self, server: &mut Server, input: Input<R::Stream>) {
        let now = self.clock.now();
        match input {
            Input::Read(id, data) => {
                server.handle_read(id, data, now);
                if let Some(c) = self.conns.get(&id) {
                    c.credits.give();
                }
            }
            Input::Writable(id) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.waiter = None;
                    self.write(server, id);
                }
            }
            Input::Closed(id) => {
                if self.forget(id).is_some() {
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
                    if let Some(mut c) = self.forget(conn) {
                        if after_flush && !c.pending.is_empty() {
                            let pending = std::mem::take(&mut c.pending);
                            let stream = c.stream.clone();
                            self.rt.spawn_detached(finish_writes::<R>(stream, pending));
                        }
                    }
                    server.handle_closed(conn, self.clock.now());
                }
                Action::PauseReading { conn, until } => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.pause.set(until.as_nanos());
                    }
                }
                Action::ResumeReading { conn } => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.pause.set(0);
                    }
                }
                Action::SignNonce {
                    conn,
                    remote,
                    nonce,
                } => {
                    let signed = sign_for_remote(server.options(), remote, &nonce);
                    server.handle_signature(conn, signed, self.clock.now());
                }
                Action::StoreAccountJwt { account, jwt } => {
                    store_account_jwt(server, &account, &jwt)
                }
                Action::Dial {
                    conn,
                    kind: _,
                    addr,
                    timeout,
                } => {
                    let tx = self.tx.clone();
                    self.rt.spawn_detached(async move {
                        let deadline = std::time::Instant::now() + timeout;
                        let timed_out = async {
                            runtime::sleep_until::<R>(deadline).await;
                            Err(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"))
                        };
                        let result = futures_lite::future::or(R::connect(addr), timed_out).await;
                        let _ = tx.send(Input::Dialed(conn, result)).await;
                    });
                }
            }
        }
        while let Some(event) = server.poll_event() {
            match event {
                // The engine logs these itself, in nats-server's words.
                Event::ClientConnected { .. }
                | Event::ConnectionClosed { .. }
                | Event::SlowConsumerDetected { .. } => {}
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
            match write_some(&*c.stream, &mut c.pending) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let stream = c.stream.clone();
                    let tx = self.tx.clone();
                    c.waiter = Some(self.rt.spawn(async move {
                        let _ = poll_fn(|cx| stream.poll_write_ready(cx)).await;
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
            self.forget(id);
            server.handle_closed(id, now);
        }
    }
}

/// One non-blocking vectored write of the front of `pending`; drops what
/// was written and returns its length.
fn write_some<S: Stream>(stream: &S, pending: &mut VecDeque<Bytes>) -> io::Result<usize> {
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
async fn finish_writes<R: Runtime>(stream: Arc<R::Stream>, mut pending: VecDeque<Bytes>) {
    let writes = async {
        while !pending.is_empty() {
            match write_some(&*stream, &mut pending) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if poll_fn(|cx| stream.poll_write_ready(cx)).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    };
    let limit = runtime::sleep_until::<R>(std::time::Instant::now() + CLOSE_FLUSH_LIMIT);
    futures_lite::future::or(writes, limit).await;
}

/// What a connection's reader task owns.
struct Reader<R: Runtime> {
    id: ConnId,
    stream: Arc<R::Stream>,
    pause: Arc<Pause>,
    credits: Arc<Credits>,
    tx: Sender<Input<R::Stream>>,
    clock: Clock,
    read_max: usize,
}

/// Reads from the socket and forwards each read to the engine, honouring
/// the engine's pause requests and at most [`READS_IN_FLIGHT`] reads
/// ahead of it.
async fn read_loop<R: Runtime>(r: Reader<R>) {
    // Doubles while reads fill it, halves while they use little of it.
    let mut size = READ_START;
    let mut buf = BytesMut::with_capacity(size);
    loop {
        r.credits.take().await;
        // Paused while a consumer it feeds is behind: until the engine
        // resumes it, or the pause runs out.
        loop {
            let until = r.pause.until.load(Ordering::Relaxed);
            if until <= r.clock.now().as_nanos() {
                break;
            }
            let at = r.clock.to_std(Instant::from_nanos(until));
            futures_lite::future::or(runtime::sleep_until::<R>(at), r.pause.changed(until)).await;
        }
        if buf.capacity() - buf.len() < size {
            buf.reserve(size);
        }
        let spare = (buf.capacity() - buf.len()).min(r.read_max);
        let read = loop {
            match r.stream.try_read_into(&mut buf, spare) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = poll_fn(|cx| r.stream.poll_read_ready(cx)).await {
                        break Err(e);
                    }
                }
                other => break other,
            }
        };
        match read {
            Ok(n) if n > 0 => {
                if n >= spare {
                    size = (size * 2).min(r.read_max);
                } else if n < size / 8 {
                    size = (size / 2).max(READ_MIN);
                }
                let data = buf.split().freeze();
                if r.tx.send(Input::Read(r.id, data)).await.is_err() {
                    return;
                }
            }
            _ => {
                let _ = r.tx.send(Input::Closed(r.id)).await;
                return;
            }
        }
    }
}

/// The engine's pause of one reader: until when (engine nanoseconds, 0:
/// not paused), and the reader waiting for it to change.
#[derive(Default)]
struct Pause {
    until: AtomicU64,
    waiter: Mutex<Option<Waker>>,
}

impl Pause {
    /// Pauses until `until` (0 resumes at once), waking the reader.
    fn set(&self, until: u64) {
        self.until.store(until, Ordering::Relaxed);
        let waiter = self.waiter.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// Waits until the pause is no longer `until`.
    async fn changed(&self, until: u64) {
        poll_fn(|cx| {
            let mut w = self.waiter.lock().unwrap_or_else(|p| p.into_inner());
            if self.until.load(Ordering::Relaxed) != until {
                return Poll::Ready(());
            }
            *w = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// A counting semaphore for one reader and the engine task: the reader
/// takes a credit per read, the engine gives it back once it handled it.
struct Credits {
    /// Credits left, and the reader waiting for one.
    state: Mutex<(usize, Option<Waker>)>,
}

impl Credits {
    fn new(n: usize) -> Self {
        Credits {
            state: Mutex::new((n, None)),
        }
    }

    /// Waits for a credit and takes it.
    async fn take(&self) {
        poll_fn(|cx| {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.0 > 0 {
                s.0 -= 1;
                Poll::Ready(())
            } else {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }

    /// Gives a credit back, waking the reader if it waits.
    fn give(&self) {
        let waiting = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.0 += 1;
            s.1.take()
        };
        if let Some(w) = waiting {
            w.wake();
        }
    }
}

/// Signs a leaf hub's nonce for remote number `remote` as nats-server
/// does: with the seed of its credentials file (sending the file's JWT),
/// else with its NKey seed. The file is read at each connect, so a
/// rotated file is picked up without a reload.
/// Keeps an account JWT in the resolver's directory as
/// `<dir>/<account>.jwt` (nats-server's layout), written to a temporary
/// file first so a crash never leaves half a JWT.
fn store_account_jwt(server: &Server, account: &str, jwt: &str) {
    let Some(dir) = server
        .options()
        .trust
        .as_ref()
        .and_then(|t| t.resolver.dir())
    else {
        return;
    };
    // Account keys are base32: nothing that could leave the directory.
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let path = std::path::Path::new(dir).join(format!("{account}.jwt"));
    let tmp = std::path::Path::new(dir).join(format!(".{account}.jwt.tmp"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, jwt))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::error!(
            "Error storing account jwt {account} in {}: {e}",
            path.display()
        );
    }
}

fn sign_for_remote(
    options: &canopy_core::Options,
    remote: usize,
    nonce: &str,
) -> Result<canopy_core::auth::NonceSignature, String> {
    let r = options
        .leaf
        .as_ref()
        .and_then(|l| l.remotes.get(remote))
        .ok_or("no such leaf remote")?;
    if !r.credentials.is_empty() {
        let text = std::fs::read_to_string(&r.credentials).map_err(|e| e.to_string())?;
        return canopy_core::auth::sign_with_creds(&text, nonce.as_bytes());
    }
    if !r.nkey.is_empty() {
        return canopy_core::auth::sign_with_seed(&r.nkey, nonce.as_bytes());
    }
    Err("no credentials or nkey to sign with".to_string())
}
