//! Chains made for measuring: a proof-of-work genesis that funds `n` dev keys,
//! and blocks of transfers between them (the import bench and
//! `generals-testnet bench` build the same ones).

use crate::genesis::{GenesisAccount, PowParams};
use crate::state::Slashing;
use crate::{build_block, Action, Block, BlockTemplate, ConsensusSpec, Genesis, Keypair, TxBody};

/// A genesis of chain `chain_id` funding `n` dev keys (`{label}-{i}`) with
/// `balance` each, and the keys.
pub fn funded_genesis(
    chain_id: &str,
    label: &str,
    n: usize,
    balance: u64,
) -> (Genesis, Vec<Keypair>) {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| Keypair::dev(&format!("{label}-{i}")))
        .collect();
    let g = Genesis {
        chain_id: chain_id.to_string(),
        timestamp_ms: 1_700_000_000_000,
        consensus: ConsensusSpec::Pow(PowParams::default()),
        block_reward: 50,
        slashing: Slashing::default(),
        accounts: keys
            .iter()
            .map(|k| GenesisAccount {
                key: k.public(),
                balance,
            })
            .collect(),
        validators: Vec::new(),
        production: Default::default(),
    };
    (g, keys)
}

/// `blocks` blocks on `g` of `txs` transfers each, every sender once a block:
/// the first `txs` keys send in even blocks, the next `txs` in odd ones
/// (`keys` holds at least `2 * txs`).
pub fn transfer_blocks(
    g: &Genesis,
    keys: &[Keypair],
    blocks: usize,
    txs: usize,
) -> Result<Vec<Block>, String> {
    if keys.len() < 2 * txs {
        return Err(format!(
            "{} keys for {txs} transfers a block: {} needed",
            keys.len(),
            2 * txs
        ));
    }
    let rules = g.rules();
    let mut state = g.state().map_err(|e| e.to_string())?;
    let mut parent = g.block().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(blocks);
    for j in 0..blocks {
        let half = (j % 2) * txs;
        let body: Vec<_> = (0..txs)
            .map(|i| {
                let from = &keys[half + i];
                TxBody {
                    chain_id: g.chain_id.clone(),
                    sender: from.public(),
                    nonce: (j / 2) as u64,
                    fee: 3,
                    action: Action::Transfer {
                        to: keys[(half + i * 7 + j + 1) % keys.len()].public(),
                        amount: 1,
                    },
                }
                .sign(from)
            })
            .collect();
        let built = build_block(
            &state,
            &rules,
            BlockTemplate {
                parent: parent.hash(),
                height: parent.height() + 1,
                timestamp_ms: parent.header.timestamp_ms + 1_000,
                producer: keys[j % keys.len()].public(),
                consensus: vec![],
                max_txs: txs,
            },
            body,
            vec![],
        )
        .map_err(|e| e.to_string())?;
        state
            .apply_block(&built.block, &rules)
            .map_err(|e| e.to_string())?;
        parent = built.block.clone();
        out.push(built.block);
    }
    Ok(out)
}
