//! `generals-node`: runs one generals node. The node arrives with the networking work;
//! until then the binary only says so.

fn main() -> std::process::ExitCode {
    eprintln!(
        "generals-node {}: the node is not built yet; the chain core is (see README.md)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::from(2)
}
