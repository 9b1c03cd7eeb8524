//! What the fuzz targets share: an allocator that records the largest single
//! allocation, so a target can assert that decoding untrusted bytes never asks
//! for more memory at once than the decoder's limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, recording the largest allocation since the last
/// `bounded` began.
pub struct Peak;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// Runs `f` and fails the fuzz run if any one allocation during it was larger
/// than `limit` bytes.
pub fn bounded<R>(what: &str, limit: usize, f: impl FnOnce() -> R) -> R {
    LARGEST.store(0, Ordering::Relaxed);
    let out = f();
    let peak = LARGEST.load(Ordering::Relaxed);
    assert!(
        peak <= limit,
        "{what}: one allocation of {peak} bytes, over the limit of {limit}"
    );
    out
}

/// The engines the targets drive, each on a dev chain of four validators
/// (the fuzzed node is validator 0).
pub mod engines {
    use generals_chain::genesis::GenesisValidator;
    use generals_chain::{Genesis, Hash, Header, Keypair};
    use generals_consensus::engine::{Consensus, Headers, Input};
    use generals_consensus::factory::{build, Setup};
    use generals_consensus::pow::WorkCheck;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    pub const KINDS: [&str; 6] = ["pow", "pos", "poa", "bft", "dpos", "pbft"];

    /// The four validators' keys.
    pub fn keys() -> Vec<Keypair> {
        (0..4).map(|i| Keypair::dev(&format!("fuzz-{i}"))).collect()
    }

    /// The stored headers: the genesis only.
    pub struct Known(pub HashMap<Hash, Header>);

    impl Headers for Known {
        fn header(&self, hash: &Hash) -> Option<Header> {
            self.0.get(hash).cloned()
        }
    }

    /// The dev genesis of `kind` with the four validators, and its block's
    /// header; built once a kind, as they are the slow part of a start.
    fn genesis_of(kind: &str, keys: &[Keypair]) -> (Genesis, Header) {
        static MADE: OnceLock<Mutex<HashMap<String, (Genesis, Header)>>> = OnceLock::new();
        let made = MADE.get_or_init(Default::default);
        let mut made = made.lock().unwrap_or_else(|p| p.into_inner());
        made.entry(kind.to_string())
            .or_insert_with(|| {
                let mut genesis =
                    generals_node::config::dev_genesis(kind, &keys[0], Default::default()).expect("dev genesis");
                if kind != "pow" {
                    genesis.validators = keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| GenesisValidator {
                            key: k.public(),
                            stake: 1_000,
                            name: Some(format!("v{i}")),
                        })
                        .collect();
                }
                genesis.validate().expect("a valid genesis");
                let tip = genesis.block().expect("genesis block").header;
                (genesis, tip)
            })
            .clone()
    }

    /// An engine of `kind` at its genesis, told its tip.
    pub struct Engine {
        pub genesis: Genesis,
        pub tip: Header,
        pub known: Known,
        pub engine: Box<dyn Consensus>,
        pub now_ms: u64,
    }

    impl Engine {
        pub fn new(kind: &str, keys: &[Keypair]) -> Engine {
            let (genesis, tip) = genesis_of(kind, keys);
            let now_ms = tip.timestamp_ms;
            let mut engine = build(
                &genesis,
                Setup {
                    key: keys[0].clone(),
                    seed: 7,
                    work: WorkCheck::Real,
                    record: None,
                    byzantine: None,
                    trigger: Default::default(),
                },
            )
            .expect("an engine");
            let known = Known(HashMap::from([(tip.hash(), tip.clone())]));
            engine.handle(
                Input::NewTip {
                    tip: tip.clone(),
                    now_ms,
                },
                &known,
            );
            Engine {
                genesis,
                tip,
                known,
                engine,
                now_ms,
            }
        }

        pub fn handle(&mut self, input: Input) {
            let _ = self.engine.handle(input, &self.known);
        }
    }
}

/// Reads `data` as one request frame (`request`) or one response frame of a
/// libp2p request-response codec, as a peer's stream would deliver it, and
/// fails the run on any allocation over `limit`.
pub fn read_frame<C>(what: &str, limit: usize, protocol: &'static str, request: bool, data: &[u8])
where
    C: libp2p::request_response::Codec<Protocol = libp2p::StreamProtocol> + Default,
{
    let mut codec = C::default();
    let protocol = libp2p::StreamProtocol::new(protocol);
    bounded(what, limit, || {
        futures::executor::block_on(async {
            let mut io = futures::io::Cursor::new(data);
            if request {
                let _ = codec.read_request(&protocol, &mut io).await;
            } else {
                let _ = codec.read_response(&protocol, &mut io).await;
            }
        })
    });
}
