//! The smol adapter under async-std's executor: async-std is discontinued
//! (RUSTSEC-2025-0052) and was built on async-io, so its users run
//! canopy-smol. Here async-std's `task::spawn` runs the server and two
//! async-std clients exchange a message through it; then the server
//! shuts down on request and its task ends.

use async_std::io::prelude::{BufReadExt, WriteExt};
use async_std::io::BufReader;
use async_std::net::TcpStream;
use canopy_core::{ListenerKind, Options};
use canopy_driver::{Control, Setup};
use std::time::Duration;

/// Reads lines until one starts with `prefix`; returns it.
async fn line_starting<R: BufReadExt + Unpin>(r: &mut R, prefix: &str) -> String {
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.expect("read a line");
        assert_ne!(n, 0, "connection closed before a {prefix:?} line");
        if line.starts_with(prefix) {
            return line;
        }
    }
}

#[test]
fn smol_adapter_serves_under_async_std() {
    let listener = canopy_driver::bind("127.0.0.1", 0).expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let options = Options {
        host: "127.0.0.1".to_string(),
        port: addr.port(),
        ..Options::default()
    };
    let (control, controls) = async_channel::unbounded();
    let exchanged = async_std::task::block_on(async_std::future::timeout(
        Duration::from_secs(30),
        async move {
            let server = async_std::task::spawn(canopy_smol::run(Setup {
                options,
                listeners: vec![(ListenerKind::Client, listener)],
                control: controls,
            }));

            let sub = TcpStream::connect(addr).await.expect("connect subscriber");
            let mut sub_lines = BufReader::new(sub.clone());
            let info = line_starting(&mut sub_lines, "INFO ").await;
            assert!(
                info.contains(&format!("\"port\":{}", addr.port())),
                "{info}"
            );
            (&sub)
                .write_all(b"CONNECT {\"verbose\":false}\r\nSUB greet 1\r\nPING\r\n")
                .await
                .expect("subscribe");
            assert_eq!(line_starting(&mut sub_lines, "PONG").await, "PONG\r\n");

            let publisher = TcpStream::connect(addr).await.expect("connect publisher");
            (&publisher)
                .write_all(b"CONNECT {\"verbose\":false}\r\nPUB greet 5\r\nhello\r\n")
                .await
                .expect("publish");
            let msg = line_starting(&mut sub_lines, "MSG ").await;
            assert_eq!(msg, "MSG greet 1 5\r\n");
            let payload = line_starting(&mut sub_lines, "").await;
            assert_eq!(payload, "hello\r\n");

            control
                .send(Control::Shutdown)
                .await
                .expect("server listens");
            server.await;
            // Shutdown closed the subscriber's connection.
            let mut rest = String::new();
            let n = sub_lines.read_line(&mut rest).await.unwrap_or(0);
            assert_eq!(n, 0, "still open after shutdown: {rest:?}");
            msg
        },
    ));
    assert_eq!(
        exchanged.expect("within 30 s"),
        "MSG greet 1 5\r\n",
        "the message went through"
    );
}
