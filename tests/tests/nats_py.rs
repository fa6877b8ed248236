//! Runs the nats-py smoke test (tests/python/smoke_test.py) against canopy,
//! and against nats-server to show the script itself is right. Fails (never
//! skips) when python3 or nats-py is missing.

use std::process::Command;
use std::time::{Duration, Instant};

use canopy_tests::Impl;

fn smoke(imp: Impl) {
    let bin = imp.bin();
    let root = canopy_tests::workspace_root();
    let script = root.join("tests/python/smoke_test.py");
    assert!(script.is_file(), "{} is missing", script.display());

    let probe = Command::new("python3")
        .args(["-c", "import nats"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and run `bash scripts/provision.sh`")
        });
    assert!(
        probe.status.success(),
        "nats-py is not importable ({}); run `bash scripts/provision.sh`",
        String::from_utf8_lossy(&probe.stderr).trim()
    );

    let started = Instant::now();
    let mut child = Command::new("python3")
        .arg(&script)
        .env("CANOPY_BIN", &bin)
        .current_dir(&root)
        .spawn()
        .expect("spawn python3");
    // The script bounds its own waits; this is a last resort.
    let limit = Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            assert!(
                status.success(),
                "nats-py smoke test against {imp} ({}) failed with {status}",
                bin.display()
            );
            return;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nats-py smoke test against {imp} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nats_py_smoke_canopy() {
    smoke(Impl::Canopy);
}

#[test]
fn nats_py_smoke_nats_server() {
    smoke(Impl::NatsServer);
}
