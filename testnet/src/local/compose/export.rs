//! `export compose DIR`: a testnet for several machines. The genesis and the
//! homes are written as `up` writes them; each node listens on every address
//! of its container and dials the others at their machines' addresses and
//! published ports. The folder holds a compose file with one service per
//! node and a README saying how to start it.

use super::file::{self, Remote};
use super::{API_PORT, P2P_PORT};
use crate::local::homes::{create, peer_id, Placement};
use crate::local::NetArgs;
use anyhow::{bail, Context, Result};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: Export,
}

#[derive(clap::Subcommand, Debug)]
enum Export {
    /// A compose file, genesis and node homes for nodes on several machines.
    Compose(ComposeExport),
}

#[derive(clap::Args, Debug)]
struct ComposeExport {
    /// The folder to write (new or empty).
    out: PathBuf,
    /// Each node's machine (IPv4), in node order; one address puts every
    /// node on that machine.
    #[arg(long, value_delimiter = ',', required = true)]
    hosts: Vec<Ipv4Addr>,
    /// Node K publishes its p2p port at this port + K on its machine.
    #[arg(long, default_value_t = 26656)]
    p2p_port: u16,
    /// Node K publishes its API at 127.0.0.1: this port + K on its machine.
    #[arg(long, default_value_t = 8645)]
    api_port: u16,
    /// The node image the machines run (load it there with `docker load`).
    #[arg(long, default_value = super::DEFAULT_IMAGE)]
    image: String,
    #[command(flatten)]
    net: NetArgs,
}

pub fn export(args: ExportArgs) -> Result<()> {
    let Export::Compose(args) = args.what;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .with_context(|| format!("reading {}", args.out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; export writes a new folder",
            args.out.display()
        );
    }
    let n = args.net.nodes + args.net.twin.len();
    if args.hosts.len() != 1 && args.hosts.len() != n {
        bail!("--hosts needs one address, or one for each of the {n} nodes (twins included)");
    }
    let ports = |k: usize, base: u16| {
        u16::try_from(base as usize + k).with_context(|| format!("port {base} + {k} is over 65535"))
    };
    let mut remotes = Vec::new();
    for k in 0..n {
        remotes.push(Remote {
            host: args.hosts[k.min(args.hosts.len() - 1)].to_string(),
            p2p: ports(k, args.p2p_port)?,
            api: ports(k, args.api_port)?,
        });
    }
    let seed = args.net.seed;
    let place = |i: usize, n: usize| Placement {
        listen: format!("/ip4/0.0.0.0/tcp/{P2P_PORT}"),
        api: format!("0.0.0.0:{API_PORT}"),
        bootstrap: (0..n)
            .filter(|j| *j != i)
            .filter_map(|j| {
                let id = peer_id(seed, j).ok()?;
                let r = &remotes[j];
                Some(format!("/ip4/{}/tcp/{}/p2p/{id}", r.host, r.p2p))
            })
            .collect(),
        log_file: Some("node.log".into()),
    };
    let (g, _) = create(&args.net, &args.out, &place)?;
    std::fs::write(
        args.out.join("docker-compose.yml"),
        file::export(&args.image, &remotes)?,
    )?;
    std::fs::write(
        args.out.join("README.md"),
        readme(&args.image, &remotes, &g.chain_id)?,
    )?;
    println!(
        "wrote {} nodes of {} to {}: docker-compose.yml, genesis.json, n0..n{}, README.md",
        n,
        args.net.consensus,
        args.out.display(),
        n - 1
    );
    println!(
        "on each machine: copy the folder, `docker load` the image, `docker-compose up -d nK` (see README.md)"
    );
    Ok(())
}

fn readme(image: &str, nodes: &[Remote], chain: &str) -> Result<String> {
    let mut r = String::new();
    writeln!(
        r,
        "# A generals testnet for several machines (chain {chain})\n"
    )?;
    writeln!(r, "| node | machine | p2p port | API (on that machine) |")?;
    writeln!(r, "|------|---------|----------|-----------------------|")?;
    for (k, n) in nodes.iter().enumerate() {
        writeln!(
            r,
            "| n{k} | {} | {} | http://127.0.0.1:{} |",
            n.host, n.p2p, n.api
        )?;
    }
    writeln!(
        r,
        "\n1. Make the image where the project is built and carry it over (no registry is needed):\n\n   \
         generals-testnet image --tag {image}\n   \
         docker save {image} | ssh MACHINE docker load\n\n\
         2. Copy this folder to every machine (`scp -r`); each needs only its own `nK` but the\n   \
         file names them all. Keep `nK/node.key`, `nK/validator.key` and `nK/admin_token` private.\n\n\
         3. On the machine of node K, in this folder: `GENERALS_UID=$(id -u) GENERALS_GID=$(id -g) docker-compose up -d nK`\n   \
         (the uid must own `nK`). The p2p port must be open between the machines.\n\n\
         4. Watch: `generals --node http://127.0.0.1:API status`, `tail -f nK/node.log`;\n   \
         stop: `docker-compose stop nK`, remove: `docker-compose rm -sf nK`.\n"
    )?;
    Ok(r)
}
