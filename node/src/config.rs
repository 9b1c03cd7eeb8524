//! A node's home folder and its configuration.
//!
//! Layout of `--home DIR`:
//! - `config.toml`: listen address, bootstrap peers, API address, miner;
//! - `genesis.json`: the chain's genesis;
//! - `node_key.json`: the network identity (libp2p peer id);
//! - `validator_key.json`: the key that receives rewards and signs blocks;
//! - `admin_token`: the token of the admin API calls (mode 0600);
//! - `ledger/`: the sled ledger;
//! - `run.json`: written at start: the actual API and listen addresses, peer id, pid.

use anyhow::{bail, Context, Result};
use generals_chain::crypto::{read_key_file, write_key_file};
use generals_chain::genesis::{GenesisAccount, GenesisValidator, PowParams, Production};
use generals_chain::state::Slashing;
use generals_chain::SledStore;
use generals_chain::{ConsensusSpec, Genesis, Keypair, MempoolConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The key a signing record is kept under, in its own sled tree in the
/// ledger's database (one tree per record name).
pub const RECORD_KEY: &str = "record";

/// `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// libp2p listen address; port 0 picks a free one.
    pub listen: String,
    /// Peers to dial at start and whenever disconnected: `/ip4/.../tcp/.../p2p/<id>`.
    pub bootstrap: Vec<String>,
    /// HTTP API address; port 0 picks a free one (see `run.json`).
    pub api: String,
    /// Mine from the start.
    pub mine: bool,
    /// Miner threads: at most this machine's cores unless `miner_threads_force`.
    pub miner_threads: usize,
    /// Allow more miner threads than cores (at most `MAX_MINER_THREADS`).
    pub miner_threads_force: bool,
    /// How long the API waits for a request's headers before it closes the
    /// connection, in ms.
    pub api_header_timeout_ms: u64,
    /// Hashes per second across all miner threads (none: as fast as possible).
    pub hashrate_limit: Option<u64>,
    /// `RUST_LOG`-style filter when RUST_LOG is not set.
    pub log: String,
    /// Append the log to this file (relative to the home) instead of
    /// writing it to stderr, as the testnet's containers do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    pub mempool: MempoolConfig,
    /// Messages (gossip, direct sends and sync requests together) one peer
    /// may send in a second before it is cut off; 100 to 1,000,000.
    pub max_peer_messages_per_second: u32,
    /// Makes this node Byzantine (`crate::byzantine`); absent: honest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<crate::byzantine::ByzantineConfig>,
    /// A weak-subjectivity checkpoint, `HEIGHT:HASH`: a block this node's
    /// operator trusts. No other block at that height is taken, and only its
    /// branch can be final (the answer to a long-range attack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// Reads a checkpoint, `HEIGHT:HASH` (the hash in full, 64 hex digits).
pub fn parse_checkpoint(text: &str) -> Result<generals_chain::store::Tip, ConfigError> {
    let bad = |why: &str| ConfigError::Checkpoint(format!("{text:?}: {why}"));
    let (height, hash) = text
        .split_once(':')
        .ok_or_else(|| bad("write it as HEIGHT:HASH"))?;
    let height: u64 = height
        .trim()
        .parse()
        .map_err(|_| bad("the height is not a number"))?;
    if height == 0 {
        return Err(bad("height 0 is the genesis block, which every node has"));
    }
    let hash: generals_chain::Hash = hash
        .trim()
        .parse()
        .map_err(|_| bad("the hash is not 64 hex digits"))?;
    Ok(generals_chain::store::Tip { height, hash })
}

/// Miner threads, even when forced.
pub const MAX_MINER_THREADS: usize = 1_024;

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "miner_threads = {threads} is more than this machine's {cores} cores; \
         use at most {cores}, or set miner_threads_force = true (up to {MAX_MINER_THREADS})"
    )]
    TooManyThreads { threads: usize, cores: usize },
    #[error("miner_threads = {threads} is over the limit of {MAX_MINER_THREADS}")]
    OverThreadLimit { threads: usize },
    #[error("api_header_timeout_ms = {0} must be 1 to 600000")]
    HeaderTimeout(u64),
    #[error("max_peer_messages_per_second = {0} must be 100 to 1000000")]
    PeerRate(u32),
    #[error("checkpoint {0}")]
    Checkpoint(String),
}

/// Largest config.toml read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl NodeConfig {
    /// Parses and checks the text of a config.toml.
    pub fn parse(text: &str) -> Result<NodeConfig> {
        let config: NodeConfig = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Refuses settings that cannot work, naming the setting.
    pub fn check(&self) -> Result<(), ConfigError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.miner_threads > MAX_MINER_THREADS {
            return Err(ConfigError::OverThreadLimit {
                threads: self.miner_threads,
            });
        }
        if self.miner_threads > cores && !self.miner_threads_force {
            return Err(ConfigError::TooManyThreads {
                threads: self.miner_threads,
                cores,
            });
        }
        if !(1..=600_000).contains(&self.api_header_timeout_ms) {
            return Err(ConfigError::HeaderTimeout(self.api_header_timeout_ms));
        }
        if !(100..=1_000_000).contains(&self.max_peer_messages_per_second) {
            return Err(ConfigError::PeerRate(self.max_peer_messages_per_second));
        }
        if let Some(c) = &self.checkpoint {
            parse_checkpoint(c)?;
        }
        Ok(())
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            bootstrap: Vec::new(),
            api: "127.0.0.1:8645".into(),
            mine: false,
            miner_threads: 1,
            miner_threads_force: false,
            api_header_timeout_ms: 10_000,
            hashrate_limit: None,
            log: "info".into(),
            log_file: None,
            mempool: MempoolConfig::default(),
            max_peer_messages_per_second: crate::driver::MAX_PEER_MESSAGES_PER_SECOND,
            byzantine: None,
            checkpoint: None,
        }
    }
}

/// The files of a home folder.
#[derive(Clone, Debug)]
pub struct Home {
    pub dir: PathBuf,
}

/// What a running node writes about itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    pub pid: u32,
    pub peer_id: String,
    pub api: String,
    pub listen: Vec<String>,
    pub chain_id: String,
}

impl Home {
    pub fn new(dir: &Path) -> Home {
        Home {
            dir: dir.to_owned(),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.json")
    }
    pub fn node_key(&self) -> PathBuf {
        self.dir.join("node_key.json")
    }
    pub fn validator_key(&self) -> PathBuf {
        self.dir.join("validator_key.json")
    }
    pub fn admin_token(&self) -> PathBuf {
        self.dir.join("admin_token")
    }
    pub fn ledger(&self) -> PathBuf {
        self.dir.join("ledger")
    }
    pub fn run_info(&self) -> PathBuf {
        self.dir.join("run.json")
    }

    pub fn load_config(&self) -> Result<NodeConfig> {
        let path = self.config();
        let first = || {
            format!(
                "reading {} (run `generals-node init --home {}` first)",
                path.display(),
                self.dir.display()
            )
        };
        let len = std::fs::metadata(&path).with_context(first)?.len();
        if len > MAX_CONFIG_BYTES {
            bail!(
                "{} is {len} bytes, over the limit of {MAX_CONFIG_BYTES}",
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path).with_context(first)?;
        NodeConfig::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn save_config(&self, config: &NodeConfig) -> Result<()> {
        let text = toml::to_string_pretty(config).context("serializing the config")?;
        std::fs::write(self.config(), text)
            .with_context(|| format!("writing {}", self.config().display()))
    }

    pub fn load_genesis(&self) -> Result<Genesis> {
        Genesis::load(&self.genesis())
            .with_context(|| format!("loading {}", self.genesis().display()))
    }

    pub fn validator(&self) -> Result<Keypair> {
        read_key_file(&self.validator_key()).context("reading the validator key")
    }

    pub fn network_identity(&self) -> Result<libp2p::identity::Keypair> {
        let key = read_key_file(&self.node_key()).context("reading the node key")?;
        identity_of(&key)
    }

    /// The admin token. One that others may read is made private (mode
    /// 0600) with a warning; an empty or short one is refused.
    pub fn token(&self) -> Result<String> {
        let path = self.admin_token();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta =
                std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private", path.display()))?;
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the admin token was readable by others; it is now mode 600 (anyone who read it could change this node: replace it)"
                );
            }
        }
        let t = std::fs::read_to_string(&path).context("reading the admin token")?;
        let t = t.trim().to_string();
        if t.len() < 16 {
            anyhow::bail!(
                "{} holds {} characters; a token needs at least 16",
                path.display(),
                t.len()
            );
        }
        Ok(t)
    }
}

/// A one-node development genesis of `kind`, funding the validator and four dev
/// accounts (`Keypair::dev("dev-0")`..`dev-3`).
pub fn dev_genesis(kind: &str, validator: &Keypair, production: Production) -> Result<Genesis> {
    let mut consensus = ConsensusSpec::default_for(kind)?;
    if let ConsensusSpec::Pow(p) = &mut consensus {
        *p = PowParams {
            target_block_ms: 2_000,
            initial_difficulty: 1 << 18,
            halflife_ms: 60_000,
            max_future_drift_ms: 15_000,
        };
    }
    let mut accounts = vec![GenesisAccount {
        key: validator.public(),
        balance: 1_000_000_000,
    }];
    accounts.extend((0..4).map(|i| GenesisAccount {
        key: Keypair::dev(&format!("dev-{i}")).public(),
        balance: 1_000_000_000,
    }));
    let validators = if kind == "pow" {
        Vec::new()
    } else {
        vec![GenesisValidator {
            key: validator.public(),
            stake: 1_000,
            name: Some("dev".into()),
        }]
    };
    let g = Genesis {
        chain_id: "generals-dev".into(),
        // Now, so the first blocks are mined on schedule.
        timestamp_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        consensus,
        block_reward: 50,
        slashing: Slashing::default(),
        accounts,
        validators,
        production,
    };
    g.validate()?;
    Ok(g)
}

fn write_private(path: &Path, body: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(body)?;
    Ok(())
}

/// `generals-node init`: writes keys, config, admin token and genesis into `dir`.
pub fn init(
    dir: &Path,
    genesis: Option<&Path>,
    kind: &str,
    production: Production,
    config: NodeConfig,
) -> Result<Home> {
    let home = Home::new(dir);
    if home.config().exists() {
        bail!(
            "{} already holds a node (config.toml exists); choose another --home",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_key_file(&home.node_key(), &Keypair::generate())?;
    let validator = Keypair::generate();
    write_key_file(&home.validator_key(), &validator)?;
    let token: [u8; 16] = rand::random();
    write_private(&home.admin_token(), hex::encode(token).as_bytes())?;
    let g = match genesis {
        Some(path) => Genesis::load(path).with_context(|| format!("loading {}", path.display()))?,
        None => dev_genesis(kind, &validator, production)?,
    };
    std::fs::write(home.genesis(), g.to_json())?;
    home.save_config(&config)?;
    Ok(home)
}

/// The record that keeps the blocks an operator invalidated by hand.
const INVALIDATED: &str = "invalidated";

/// Saves (and flushes) the blocks invalidated by hand.
pub fn save_invalidated(store: &SledStore, hashes: &[generals_chain::Hash]) -> Result<()> {
    let bytes = generals_chain::codec::encode(&hashes.to_vec());
    store.record(INVALIDATED)?.put(RECORD_KEY, &bytes)?;
    Ok(())
}

/// The blocks invalidated by hand before the node stopped.
pub fn load_invalidated(store: &SledStore) -> Result<Vec<generals_chain::Hash>> {
    // At most `MAX_MANUAL` hashes of 32 bytes, and a length.
    const LIMIT: usize = generals_consensus::core::MAX_MANUAL * 32 + 16;
    match store.record(INVALIDATED)?.get(RECORD_KEY)? {
        None => Ok(Vec::new()),
        Some(bytes) => Ok(generals_chain::codec::decode::<_, LIMIT>(
            "blocks invalidated by hand",
            &bytes,
        )?),
    }
}

/// The network identity a node key gives.
pub fn identity_of(node_key: &Keypair) -> Result<libp2p::identity::Keypair> {
    libp2p::identity::Keypair::ed25519_from_bytes(node_key.secret_bytes())
        .context("deriving the network identity from the node key")
}

/// The peer id of a node with this node key.
pub fn peer_id_of(node_key: &Keypair) -> Result<String> {
    Ok(identity_of(node_key)?.public().to_peer_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_height_colon_hash_and_bad_ones_are_named() {
        let hash = generals_chain::Hash::digest(b"block");
        let cp = parse_checkpoint(&format!("12:{hash}")).expect("good");
        assert_eq!((cp.height, cp.hash), (12, hash));
        for (text, why) in [
            ("12", "HEIGHT:HASH"),
            ("x:00", "not a number"),
            (&format!("0:{hash}")[..], "genesis"),
            ("5:abc", "64 hex digits"),
        ] {
            let err = parse_checkpoint(text).expect_err(text).to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let bad = NodeConfig::parse("checkpoint = \"7\"\n").expect_err("checked");
        assert!(format!("{bad:#}").contains("HEIGHT:HASH"), "{bad:#}");
    }
}
