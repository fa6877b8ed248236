//! The generic run loop of `canopy_core::Server` on tokio.

use bytes::{Bytes, BytesMut};
use canopy_core::{Action, ConnId, Event, Instant, ListenerKind, Options, Server};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Inputs gathered from sockets for the engine task.
enum Input {
    Read(ConnId, Bytes),
    Written(ConnId, usize),
    Closed(ConnId),
}

enum WriterMsg {
    Data(Vec<Bytes>),
    Close,
}

struct Handle {
    writer: mpsc::UnboundedSender<WriterMsg>,
    reader: tokio::task::JoinHandle<()>,
    pause_until: Arc<AtomicU64>,
}

/// Most inputs handled per wakeup before actions are drained.
const MAX_INPUTS_PER_WAKEUP: usize = 256;
/// Read buffer spare capacity.
const READ_CAPACITY: usize = 64 * 1024;

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

/// Runs the engine until `shutdown` resolves, then closes every connection.
pub async fn run(
    options: Options,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let clock = Clock::start();
    let mut seed = [0u8; 32];
    if getrandom::getrandom(&mut seed).is_err() {
        tracing::warn!("OS randomness unavailable; using a time-derived seed");
        seed[..16].copy_from_slice(&clock.now().as_nanos().to_le_bytes().repeat(2));
    }
    let mut server = Server::new(options, seed, clock.now());
    let (tx, mut rx) = mpsc::channel::<Input>(1024);
    let mut conns: HashMap<ConnId, Handle> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        let deadline = server.poll_timeout().map(|(at, _)| clock.to_std(at));
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    accept(&mut server, &mut conns, &tx, stream, peer, clock);
                }
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                handle(&mut server, &mut conns, input, clock);
                for _ in 0..MAX_INPUTS_PER_WAKEUP {
                    match rx.try_recv() {
                        Ok(input) => handle(&mut server, &mut conns, input, clock),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep => server.handle_timeout(clock.now()),
        }
        drain(&mut server, &mut conns, clock);
    }
    server.shutdown(clock.now());
    drain(&mut server, &mut conns, clock);
}

fn accept(
    server: &mut Server,
    conns: &mut HashMap<ConnId, Handle>,
    tx: &mpsc::Sender<Input>,
    stream: TcpStream,
    peer: SocketAddr,
    clock: Clock,
) {
    let _ = stream.set_nodelay(true);
    let id = server.handle_accept(ListenerKind::Client, peer, clock.now());
    let (mut rd, mut wr) = stream.into_split();
    let pause_until = Arc::new(AtomicU64::new(0));
    let pause = pause_until.clone();
    let rtx = tx.clone();
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(READ_CAPACITY);
        loop {
            let until = pause.load(Ordering::Relaxed);
            if until > clock.now().as_nanos() {
                tokio::time::sleep_until(clock.to_std(Instant::from_nanos(until)).into()).await;
            }
            if buf.capacity() - buf.len() < READ_CAPACITY / 4 {
                buf.reserve(READ_CAPACITY);
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = rtx.send(Input::Closed(id)).await;
                    return;
                }
                Ok(_) => {
                    if rtx
                        .send(Input::Read(id, buf.split().freeze()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    let (wtx, mut wrx) = mpsc::unbounded_channel::<WriterMsg>();
    let report = tx.clone();
    tokio::spawn(async move {
        while let Some(msg) = wrx.recv().await {
            match msg {
                WriterMsg::Data(chunks) => {
                    let mut n = 0;
                    for chunk in &chunks {
                        if wr.write_all(chunk).await.is_err() {
                            let _ = report.send(Input::Closed(id)).await;
                            return;
                        }
                        n += chunk.len();
                    }
                    let _ = report.send(Input::Written(id, n)).await;
                }
                WriterMsg::Close => {
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
    });
    conns.insert(
        id,
        Handle {
            writer: wtx,
            reader,
            pause_until,
        },
    );
}

fn handle(server: &mut Server, conns: &mut HashMap<ConnId, Handle>, input: Input, clock: Clock) {
    match input {
        Input::Read(id, data) => server.handle_read(id, data, clock.now()),
        Input::Written(id, n) => server.handle_written(id, n, clock.now()),
        Input::Closed(id) => {
            if let Some(h) = conns.remove(&id) {
                h.reader.abort();
                let _ = h.writer.send(WriterMsg::Close);
                server.handle_closed(id, clock.now());
            }
        }
    }
}

fn drain(server: &mut Server, conns: &mut HashMap<ConnId, Handle>, clock: Clock) {
    while let Some(action) = server.poll_action() {
        match action {
            Action::Flush(id) => {
                if let Some(h) = conns.get(&id) {
                    let mut chunks = Vec::new();
                    if server.take_outbound(id, &mut chunks, clock.now()) > 0 {
                        let _ = h.writer.send(WriterMsg::Data(chunks));
                    }
                }
            }
            Action::Close { conn, after_flush } => {
                if let Some(h) = conns.remove(&conn) {
                    h.reader.abort();
                    if after_flush {
                        let mut chunks = Vec::new();
                        if server.take_outbound(conn, &mut chunks, clock.now()) > 0 {
                            let _ = h.writer.send(WriterMsg::Data(chunks));
                        }
                    }
                    let _ = h.writer.send(WriterMsg::Close);
                }
                server.handle_closed(conn, clock.now());
            }
            Action::PauseReading { conn, until } => {
                if let Some(h) = conns.get(&conn) {
                    h.pause_until.store(until.as_nanos(), Ordering::Relaxed);
                }
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
        }
    }
}
