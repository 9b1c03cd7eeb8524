//! `generals-testnet`: writes genesis and keys for N nodes, runs them as real
//! processes, injects faults and attacks, and reports; `sim` runs the deterministic
//! simulator. The commands arrive with the node and the simulator; until then the
//! binary only says so.

fn main() -> std::process::ExitCode {
    eprintln!(
        "generals-testnet {}: the testnet arrives with the node; the chain core is built (see README.md)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::from(2)
}
