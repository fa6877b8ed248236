#![allow(clippy::disallowed_methods)] // this test reads the source tree; the engine never does
//! Guards the engine's shape: no connection-kind test (`is this a
//! route?`) outside that kind's own code. A kind's state is read only in
//! its own folder (`client/`, `cluster/`, `leaf/`, `gateway/`, `http.rs`, and `conn/` where
//! the kinds are defined); the endpoint may only dispatch on the kind
//! (`ConnKind::X(_) => self.x_...`), never look inside it.

use std::path::{Path, PathBuf};

/// Where a kind's state may be read.
const KIND_HOMES: [&str; 6] = [
    "conn/", "client/", "cluster/", "leaf/", "gateway/", "http.rs",
];

/// What reads (or tests for) one kind's state.
const KIND_ACCESS: [&str; 10] = [
    ".client()",
    ".client_mut()",
    ".route()",
    ".route_mut()",
    ".leaf()",
    ".leaf_mut()",
    ".gateway()",
    ".gateway_mut()",
    ".http_mut()",
    "ConnKind::",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `ConnKind::Client(_) => ...` or `Some(ConnKind::Route(_)) => ...`:
/// dispatch, which names the kind without looking inside.
fn is_dispatch(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches("Some(");
    t.starts_with("ConnKind::") && t.contains("(_)") && t.contains("=>")
}

#[test]
fn kind_state_is_read_only_at_home() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    assert!(files.len() > 40, "found only {} source files", files.len());
    let mut strays = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if KIND_HOMES.iter().any(|h| rel.starts_with(h)) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        // Unit tests at the end of a file may build any kind.
        let body = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (n, line) in body.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if KIND_ACCESS.iter().any(|a| code.contains(a)) && !is_dispatch(code) {
                strays.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        strays.is_empty(),
        "kind state read outside the kind's own code:\n{}",
        strays.join("\n")
    );
}

#[test]
fn the_guard_sees_a_stray() {
    assert!(is_dispatch(
        "            ConnKind::Client(_) => self.client_closed(conn),"
    ));
    assert!(is_dispatch(
        "            Some(ConnKind::Route(_)) => self.route_op(conn, op),"
    ));
    assert!(!is_dispatch(
        "        let ConnKind::Client(cl) = &mut c.kind else {"
    ));
    assert!(!is_dispatch("        if c.route().is_some() {"));
}
