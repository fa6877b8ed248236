//! `--operator` worlds, the world's side: the wall clock each engine
//! incarnation is told at its start, each client's account (its subjects
//! named into the account's part of the checker's subject space), and the
//! rogue clients, whose every login must be refused with
//! `-ERR 'Authorization Violation'` and a close, never a PONG or a
//! message.

use super::World;
use crate::client_model::Note;
use crate::operator::in_account;
use bytes::Bytes;
use std::collections::BTreeMap;

/// What an operator world knows of its accounts and clients.
#[derive(Debug, Default)]
pub(super) struct OperatorWorld {
    /// The system account's public key.
    system: String,
    /// The account of each workload client.
    account: BTreeMap<usize, String>,
    /// The rogue clients -> the connection that was last refused.
    rogues: BTreeMap<usize, Option<u64>>,
}

impl World {
    /// Makes this an `--operator` world whose system account is `system`
    /// (before [`World::start`]): every engine incarnation is told the
    /// virtual wall clock as it starts.
    pub fn enable_operator(&mut self, system: String) {
        self.operator = Some(OperatorWorld {
            system,
            ..OperatorWorld::default()
        });
    }

    /// Client `c` logs in as a user of `account`.
    pub fn set_client_account(&mut self, c: usize, account: &str) {
        if let Some(op) = self.operator.as_mut() {
            op.account.insert(c, account.to_string());
        }
    }

    /// Client `c` is a rogue: each of its logins must be refused.
    pub fn set_rogue(&mut self, c: usize) {
        if let Some(op) = self.operator.as_mut() {
            op.rogues.insert(c, None);
        }
    }

    /// Whether client `c` is a rogue (never settles, never owed anything).
    pub fn is_rogue(&self, c: usize) -> bool {
        self.operator
            .as_ref()
            .is_some_and(|op| op.rogues.contains_key(&c))
    }

    /// Whether rogue `c` stays down: once activity stops, rogues stop
    /// trying.
    pub(super) fn rogue_idle(&self, c: usize) -> bool {
        self.is_rogue(c) && !self.clients[c].active
    }

    /// The name of the system account (`$SYS` outside operator worlds).
    pub(super) fn system_account_name(&self) -> &str {
        self.operator.as_ref().map_or("$SYS", |op| &op.system)
    }

    /// A new engine incarnation of `node`: its wall clock.
    pub(super) fn operator_engine_started(&mut self, node: usize) {
        if self.operator.is_none() {
            return;
        }
        let now = self.now();
        let wall = crate::tls::wall_nanos(now);
        self.engine(node, |s| s.handle_wall_clock(wall, now));
    }

    /// Route interest an engine holds, as the model names it: the system
    /// account's and `$SYS.` subjects dropped, every other account's
    /// subjects in its part of the subject space.
    pub(super) fn operator_route_interest(
        &self,
        got: Vec<(String, String, Option<String>, u32)>,
    ) -> Vec<(String, String, Option<String>, u32)> {
        let Some(op) = self.operator.as_ref() else {
            return got;
        };
        let mut out: Vec<_> = got
            .into_iter()
            .filter(|(a, s, _, _)| *a != op.system && !s.starts_with("$SYS."))
            .map(|(a, s, q, w)| ("$G".to_string(), in_account(&a, &s), q, w))
            .collect();
        out.sort();
        out
    }

    /// Client `c`'s notes as the checker is to see them: a rogue's none
    /// (what it saw is checked here), an account client's with every
    /// subject in its account's part of the subject space, and a delivery
    /// of another account's message a violation.
    pub(super) fn operator_notes(&mut self, c: usize, mut notes: Vec<Note>) -> Vec<Note> {
        let Some(op) = self.operator.as_ref() else {
            return notes;
        };
        if op.rogues.contains_key(&c) {
            self.rogue_notes(c, notes);
            return Vec::new();
        }
        let Some(account) = op.account.get(&c).cloned() else {
            return notes;
        };
        let account_of = |w: &World, c: u32| {
            w.operator
                .as_ref()
                .and_then(|op| op.account.get(&(c as usize)).cloned())
        };
        let name = |s: &str| in_account(&account, s);
        let bytes = |b: &Bytes| Bytes::from(name(&String::from_utf8_lossy(b)));
        for note in &mut notes {
            match note {
                Note::Sub { pattern, .. } => *pattern = name(pattern),
                Note::Pub { subject, reply, .. } => {
                    *subject = name(subject);
                    if let Some(r) = reply.as_mut() {
                        *r = name(r);
                    }
                }
                Note::Delivery {
                    subject,
                    reply,
                    key,
                    ..
                } => {
                    let from = key.and_then(|k| account_of(self, k.client));
                    if let (Some(key), Some(from)) = (*key, from) {
                        if from != account {
                            self.checker.violation(format!(
                                "account isolation broken: client {c} (account {account}) got \
                                 {key} on {}, published in account {from}",
                                String::from_utf8_lossy(subject)
                            ));
                        }
                    }
                    *subject = bytes(subject);
                    if let Some(r) = reply.as_mut() {
                        *r = bytes(r);
                    }
                }
                Note::Unsub { .. } | Note::ServerError(_) | Note::Bug(_) => {}
            }
        }
        notes
    }

    /// What rogue `c` saw: `-ERR 'Authorization Violation'` is its
    /// refusal; a PONG, a message or any other error means it got in.
    fn rogue_notes(&mut self, c: usize, notes: Vec<Note>) {
        let conn = self.client_conn[c];
        for note in notes {
            match note {
                Note::ServerError(text) if text == "Authorization Violation" => {
                    self.stats.rogue_refusals += 1;
                    if let Some(op) = self.operator.as_mut() {
                        op.rogues.insert(c, conn);
                    }
                }
                Note::Delivery { subject, .. } => self.checker.violation(format!(
                    "rogue client {c} was admitted: it got a message on {}",
                    String::from_utf8_lossy(&subject)
                )),
                Note::ServerError(text) => self.checker.violation(format!(
                    "rogue client {c} got -ERR '{text}', not 'Authorization Violation'"
                )),
                Note::Bug(text) => self
                    .checker
                    .violation(format!("client {c} could not parse the server: {text}")),
                Note::Sub { .. } | Note::Unsub { .. } | Note::Pub { .. } => {}
            }
        }
        if self.clients[c].pongs() > 0 {
            self.checker.violation(format!(
                "rogue client {c} was admitted: its CONNECT with a bad login got a PONG"
            ));
        }
    }

    /// At quiescence: every connection a rogue was refused on is closed
    /// by its engine.
    pub(super) fn rogue_check(&mut self) {
        let Some(op) = self.operator.as_ref() else {
            return;
        };
        let open: Vec<(usize, u64)> = op
            .rogues
            .iter()
            .filter_map(|(&c, &id)| Some((c, id?)))
            .filter(|(_, id)| self.conns.get(id).is_some_and(|k| k.engine_open))
            .collect();
        for (c, id) in open {
            self.checker.violation(format!(
                "rogue client {c}: its engine refused connection {id} but did not close it"
            ));
        }
    }
}
