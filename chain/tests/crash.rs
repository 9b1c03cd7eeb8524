//! Crash test: a child process imports blocks into a sled ledger and is killed
//! with SIGKILL at random moments. After every kill the ledger must reopen
//! consistent (hash chain intact, state matching the tip's root without a
//! rebuild), its tip a fully imported block (stored, indexed, with its undo
//! record), and no block the child acknowledged may be lost. At the end the
//! whole chain replays from genesis to the same state.
//!
//! GENERALS_CRASH_KILLS sets the number of kills (20 by default);
//! GENERALS_CRASH_SEED the seed of the kill moments.

mod common;

use common::*;
use generals_chain::{BlockStore, Genesis, Keypair, Ledger, SledStore, State};
use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "GENERALS_CRASH_CHILD";

fn world() -> (Genesis, Vec<Keypair>) {
    genesis(8, 1_000_000_000, 2)
}

/// The child: import blocks forever, printing each height once it is durable.
fn child(dir: &Path) -> ! {
    let (genesis, keys) = world();
    let rules = genesis.rules();
    let store = SledStore::open(
        dir,
        &genesis.chain_id,
        genesis.block().expect("genesis block").hash(),
    )
    .expect("child: open store");
    let (mut ledger, _) = Ledger::open(store, &genesis).expect("child: open ledger");
    let mut out = std::io::stdout().lock();
    loop {
        let tip = ledger.tip();
        let parent = ledger
            .block_at(tip.height)
            .expect("read")
            .expect("tip block");
        let txs = (0..6)
            .map(|i| {
                let from = &keys[(tip.height as usize + i) % keys.len()];
                let to = keys[(tip.height as usize + 3 * i + 1) % keys.len()].public();
                let nonce = ledger.state().get(&from.public()).map_or(0, |a| a.nonce);
                transfer(from, to, nonce, 1, 1 + i as u64)
            })
            .collect::<Vec<_>>();
        // Six transfers from six different senders: each nonce is the account's.
        let block = block_on(ledger.state(), &rules, &parent, keys[0].public(), txs);
        ledger.import(&block).expect("child: import");
        writeln!(out, "imported {}", block.height()).expect("child: stdout");
        out.flush().expect("child: flush stdout");
    }
}

fn check_after_kill(dir: &Path, genesis: &Genesis, acked: u64) -> u64 {
    let store = SledStore::open(
        dir,
        &genesis.chain_id,
        genesis.block().expect("genesis block").hash(),
    )
    .expect("reopen store after kill");
    let (ledger, report) = Ledger::open(store, genesis).expect("reopen ledger after kill");
    assert!(
        !report.rebuilt,
        "state disagreed with the tip after a kill: a write was not atomic"
    );
    let tip = ledger.tip();
    assert!(
        tip.height >= acked,
        "acknowledged block {acked} lost; tip is {}",
        tip.height
    );
    let block = ledger
        .store()
        .block(&tip.hash)
        .expect("read")
        .expect("tip block stored");
    assert_eq!(block.hash(), tip.hash);
    if tip.height > 0 {
        let undo = ledger
            .store()
            .undo(&tip.hash)
            .expect("read")
            .expect("tip undo record");
        assert_eq!(undo.block, tip.hash);
    }
    assert_eq!(ledger.state().root(), block.header.state_root);
    tip.height
}

fn parent() {
    let kills: u32 = std::env::var("GENERALS_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("GENERALS_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let (genesis, _) = world();
    let exe = std::env::current_exe().expect("own executable");
    let mut acked = 0u64;
    let mut height = 0u64;
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        // Kill moments span start-up (opening, the first genesis write) and imports.
        let wait = if kill < 3 {
            rng.gen_range(0..15)
        } else {
            rng.gen_range(5..120)
        };
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("reap child");
        let mut output = String::new();
        child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut output)
            .expect("read child output");
        for line in output.lines() {
            if let Some(h) = line.strip_prefix("imported ") {
                acked = acked.max(h.parse().expect("height"));
            }
        }
        assert!(
            status.code().is_none(),
            "kill {kill}: the child exited by itself ({status}) instead of being killed"
        );
        if !dir.join("LEDGER").exists() {
            continue; // killed before it wrote anything
        }
        height = check_after_kill(&dir, &genesis, acked);
    }
    // The whole chain replays from genesis to the stored state.
    let store = SledStore::open(
        &dir,
        &genesis.chain_id,
        genesis.block().expect("genesis block").hash(),
    )
    .expect("final open");
    let (ledger, _) = Ledger::open(store, &genesis).expect("final ledger");
    let mut state: State = genesis.state().expect("genesis state");
    for h in 1..=ledger.tip().height {
        let b = ledger.block_at(h).expect("read").expect("main chain block");
        state.apply_block(&b, &genesis.rules()).expect("replays");
    }
    assert_eq!(&state, ledger.state());
    assert!(height > 0, "no block was imported in {kills} runs");
    println!("crash test: {kills} SIGKILLs, final height {height}, last acknowledged {acked}: consistent");
    println!("1 passed, 0 failed");
}

fn main() {
    match std::env::var_os(CHILD_ENV) {
        Some(dir) => child(Path::new(&dir)),
        None => parent(),
    }
}
