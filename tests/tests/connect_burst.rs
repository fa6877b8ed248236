//! A burst of connects, as after a network blip when every client
//! reconnects at once: 4,000 connections opened together all get their
//! INFO (issue 13: with mio's default listen backlog of 128, canopy lost
//! a third of them, which sat on an established socket forever). Every
//! implementation, the same code.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use canopy_tests::{Impl, ServerBuilder};

const CONNECTIONS: usize = 4000;
const THREADS: usize = 16;

fn every_connect_of_a_burst_gets_info(imp: Impl) {
    let server = ServerBuilder::new(imp).start();
    let addr = server.addr();
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (addr, start) = (addr.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                // Every connect and INFO within a few seconds of the
                // burst: a connection the listener's backlog could not
                // hold waits for the client's SYN retransmits (1 s, 3 s,
                // 7 s, ...) or never gets INFO at all.
                let deadline = Instant::now() + Duration::from_secs(10);
                // Connect all of this thread's share first, then read.
                let socks: Vec<TcpStream> = (0..CONNECTIONS / THREADS)
                    .filter_map(|_| TcpStream::connect(&addr).ok())
                    .collect();
                let connected = socks.len();
                let mut infos = 0;
                for s in socks {
                    let left = deadline.saturating_duration_since(Instant::now());
                    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                        .unwrap();
                    let mut line = String::new();
                    if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("INFO ")
                    {
                        infos += 1;
                    }
                }
                (connected, infos)
            })
        })
        .collect();
    let (mut connected, mut infos) = (0, 0);
    for w in workers {
        let (c, i) = w.join().unwrap();
        connected += c;
        infos += i;
    }
    assert_eq!(connected, CONNECTIONS, "{imp}: connects refused");
    assert_eq!(infos, CONNECTIONS, "{imp}: connections without INFO");
}

canopy_tests::against_both!(every_connect_of_a_burst_gets_info);
