//! Running a node: the settings that override `config.toml`, and the start-up
//! that wires the ledger, engine, network, miner, API and driver together. Both
//! `generals-node run` and the testnet tool (which can run a node itself) use it.

use crate::api::{self, AppState};
use crate::config::{Home, NodeConfig, RunInfo, RECORD_KEY};
use crate::driver::{Driver, DriverParts};
use crate::metrics::Metrics;
use crate::miner::Miner;
use crate::{net, protocol::Topics};
use anyhow::{Context, Result};
use generals_chain::SledStore;
use generals_consensus::core::NodeCore;
use generals_consensus::factory::{self, Setup};
use generals_consensus::pow::WorkCheck;

use std::path::PathBuf;
use std::sync::Arc;

/// Settings that override config.toml.
#[derive(clap::Args, Debug, Default)]
pub struct Overrides {
    /// libp2p listen address, e.g. /ip4/127.0.0.1/tcp/0.
    #[arg(long)]
    pub listen: Option<String>,
    /// HTTP API address, e.g. 127.0.0.1:0.
    #[arg(long)]
    pub api: Option<String>,
    /// A peer to dial (repeatable): /ip4/HOST/tcp/PORT/p2p/PEER_ID.
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// Mine from the start.
    #[arg(long)]
    pub mine: bool,
    #[arg(long)]
    pub miner_threads: Option<usize>,
    /// Hashes per second across the miner threads.
    #[arg(long)]
    pub hashrate_limit: Option<u64>,
    /// Log filter when RUST_LOG is not set, e.g. info or debug.
    #[arg(long)]
    pub log: Option<String>,
    /// Run Byzantine: private-fork, selfish (pow); nothing-at-stake,
    /// equivocate (pos); equivocate, collude (poa); equivocate, split-vote,
    /// amnesia, silent (bft). Replaces the behaviour of config.toml's
    /// [byzantine], whose plan (peers, colluders, trigger) stays.
    #[arg(long, value_name = "BEHAVIOUR")]
    pub byzantine: Option<String>,
    /// Testing the signing record: SIGKILL this node after its K-th signed
    /// consensus message above the height it starts on (`--crash-delay-ms`
    /// later; nothing after that message leaves).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub crash_after_signed: Option<u64>,
    /// With `--crash-after-signed`: how long after handing that message to
    /// the network (0: at once, before it leaves).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        requires = "crash_after_signed"
    )]
    pub crash_delay_ms: u64,
    /// A weak-subjectivity checkpoint, HEIGHT:HASH: a block you trust (from
    /// a node you run, or a friend's). No other block at that height is
    /// taken, and no branch without it is final: a long-range fork is refused.
    #[arg(long, value_name = "HEIGHT:HASH")]
    pub checkpoint: Option<String>,
}

impl Overrides {
    pub fn apply(&self, c: &mut NodeConfig) {
        if let Some(v) = &self.listen {
            c.listen = v.clone();
        }
        if let Some(v) = &self.api {
            c.api = v.clone();
        }
        if !self.bootstrap.is_empty() {
            c.bootstrap = self.bootstrap.clone();
        }
        if self.mine {
            c.mine = true;
        }
        if let Some(v) = self.miner_threads {
            c.miner_threads = v;
        }
        if self.hashrate_limit.is_some() {
            c.hashrate_limit = self.hashrate_limit;
        }
        if let Some(v) = &self.log {
            c.log = v.clone();
        }
        if let Some(v) = &self.checkpoint {
            c.checkpoint = Some(v.clone());
        }
        if let Some(v) = &self.byzantine {
            // The behaviour from the command line; a plan in config.toml stays.
            let mut b = c.byzantine.take().unwrap_or_default();
            b.behaviour = v.clone();
            c.byzantine = Some(b);
        }
    }
}

/// Runs the node in `home` until SIGINT or SIGTERM.
pub fn run(home: PathBuf, overrides: Overrides) -> Result<()> {
    let h = Home::new(&home);
    let mut config = h.load_config()?;
    overrides.apply(&mut config);
    config.check().context("the node's settings")?;
    // Gossipsub warns of every repeat it drops; BFT gossip repeats on purpose.
    let filter = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| format!("{},libp2p_gossipsub=error", config.log));
    let logs = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_new(&filter).context("bad log filter")?,
    );
    match &config.log_file {
        Some(file) => {
            let path = h.dir.join(file);
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            logs.with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        None => logs.with_writer(std::io::stderr).init(),
    }
    // One thread: the host loop is one task and does the node's work in
    // order, so worker threads only added hand-offs. With four BFT nodes on
    // two cores, the futex wake-ups between the swarm's connection tasks and
    // the loop were the largest cost of a height; one thread makes about a
    // quarter more heights a second (`generals-testnet bench`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let crash = overrides
        .crash_after_signed
        .map(|after_signed| crate::crash::CrashPoint {
            after_signed,
            delay_ms: overrides.crash_delay_ms,
        });
    runtime.block_on(serve(h, config, crash))
}

async fn serve(h: Home, config: NodeConfig, crash: Option<crate::crash::CrashPoint>) -> Result<()> {
    let genesis = h.load_genesis()?;
    let genesis_block = genesis.block()?;
    let validator = h.validator()?;
    let store = SledStore::open(&h.ledger(), &genesis.chain_id, genesis_block.hash())?;
    // What this signer saved before it stopped (its signing record), if its
    // kind keeps one.
    let record = match factory::record_name(&genesis.consensus) {
        Some(name) => store.record(name)?.get(RECORD_KEY)?,
        None => None,
    };
    let weight = factory::weight(&genesis)?;
    let mut core =
        NodeCore::open(store, &genesis, weight, config.mempool).context("opening the ledger")?;
    if let Some(c) = &config.checkpoint {
        let cp = crate::config::parse_checkpoint(c)?;
        core.set_checkpoint(cp)
            .context("the ledger disagrees with --checkpoint; start from an empty home")?;
        tracing::info!(height = cp.height, hash = %cp.hash, "checkpoint set");
    }
    // The blocks the operator invalidated by hand stay invalid.
    for hash in crate::config::load_invalidated(core.ledger().store())? {
        match core.hold_invalid(hash) {
            Ok(_) => tracing::warn!(%hash, "held invalid by hand, as before the restart"),
            Err(e) => tracing::warn!(%hash, error = %e, "no longer held invalid by hand"),
        }
    }
    let identity = h.network_identity()?;
    let local = identity.public().to_peer_id();
    let plan = config
        .byzantine
        .as_ref()
        .map(|b| crate::byzantine::plan(&genesis, &validator, &local, b))
        .transpose()?;
    if let Some(p) = &plan {
        tracing::warn!(behaviour = %p.label, "this node runs Byzantine");
    }
    let (byzantine, trigger, plan_peers, label) = match plan {
        Some(p) => (Some(p.behaviour), p.trigger, p.peers, Some(p.label)),
        None => (None, Default::default(), Vec::new(), None),
    };
    let mut engine = factory::build(
        &genesis,
        Setup {
            key: validator.clone(),
            seed: rand::random(),
            work: WorkCheck::Real,
            record,
            byzantine,
            trigger,
        },
    )
    .context("starting the consensus engine")?;
    // The engine learns what the stored chain holds (stakes, validator
    // changes, the attestations blocks carry).
    if let Some(cp) = core.checkpoint() {
        engine.set_checkpoint(cp.hash);
    }
    let ledger = core.ledger();
    let start_height = ledger.tip().height;
    for height in 1..=ledger.tip().height {
        let block = ledger
            .block_at(height)?
            .with_context(|| format!("no stored block at height {height}"))?;
        engine.restore(&block);
    }
    tracing::info!(height = core.tip().height, tip = %core.tip().hash.short(), "ledger open");
    let topics = Topics::for_chain(&genesis.chain_id);
    let mut swarm = net::build_swarm(identity, &topics)?;
    let listen: libp2p::Multiaddr = config
        .listen
        .parse()
        .with_context(|| format!("listen address {:?}", config.listen))?;
    swarm.listen_on(listen).context("listening")?;
    let bootstrap = config
        .bootstrap
        .iter()
        .map(|b| {
            b.parse()
                .with_context(|| format!("bootstrap address {b:?}"))
        })
        .collect::<Result<Vec<libp2p::Multiaddr>>>()?;
    let (found_tx, found_rx) = tokio::sync::mpsc::unbounded_channel();
    let miner = Miner::start(config.miner_threads, config.hashrate_limit, found_tx)
        .with_context(|| format!("starting {} miner threads", config.miner_threads))?;
    let (api_tx, api_rx) = tokio::sync::mpsc::channel(256);
    let (events, _) = tokio::sync::broadcast::channel(1024);
    let (metrics, registry) = Metrics::new();
    let api_listener = tokio::net::TcpListener::bind(&config.api)
        .await
        .with_context(|| format!("binding the API to {}", config.api))?;
    let api_addr = api_listener.local_addr()?;
    let state = AppState::new(
        api_tx,
        events.clone(),
        Arc::new(registry),
        h.token()?,
        api_addr,
    );
    let header_timeout = std::time::Duration::from_millis(config.api_header_timeout_ms);
    tokio::spawn(api::serve::serve(
        api_listener,
        api::router(state),
        header_timeout,
    ));
    tracing::info!(api = %api_addr, "HTTP API listening");
    let peer_id = swarm.local_peer_id().to_string();
    let run_path = h.run_info();
    let chain_id = genesis.chain_id.clone();
    let on_listen = Box::new(move |addrs: &[libp2p::Multiaddr]| {
        let info = RunInfo {
            pid: std::process::id(),
            peer_id: peer_id.clone(),
            api: api_addr.to_string(),
            listen: addrs.iter().map(|a| format!("{a}/p2p/{peer_id}")).collect(),
            chain_id: chain_id.clone(),
        };
        let tmp = run_path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
        if std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, &run_path))
            .is_err()
        {
            tracing::warn!("could not write run.json");
        }
    });
    let driver = Driver::new(
        DriverParts {
            core,
            chain_id: genesis.chain_id.clone(),
            genesis: genesis_block.hash(),
            swarm,
            miner,
            found: found_rx,
            api: api_rx,
            events,
            metrics,
            validator,
            byzantine: label,
            plan_peers,
            names: genesis
                .validators
                .iter()
                .filter_map(|v| Some((v.key, v.name.clone()?)))
                .collect(),
            bootstrap,
            // A dev chain on demand mines only when asked, as regtest.
            mine: config.mine && genesis.production.is_scheduled(),
            on_demand: !genesis.production.is_scheduled(),
            on_listen,
            crash: crash.map(|c| crate::crash::Crasher::new(c, start_height)),
            peer_rate: config.max_peer_messages_per_second,
        },
        engine,
    );
    driver
        .run(shutdown_signal())
        .await
        .context("the node stopped")?;
    let _ = std::fs::remove_file(h.run_info());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
