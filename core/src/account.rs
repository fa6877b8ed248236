//! Accounts: the unit of subject isolation. Every connection and every
//! subscription belongs to exactly one account; a message published in one
//! account is matched only against that account's index.

use crate::sublist::Sublist;

/// Index of an account inside the engine.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u32);

/// The global account's name.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// One account and its subject index.
#[derive(Debug)]
pub struct Account {
    /// The account name (`$G` for the global account).
    pub name: String,
    /// Subscriptions of this account.
    pub sublist: Sublist,
    /// Interest of route peers (`RS+`), kept apart from local
    /// subscriptions: a message goes to each interested route at most once.
    pub remote: Sublist,
    /// Interest of leaf links (`LS+`), kept apart like routes': a message
    /// goes to each interested leaf link at most once.
    pub leaf: Sublist,
    /// Interest of gateway peers (`RS+` on outbound gateway links), kept
    /// apart like routes'.
    pub gateway: Sublist,
}

impl Account {
    /// Creates an empty account whose index hashes with `hash_seed`.
    pub fn new(name: &str, hash_seed: u64) -> Self {
        Account {
            name: name.to_string(),
            sublist: Sublist::new(hash_seed),
            remote: Sublist::new(hash_seed.rotate_left(17)),
            leaf: Sublist::new(hash_seed.rotate_left(31)),
            gateway: Sublist::new(hash_seed.rotate_left(47)),
        }
    }
}
