//! Reloading `leafnodes {}` (SIGHUP), as nats-server 2.14+ does: the
//! listener's settings may not change; remotes, matched by name, may be
//! added, removed, disabled or enabled, and nothing else of a remote may
//! change.

use crate::engine::Server;
use crate::events::{CloseReason, LinkKind, TimerKey};
use crate::monitor::timefmt::go_duration;
use crate::options::{LeafOptions, RemoteLeafOptions};
use crate::time::Instant;

/// The refusal of a leafnodes change a running server cannot make
/// (nats-server's `field "X": old=..., new=...`, the first field in its
/// struct order), or `Ok` with the `Reloaded:` lines the remotes' changes
/// log.
pub(crate) fn leaf_reload_plan(
    old: Option<&LeafOptions>,
    new: Option<&LeafOptions>,
) -> Result<Vec<String>, String> {
    let none = LeafOptions::default();
    let (o, n) = (old.unwrap_or(&none), new.unwrap_or(&none));
    let field = |name: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
        Err(format!("field {name:?}: old={a}, new={b}"))
    };
    let (ou, op) = o.credentials.clone().unwrap_or_default();
    let (nu, np) = n.credentials.clone().unwrap_or_default();
    if o.host != n.host && !(old.is_none() || new.is_none()) {
        return field("Host", &o.host, &n.host);
    }
    if o.port != n.port && n.port != 0 {
        return field("Port", &o.port, &n.port);
    }
    if ou != nu {
        return field("Username", &ou, &nu);
    }
    if op != np {
        return field("Password", &"[REDACTED]", &"[REDACTED]");
    }
    if o.nkey != n.nkey {
        return field("Nkey", &o.nkey, &n.nkey);
    }
    if o.account != n.account {
        return field("Account", &o.account, &n.account);
    }
    if o.users != n.users {
        return field("Users", &o.users.len(), &n.users.len());
    }
    if o.auth_timeout != n.auth_timeout {
        return field(
            "AuthTimeout",
            &o.auth_timeout.as_secs_f64(),
            &n.auth_timeout.as_secs_f64(),
        );
    }
    if o.advertise != n.advertise {
        return field("Advertise", &o.advertise, &n.advertise);
    }
    if o.no_advertise != n.no_advertise {
        return field("NoAdvertise", &o.no_advertise, &n.no_advertise);
    }
    if o.reconnect != n.reconnect {
        return field(
            "ReconnectInterval",
            &go_duration(o.reconnect),
            &go_duration(n.reconnect),
        );
    }
    if o.min_version != n.min_version {
        return field("MinVersion", &o.min_version, &n.min_version);
    }
    if o.isolate != n.isolate {
        return field("IsolateLeafnodeInterest", &o.isolate, &n.isolate);
    }
    if o.dial_timeout != n.dial_timeout {
        return field(
            "DialTimeout",
            &go_duration(o.dial_timeout),
            &go_duration(n.dial_timeout),
        );
    }
    if o.write_timeout_close != n.write_timeout_close {
        let show = |close: bool| if close { "close" } else { "retry" };
        return field(
            "WriteTimeout",
            &show(o.write_timeout_close),
            &show(n.write_timeout_close),
        );
    }
    if o.write_deadline != n.write_deadline {
        let show = |d: Option<std::time::Duration>| go_duration(d.unwrap_or_default());
        return field(
            "WriteDeadline",
            &show(o.write_deadline),
            &show(n.write_deadline),
        );
    }
    let mut lines = Vec::new();
    for r in &o.remotes {
        match n.remotes.iter().find(|x| x.name == r.name) {
            None => lines.push(format!("Reloaded: LeafNode Remote {} removed", r.safe_name)),
            Some(x) => {
                remote_unchanged(r, x).map_err(|e| format!("remote {}: {e}", x.safe_name))?;
                if x.disabled != r.disabled {
                    lines.push(format!(
                        "Reloaded: LeafNode Remote {} Disabled value is: {}",
                        x.safe_name, x.disabled
                    ));
                }
            }
        }
    }
    Ok(lines)
}

/// nats-server's check that a kept remote changed nothing but what may
/// change (`disabled`, compression, TLS: the remote's next link takes
/// them; nats-server also moves a live link to a new compression level,
/// Canopy keeps it until the link is re-made).
fn remote_unchanged(o: &RemoteLeafOptions, n: &RemoteLeafOptions) -> Result<(), String> {
    let field = |name: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        Err(format!("field {name:?}: old={a:?}, new={b:?}"))
    };
    if o.no_randomize != n.no_randomize {
        return field("NoRandomize", &o.no_randomize, &n.no_randomize);
    }
    if o.hub != n.hub {
        return field("Hub", &o.hub, &n.hub);
    }
    if o.deny_imports != n.deny_imports {
        return field("DenyImports", &o.deny_imports, &n.deny_imports);
    }
    if o.deny_exports != n.deny_exports {
        return field("DenyExports", &o.deny_exports, &n.deny_exports);
    }
    if o.first_info_timeout != n.first_info_timeout {
        return field(
            "FirstInfoTimeout",
            &go_duration(o.first_info_timeout),
            &go_duration(n.first_info_timeout),
        );
    }
    if o.isolate != n.isolate {
        return field("LocalIsolation", &o.isolate, &n.isolate);
    }
    if o.request_isolation != n.request_isolation {
        return field(
            "RequestIsolation",
            &o.request_isolation,
            &n.request_isolation,
        );
    }
    Ok(())
}

impl Server {
    /// After a reload from `old` (already checked by [`leaf_reload_plan`]):
    /// removed or disabled remotes stop (their link closes, nothing is
    /// dialed again); added or enabled ones are dialed now; links keep
    /// their remote under its new index.
    pub(crate) fn reload_leafs(&mut self, old: Option<&LeafOptions>, now: Instant) {
        let old_remotes = old.map(|l| l.remotes.clone()).unwrap_or_default();
        let new_remotes = self
            .options
            .leaf
            .as_ref()
            .map(|l| l.remotes.clone())
            .unwrap_or_default();
        let old_targets = std::mem::take(&mut self.leafs.remotes);
        let mut targets: Vec<Option<usize>> = vec![None; new_remotes.len()];
        let mut moved: Vec<(usize, usize)> = Vec::new();
        for (oi, r) in old_remotes.iter().enumerate() {
            let target = old_targets.get(oi).copied().flatten();
            let kept = new_remotes.iter().position(|x| x.name == r.name);
            match kept {
                Some(ni) if !new_remotes[ni].disabled => {
                    targets[ni] = target;
                    moved.push((oi, ni));
                    if target.is_none() {
                        targets[ni] = self.start_remote(&new_remotes[ni], now);
                    }
                }
                Some(ni) => {
                    moved.push((oi, ni));
                    self.stop_remote(target, now);
                }
                None => self.stop_remote(target, now),
            }
        }
        for (ni, r) in new_remotes.iter().enumerate() {
            if !old_remotes.iter().any(|o| o.name == r.name) && !r.disabled {
                targets[ni] = self.start_remote(r, now);
            }
        }
        self.leafs.remotes = targets;
        // Each link is remapped on its own: the map's order does not matter.
        #[allow(clippy::disallowed_methods)]
        let links: Vec<_> = self.conns.keys().copied().collect();
        for id in links {
            if let Some(link) = self.conns.get_mut(&id).and_then(|c| c.leaf_mut()) {
                link.remote = link
                    .remote
                    .and_then(|oi| moved.iter().find(|(o, _)| *o == oi).map(|(_, n)| *n));
            }
        }
    }

    /// Adds a solicitor target for remote `r` and dials it now.
    fn start_remote(&mut self, r: &RemoteLeafOptions, now: Instant) -> Option<usize> {
        let shuffle = (!r.no_randomize).then_some(&mut self.dials_rng);
        let i = self
            .solicitor
            .add(LinkKind::Leaf, r.urls.clone(), true, String::new(), shuffle)?;
        self.timers.set(TimerKey::Dial(i as u32), now);
        Some(i)
    }

    /// Stops a remote's target: no more dials, and its link (or dial in
    /// progress) goes.
    fn stop_remote(&mut self, target: Option<usize>, now: Instant) {
        let Some(i) = target else {
            return;
        };
        self.timers.cancel(TimerKey::Dial(i as u32));
        let Some(t) = self.solicitor.get_mut(i) else {
            return;
        };
        t.done = true;
        let conn = t.conn.take();
        if let Some(c) = conn {
            if !self.solicitor.cancel(c) {
                self.close(c, CloseReason::ClientClosed, true, true, now);
            }
        }
    }
}
