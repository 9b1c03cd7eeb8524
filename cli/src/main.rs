//! `generals`: the user's client for a generals node (keys, send, balance, mine,
//! forge, stake, status, tips, blocks, evidence) over the node's HTTP API. The
//! commands arrive with the node; until then the binary only says so.

fn main() -> std::process::ExitCode {
    eprintln!(
        "generals {}: the client arrives with the node; the chain core is built (see README.md)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::from(2)
}
