//! Lame duck mode (SIGUSR2): stop accepting, tell protocol-1 clients,
//! evict clients spread over the lame duck duration, then ask for
//! shutdown.

use super::Server;
use crate::events::{CloseReason, Event, TimerKey};
use crate::ids::ConnId;
use crate::time::Instant;
use std::time::Duration;

/// Lame duck mode in progress.
#[derive(Debug)]
pub(crate) struct LameDuck {
    /// Clients still to close, highest cid first (popped from the back).
    clients: Vec<ConnId>,
    /// Pause between closes (a random point between half and all of it).
    interval: Duration,
    /// Clients closed per step.
    batch: usize,
    /// Whether the grace period is over.
    closing: bool,
}

impl Server {
    /// Enters lame duck mode (SIGUSR2): the driver has stopped accepting
    /// clients; every client that said `"protocol":1` gets an INFO with
    /// `"ldm":true`, and after the
    /// grace period clients are closed one by one, spread over the lame
    /// duck duration (at most a second apart), as nats-server does. Then
    /// [`Event::ShutdownRequested`]. With no clients it asks for shutdown at
    /// once. Calling it again is harmless.
    pub fn enter_lame_duck(&mut self, now: Instant) {
        if self.lame_duck.is_some() {
            return;
        }
        tracing::info!("Entering lame duck mode, stop accepting new clients");
        let mut clients = self.open_client_ids();
        if clients.is_empty() {
            self.lame_duck = Some(LameDuck {
                clients,
                interval: Duration::ZERO,
                batch: 1,
                closing: false,
            });
            self.events.push_back(Event::ShutdownRequested);
            return;
        }
        let grace = self.options.lame_duck_grace_period;
        let mut spread = self.options.lame_duck_duration.saturating_sub(grace);
        if spread.is_zero() {
            spread = Duration::from_secs(1);
        }
        let n = clients.len() as u64;
        let mut interval = Duration::from_nanos((spread.as_nanos() as u64) / n);
        let mut batch = 1;
        if interval.is_zero() {
            interval = Duration::from_nanos(1);
            batch = (n / (spread.as_nanos() as u64).max(1)).max(1) as usize;
        } else if interval > Duration::from_secs(1) {
            interval = Duration::from_secs(1);
        }
        // Only clients that take asynchronous INFO (protocol 1) hear it.
        self.send_async_info(&clients, false, true);
        clients.reverse(); // popped from the back: lowest cid first
        self.lame_duck = Some(LameDuck {
            clients,
            interval,
            batch,
            closing: false,
        });
        self.timers.set(TimerKey::LameDuck, now + grace);
        self.close_overflowed(now);
        self.schedule_flushes();
    }

    /// Whether lame duck mode has begun.
    pub fn in_lame_duck_mode(&self) -> bool {
        self.lame_duck.is_some()
    }

    pub(crate) fn lame_duck_timer(&mut self, now: Instant) {
        let Some(ld) = self.lame_duck.as_mut() else {
            return;
        };
        if !ld.closing {
            ld.closing = true;
            tracing::info!("Closing existing clients");
        }
        let batch = ld.batch;
        let interval = ld.interval;
        let mut closed = 0;
        while closed < batch {
            let Some(id) = self.lame_duck.as_mut().and_then(|ld| ld.clients.pop()) else {
                break;
            };
            if self.conns.get(&id).is_some_and(|c| !c.closed) {
                self.close(id, CloseReason::ServerShutdown, true, true, now);
                closed += 1;
            }
        }
        if self
            .lame_duck
            .as_ref()
            .is_some_and(|ld| ld.clients.is_empty())
        {
            self.events.push_back(Event::ShutdownRequested);
            return;
        }
        // A random pause between half the interval and the interval.
        let ns = interval.as_nanos() as u64;
        let pause = (ns / 2).max(self.jitter_rng.below(ns.max(1)));
        self.timers
            .set(TimerKey::LameDuck, now + Duration::from_nanos(pause));
    }
}
