//! Account state and its transition. Applying a block returns an undo record, and
//! undoing it restores the state exactly, commitment included; a block that breaks
//! any rule leaves the state untouched.
//!
//! - `commitment`: the incremental state commitment (LtHash).
//! - `apply`: the rules, through an overlay of the accounts a block touches.

mod apply;
mod commitment;

pub use apply::{verify_signatures, BlockError, Execution, Overlay, TxError};
pub use commitment::LtHash;

use crate::crypto::PublicKey;
use crate::hash::Hash;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// Spendable coins.
    pub balance: u64,
    /// Count of transactions this account has sent.
    pub nonce: u64,
    /// Coins bonded as stake.
    pub bonded: u64,
    /// Coins unbonded but not yet free: still slashable until `unbonding_until_ms`.
    pub unbonding: u64,
    /// When `unbonding` returns to the balance (a block stamped at or after it).
    pub unbonding_until_ms: u64,
    /// Set when evidence of misbehaviour was included against this key.
    pub jailed: bool,
}

/// The rules of one chain that the state transition needs, from its genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRules {
    pub chain_id: String,
    /// Minted to each block's producer.
    pub block_reward: u64,
    pub slashing: Slashing,
    /// How long unbonded stake stays slashable before it returns to the balance;
    /// zero returns it at once.
    #[serde(default)]
    pub unbonding_delay_ms: u64,
}

/// What evidence costs the offender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields, default)]
pub struct Slashing {
    /// Off, evidence is recorded but costs nothing: the experiment that shows
    /// what slashing prevents.
    pub enabled: bool,
    /// Share of the offender's bonded stake taken, in parts per million.
    pub fraction_ppm: u32,
    /// Share of the slashed amount paid to the producer that included the evidence.
    pub whistleblower_ppm: u32,
}

impl Default for Slashing {
    fn default() -> Self {
        Slashing {
            enabled: true,
            fraction_ppm: 100_000,
            whistleblower_ppm: 100_000,
        }
    }
}

/// What a block changed: each touched account's value before it, `None` where the
/// account did not exist. Sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Undo {
    pub block: Hash,
    pub prior: Vec<(PublicKey, Option<Account>)>,
}

/// Read access to accounts, for the mempool and the block builder.
pub trait AccountView {
    fn account(&self, key: &PublicKey) -> Option<Account>;
}

/// All accounts and their commitment.
#[derive(Clone, Debug)]
pub struct State {
    accounts: HashMap<PublicKey, Account>,
    commitment: LtHash,
    /// `commitment.root()`, kept in step.
    root: Hash,
}

impl Default for State {
    fn default() -> Self {
        let commitment = LtHash::default();
        State {
            accounts: HashMap::new(),
            root: commitment.root(),
            commitment,
        }
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.accounts == other.accounts && self.commitment == other.commitment
    }
}

impl Eq for State {}

impl AccountView for State {
    fn account(&self, key: &PublicKey) -> Option<Account> {
        self.accounts.get(key).copied()
    }
}

impl State {
    /// A state holding `accounts`; the commitment is computed once over all of them.
    pub fn from_accounts(accounts: impl IntoIterator<Item = (PublicKey, Account)>) -> State {
        let mut s = State::default();
        for (k, a) in accounts {
            s.set(k, Some(a));
        }
        s.root = s.commitment.root();
        s
    }

    pub fn get(&self, key: &PublicKey) -> Option<&Account> {
        self.accounts.get(key)
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PublicKey, &Account)> {
        self.accounts.iter()
    }

    /// The commitment carried in headers as `state_root`.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Sum of balances and bonded stake.
    pub fn total_supply(&self) -> u128 {
        self.accounts
            .values()
            .map(|a| a.balance as u128 + a.bonded as u128)
            .sum()
    }

    fn set(&mut self, key: PublicKey, value: Option<Account>) {
        if let Some(old) = self.accounts.get(&key) {
            self.commitment.remove(&key, old);
        }
        match value {
            Some(a) => {
                self.commitment.insert(&key, &a);
                self.accounts.insert(key, a);
            }
            None => {
                self.accounts.remove(&key);
            }
        }
    }

    /// Makes an execution's changes the state (its commitment was computed then).
    /// Refuses an execution computed on another state.
    pub fn commit(&mut self, exec: &Execution) -> Result<(), BlockError> {
        let now = self.root();
        if exec.base_root != now {
            return Err(BlockError::Stale {
                computed_on: exec.base_root,
                now,
            });
        }
        for (k, a) in &exec.changes {
            self.accounts.insert(*k, *a);
        }
        self.commitment = exec.commitment.clone();
        self.root = exec.state_root;
        Ok(())
    }

    /// Restores what a block changed.
    pub fn undo(&mut self, undo: &Undo) {
        for (k, prior) in &undo.prior {
            self.set(*k, *prior);
        }
        self.root = self.commitment.root();
    }
}
