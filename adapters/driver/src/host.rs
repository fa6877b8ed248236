//! What only the host can tell the engine: real time, wall-clock time,
//! OS randomness, this process's CPU and memory use, and the listening
//! sockets.

use canopy_core::monitor::HostStats;
use canopy_core::Instant;
use std::io;
use std::net::ToSocketAddrs;

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

/// Wall-clock nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// The engine's seed from the OS random generator (time-derived if that
/// is unavailable, with a warning).
pub(crate) fn seed(clock: &Clock) -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::getrandom(&mut seed).is_err() {
        tracing::warn!("OS randomness unavailable; using a time-derived seed");
        seed[..16].copy_from_slice(&clock.now().as_nanos().to_le_bytes().repeat(2));
    }
    seed
}

/// Binds a listening socket on `host:port` (port 0: any), non-blocking,
/// with the system's listen backlog (`net.core.somaxconn`, else 4096, as
/// nats-server gets from Go) rather than the 128 of mio and std, so a
/// burst of connects is not refused while the engine is busy.
pub fn bind(host: &str, port: u16) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on");
    for addr in (host, port).to_socket_addrs()? {
        let bound = Socket::new(Domain::for_address(addr), Type::STREAM, None).and_then(|s| {
            s.set_reuse_address(true)?;
            s.bind(&addr.into())?;
            s.listen(listen_backlog())?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        match bound {
            Ok(s) => return Ok(s.into()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The host's IP addresses in interface order (each interface's IPv4
/// before its IPv6, as Go lists them), for `connect_urls` of a server
/// bound to every address. Empty where they cannot be read.
pub fn interface_addresses() -> Vec<std::net::IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<(u32, u8, std::net::IpAddr)> = Vec::new();
    for a in addrs {
        let index = nix::net::if_::if_nametoindex(a.interface_name.as_str()).unwrap_or(u32::MAX);
        let Some(addr) = a.address else {
            continue;
        };
        if let Some(v4) = addr.as_sockaddr_in() {
            found.push((index, 4, std::net::IpAddr::V4(v4.ip())));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            found.push((index, 6, std::net::IpAddr::V6(v6.ip())));
        }
    }
    found.sort_by_key(|&(index, family, _)| (index, family));
    found.into_iter().map(|(_, _, ip)| ip).collect()
}

/// `net.core.somaxconn`, or 4096 where it cannot be read.
fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4096)
}

/// Reads this process's memory and CPU use from `/proc` for `/varz`.
#[derive(Default)]
pub(crate) struct HostSampler {
    last: Option<(std::time::Instant, f64)>,
}

impl HostSampler {
    pub(crate) fn sample(&mut self) -> HostStats {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_listens_with_a_large_backlog() {
        let l = bind("127.0.0.1", 0).unwrap();
        let addr = l.local_addr().unwrap();
        // Nothing accepts: every connect below completes only because the
        // kernel queues it. With mio's backlog of 128 the 130th SYN would
        // be dropped and its connect time out.
        let n = usize::try_from(listen_backlog()).unwrap().min(300);
        let clients: Vec<_> = (0..n)
            .map(|i| {
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
                    .unwrap_or_else(|e| panic!("connect {i} of {n}: {e}"))
            })
            .collect();
        assert_eq!(clients.len(), n);
    }
}
