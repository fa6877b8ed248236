//! Differential config corpus (protocol-core.md section 5): every
//! `tests/configs/*.conf` is checked with `-t -c tests/configs/NAME.conf`
//! (from the workspace root) by nats-server 2.15.1 and by canopy.
//!
//! * The exit codes must be equal: the hard requirement.
//! * stderr must be equal too, after masking the config digest
//!   (`sha256:<64 hex>` becomes `sha256:<digest>`), and so must stdout
//!   (empty for both). Files whose message legitimately differs are listed in
//!   [`KNOWN_TEXT_DIFFERENCES`] with the reason; their exit codes still count.
//! * nats-server must still behave as `tests/configs/EXPECTED.tsv` says
//!   (written by `tests/configs/regen.sh`), so a changed reference is noticed.
//!
//! Both servers get the same environment additions as regen.sh uses (see
//! [`ENV`]). Nothing is skipped: a canopy without `-t` fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use canopy_tests::{workspace_root, Impl};

/// Files whose stderr may differ between canopy and nats-server, and why.
/// Only the text is exempt; the exit code must still agree.
const KNOWN_TEXT_DIFFERENCES: &[(&str, &str)] = &[
    (
        "bad_unknown_fields_two.conf",
        "two unknown top-level fields: nats-server reports both in Go map (random) \
         order (the second one first in about one run in ten); canopy reports them \
         in source order",
    ),
    (
        "bad_var_shadowed_outer_unused.conf",
        "two errors (unused outer variable, duplicate user): nats-server prints them \
         in Go map (random) order; canopy in source order",
    ),
    (
        "bad_duplicate_user_accounts.conf",
        "the same user in two accounts: nats-server walks the accounts in Go map \
         (random) order and flags whichever copy it meets second (line 3 or line 4); \
         canopy flags the later one in source order",
    ),
];

/// Environment additions for both servers (and for regen.sh): the
/// environment-variable cases of the corpus rely on them.
const ENV: &[(&str, &str)] = &[
    ("CANOPY_CORPUS_SIZE", "5k"),
    ("CANOPY_CORPUS_CYCLE_A", "$CANOPY_CORPUS_CYCLE_B"),
    ("CANOPY_CORPUS_CYCLE_B", "$CANOPY_CORPUS_CYCLE_A"),
];

/// Removed from the environment of both servers.
const ENV_REMOVE: &[&str] = &["CANOPY_CORPUS_UNDEFINED_VARIABLE_7F3A"];

/// How long one `-t` run may take before it is killed (a binary that ignores
/// `-t` would start serving and never exit).
const RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// Parallel runs (each is a short process).
const JOBS: usize = 4;

const CONFIG_DIR: &str = "tests/configs";

/// What one `-t -c FILE` run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    /// The exit code; `None` when killed by a signal or by the timeout.
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    /// Masked.
    stderr: String,
    /// Not masked (for the informational digest comparison).
    raw_stderr: String,
}

impl Outcome {
    fn code_text(&self) -> String {
        match (self.timed_out, self.code) {
            (true, _) => format!("no exit within {}s (killed)", RUN_TIMEOUT.as_secs()),
            (false, Some(c)) => c.to_string(),
            (false, None) => "killed by a signal".to_string(),
        }
    }
}

/// Replaces 64 lowercase hex digits after `sha256:` with `<digest>`, like
/// regen.sh's `sed -E 's/sha256:[0-9a-f]{64}/sha256:<digest>/g'`.
fn mask_digest(s: &str) -> String {
    let is_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(i + "sha256:".len());
        out.push_str(head);
        if tail.bytes().take(64).filter(is_hex).count() == 64 {
            out.push_str("<digest>");
            rest = &tail[64..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Collects a pipe into a shared buffer, so that what arrived so far can be
/// read even when the process had to be killed (its children might keep the
/// pipe open).
fn collect(r: Option<impl Read + Send + 'static>) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let handle = std::thread::spawn(move || {
        let Some(mut r) = r else { return };
        let mut chunk = [0u8; 4096];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, handle)
}

/// Runs `BIN -t -c tests/configs/NAME` from the workspace root.
fn check_config(bin: &Path, name: &str) -> Outcome {
    let rel = format!("{CONFIG_DIR}/{name}");
    let mut cmd = Command::new(bin);
    cmd.args(["-t", "-c", &rel])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    for k in ENV_REMOVE {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let (out, out_reader) = collect(child.stdout.take());
    let (err, err_reader) = collect(child.stderr.take());
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {}: {e}", bin.display()),
        }
    };
    if !timed_out {
        let _ = out_reader.join();
        let _ = err_reader.join();
    }
    let stdout = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
    Outcome {
        code: if timed_out { None } else { status.code() },
        timed_out,
        stdout: mask_digest(&stdout),
        stderr: mask_digest(&stderr),
        raw_stderr: stderr,
    }
}

/// One file's rows of EXPECTED.tsv.
#[derive(Debug, Default)]
struct Expected {
    code: i32,
    random: bool,
    /// Every stderr variant regen.sh saw (one unless `random`).
    variants: Vec<String>,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            other => panic!("EXPECTED.tsv: bad escape \\{other:?} in {s:?}"),
        }
    }
    out
}

fn load_expected(path: &Path) -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run `bash tests/configs/regen.sh`",
            path.display()
        )
    });
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("file\texit\torder\tstderr"),
        "{}: unexpected header",
        path.display()
    );
    let mut map: BTreeMap<String, Expected> = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(cols.len(), 4, "{}:{}: not 4 columns", path.display(), n + 2);
        let code: i32 = cols[1]
            .parse()
            .unwrap_or_else(|_| panic!("{}:{}: bad exit code", path.display(), n + 2));
        let random = match cols[2] {
            "fixed" => false,
            "random" => true,
            o => panic!("{}:{}: bad order {o:?}", path.display(), n + 2),
        };
        let e = map.entry(cols[0].to_string()).or_default();
        if !e.variants.is_empty() {
            assert!(
                e.code == code && e.random && random,
                "{}:{}: inconsistent rows for {}",
                path.display(),
                n + 2,
                cols[0]
            );
        }
        e.code = code;
        e.random = random;
        e.variants.push(unescape(cols[3]));
    }
    map
}

/// The error lines of a stderr, order-insensitive: nats-server prefixes only
/// the first line with `nats-server: `.
fn error_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s
        .lines()
        .map(|l| l.strip_prefix("nats-server: ").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect();
    v.sort_unstable();
    v
}

fn corpus_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            (e.path().is_file() && name.ends_with(".conf")).then_some(name)
        })
        .collect();
    v.sort();
    v
}

/// Runs `f` on every name, `JOBS` at a time; results in input order.
fn run_all<T: Send>(names: &[String], f: impl Fn(&str) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new(names.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..JOBS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= names.len() {
                    break;
                }
                let r = f(&names[i]);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every file ran"))
        .collect()
}

fn show(s: &str) -> String {
    format!("{s:?}")
}

#[test]
fn config_corpus_matches_nats_server() {
    let root = workspace_root();
    let dir = root.join(CONFIG_DIR);
    let files = corpus_files(&dir);
    let expected = load_expected(&dir.join("EXPECTED.tsv"));
    let nats = Impl::NatsServer.bin();
    let canopy: PathBuf = Impl::Canopy.bin();

    // The corpus and its expectations describe the same files, and every
    // file whose reference output is random has a listed reason.
    let mut setup = Vec::new();
    let on_disk: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    for f in &files {
        if !expected.contains_key(f) {
            setup.push(format!(
                "{f}: not in EXPECTED.tsv; run `bash tests/configs/regen.sh`"
            ));
        }
    }
    for f in expected.keys() {
        if !on_disk.contains(f.as_str()) {
            setup.push(format!(
                "{f}: in EXPECTED.tsv but not in {CONFIG_DIR}; run `bash tests/configs/regen.sh`"
            ));
        }
    }
    let listed: BTreeMap<&str, &str> = KNOWN_TEXT_DIFFERENCES.iter().copied().collect();
    for (f, _) in KNOWN_TEXT_DIFFERENCES {
        if !on_disk.contains(f) {
            setup.push(format!(
                "KNOWN_TEXT_DIFFERENCES names {f}, which is not in the corpus"
            ));
        }
    }
    for (f, e) in &expected {
        if e.random && !listed.contains_key(f.as_str()) {
            setup.push(format!(
                "{f}: nats-server's output is random (EXPECTED.tsv) but it is not in \
                 KNOWN_TEXT_DIFFERENCES, so an exact comparison would be flaky"
            ));
        }
    }
    assert!(
        setup.is_empty(),
        "config corpus setup problems:\n  {}",
        setup.join("\n  ")
    );

    // One probe first: a canopy that ignores -t would serve until killed, once
    // per file; say so once instead.
    let probe_name = files
        .iter()
        .find(|f| expected[f.as_str()].code == 0)
        .expect("the corpus has a valid file");
    let probe = check_config(&canopy, probe_name);
    assert!(
        !probe.timed_out,
        "canopy does not support -t: `{} -t -c {CONFIG_DIR}/{probe_name}` did not exit within {}s \
         (stderr so far: {})",
        canopy.display(),
        RUN_TIMEOUT.as_secs(),
        show(&probe.stderr)
    );

    let results = run_all(&files, |name| {
        (check_config(&nats, name), check_config(&canopy, name))
    });

    let mut reference_drift = Vec::new();
    let mut disagreements = Vec::new();
    let mut exceptions = Vec::new();
    let (mut exit_agree, mut text_agree, mut valid) = (0usize, 0usize, 0usize);
    // Informational only (the comparison is on masked text): among files whose
    // masked text agrees and that print a digest, how many digests are equal.
    let (mut digests, mut digest_differs) = (0usize, Vec::new());
    for (name, (reference, candidate)) in files.iter().zip(&results) {
        let exp = &expected[name.as_str()];
        if reference.code == Some(0) {
            valid += 1;
        }

        // The reference against EXPECTED.tsv.
        let ref_text_known = exp.variants.contains(&reference.stderr)
            || exp
                .variants
                .iter()
                .any(|v| error_lines(v) == error_lines(&reference.stderr));
        if reference.code != Some(exp.code) || !ref_text_known || !reference.stdout.is_empty() {
            reference_drift.push(format!(
                "{name}: nats-server exit {} stderr {} stdout {}; EXPECTED.tsv says exit {} stderr {}",
                reference.code_text(),
                show(&reference.stderr),
                show(&reference.stdout),
                exp.code,
                exp.variants.iter().map(|v| show(v)).collect::<Vec<_>>().join(" or ")
            ));
        }

        // canopy against the reference.
        let code_ok = candidate.code == reference.code && !candidate.timed_out;
        if code_ok {
            exit_agree += 1;
        }
        let text_ok = candidate.stderr == reference.stderr && candidate.stdout == reference.stdout;
        if text_ok {
            text_agree += 1;
            if reference.stderr.contains("sha256:<digest>") {
                digests += 1;
                if candidate.raw_stderr != reference.raw_stderr {
                    digest_differs.push(name.as_str());
                }
            }
        }
        if !code_ok {
            disagreements.push(format!(
                "{name}: EXIT CODE canopy {} vs nats-server {}\n      canopy stderr:      {}\n      nats-server stderr: {}{}",
                candidate.code_text(),
                reference.code_text(),
                show(&candidate.stderr),
                show(&reference.stderr),
                if candidate.stdout.is_empty() {
                    String::new()
                } else {
                    format!("\n      canopy stdout:      {}", show(&candidate.stdout))
                }
            ));
        } else if !text_ok {
            if let Some(reason) = listed.get(name.as_str()) {
                let one_of_refs =
                    exp.variants.contains(&candidate.stderr) && candidate.stdout.is_empty();
                exceptions.push(format!(
                    "{name}: {reason}\n      canopy stderr:      {}{}\n      nats-server stderr: {}",
                    show(&candidate.stderr),
                    if one_of_refs {
                        " (one of the texts nats-server prints)"
                    } else {
                        ""
                    },
                    show(&reference.stderr)
                ));
            } else {
                let mut d = format!(
                    "{name}: STDERR differs (same exit code {})\n      canopy:      {}\n      nats-server: {}",
                    reference.code_text(),
                    show(&candidate.stderr),
                    show(&reference.stderr)
                );
                if candidate.stdout != reference.stdout {
                    let _ = write!(
                        d,
                        "\n      canopy stdout:      {}\n      nats-server stdout: {}",
                        show(&candidate.stdout),
                        show(&reference.stdout)
                    );
                }
                disagreements.push(d);
            }
        }
    }

    let n = files.len();
    println!(
        "config corpus: {n} files ({valid} valid, {} invalid per nats-server); \
         exit codes agree {exit_agree}/{n}; stderr agrees {text_agree}/{n}; \
         listed text exceptions {}; disagreements {}; reference drift {}",
        n - valid,
        exceptions.len(),
        disagreements.len(),
        reference_drift.len()
    );
    if !exceptions.is_empty() {
        println!(
            "listed text exceptions (allowed):\n  {}",
            exceptions.join("\n  ")
        );
    }
    println!(
        "digests (informational, masked in the comparison): {} of {digests} equal{}",
        digests - digest_differs.len(),
        if digest_differs.is_empty() {
            String::new()
        } else {
            format!("; differ: {}", digest_differs.join(", "))
        }
    );

    let mut report = String::new();
    if !reference_drift.is_empty() {
        let _ = write!(
            report,
            "\nnats-server no longer behaves as tests/configs/EXPECTED.tsv says ({}); \
             check the reference binary, then run `bash tests/configs/regen.sh`:\n  {}\n",
            reference_drift.len(),
            reference_drift.join("\n  ")
        );
    }
    if !disagreements.is_empty() {
        let _ = write!(
            report,
            "\ncanopy disagrees with nats-server on {} of {n} files:\n  {}\n",
            disagreements.len(),
            disagreements.join("\n  ")
        );
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn digest_masking() {
    let hex = "0123456789abcdef".repeat(4);
    assert_eq!(
        mask_digest(&format!("x is valid (sha256:{hex})\n")),
        "x is valid (sha256:<digest>)\n"
    );
    // Not 64 hex digits: left alone, so a malformed digest shows up as a diff.
    assert_eq!(mask_digest("(sha256:abc)"), "(sha256:abc)");
    assert_eq!(
        unescape(r"a\tb\\n\n\0"),
        "a\tb\\n\n\0",
        "EXPECTED.tsv escapes"
    );
}

/// Every seed-document snippet that nats-server -t accepts also starts
/// canopy, which names each block it does not implement yet in a warning
/// rather than ignoring it silently. The exceptions are the snippets that
/// nats-server itself refuses when it starts (not under -t): canopy refuses
/// them too, with the same message.
#[test]
fn seed_configs_start_canopy() {
    let root = canopy_tests::workspace_root();
    let dir = root.join("tests/configs");
    let expected = load_expected(&dir.join("EXPECTED.tsv"));
    let seeds: Vec<String> = corpus_files(&dir)
        .into_iter()
        .filter(|name| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            let header = text.lines().next().unwrap_or_default().to_ascii_lowercase();
            header.contains("seed") && expected.get(name).is_some_and(|e| e.code == 0)
        })
        .collect();
    assert!(seeds.len() >= 15, "only {} seed configs", seeds.len());
    let bin = Impl::Canopy.bin();
    let tmp = canopy_tests::TempDir::new("seed-start");
    let mut failures = Vec::new();
    for name in &seeds {
        // Servers run on 127.0.0.1 only: the snippets' leaf listeners (on
        // 0.0.0.0 by default) are moved there in a copy.
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let text = text.replace("0.0.0.0", "127.0.0.1");
        let mut local = String::new();
        for line in text.lines() {
            local.push_str(line);
            local.push('\n');
            let t = line.trim_start();
            if (t.starts_with("leafnodes") || t.starts_with("leaf ")) && t.ends_with('{') {
                local.push_str("  host: 127.0.0.1\n");
            }
        }
        let config = if local == format!("{text}\n") || local == text {
            root.join("tests/configs").join(name)
        } else {
            let copy = tmp.path().join(name);
            std::fs::write(&copy, &local).expect("writable temp dir");
            copy
        };
        let mut child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", "-1", "-c"])
            .arg(&config)
            .current_dir(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("canopy starts");
        let (out, t1) = collect(child.stdout.take());
        let (err, t2) = collect(child.stderr.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = || {
            let mut t = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
            t.push_str(&String::from_utf8_lossy(&err.lock().unwrap()));
            t
        };
        let outcome = loop {
            if text().contains("[INF] Server is ready") {
                break Ok(());
            }
            if let Some(status) = child.try_wait().unwrap() {
                break Err(format!("exited with {status}"));
            }
            if Instant::now() > deadline {
                break Err("neither ready nor exited".to_string());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = child.kill();
        let _ = child.wait();
        let _ = (t1.join(), t2.join());
        let log = text();
        // Checks nats-server makes when it starts (not under -t); observed
        // by starting the reference on 127.0.0.1 with these snippets.
        const START_TIME_REFUSALS: &[&str] = &[
            "remote leaf node configuration cannot have a mix of websocket and non-websocket urls",
            "cannot find local account \"TheAccount\" specified in leafnode authorization",
        ];
        let refused_at_start = START_TIME_REFUSALS.iter().any(|r| log.contains(r));
        match (outcome, refused_at_start) {
            (Ok(()), false) => {
                // A leaf listener is served; a block of only remotes
                // dials them.
                let has_leaf = local
                    .lines()
                    .any(|l| l.trim_start().starts_with("leafnodes"));
                let listens = log.contains("Listening for leafnode connections on 127.0.0.1:");
                if has_leaf && !listens && !local.contains("remotes") {
                    failures.push(format!(
                        "{name}: leafnodes block started without a leaf listener:\n{log}"
                    ));
                }
            }
            (Err(_), true) => {}
            (outcome, _) => failures.push(format!("{name}: {outcome:?}\n{log}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
