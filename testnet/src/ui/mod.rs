//! The fork-tree page of a testnet: the merged block tree of all its nodes,
//! live (`up`, `run`, `ui`) or played back from a finished run's log
//! (`ui --replay`). The page is the node's own (`/ui`), fed here from every
//! node at once.

mod hub;
mod replay;
mod server;
pub mod watch;

use anyhow::{Context, Result};
pub use hub::Hub;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the page listens unless told (a taken port falls back to a free one).
pub const DEFAULT_PORT: u16 = 8700;

#[derive(clap::Args, Debug)]
pub struct UiArgs {
    /// The testnet's folder.
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
    /// The page's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    ui_port: u16,
    /// Play back a finished run instead: a `run` or `compare` output folder,
    /// a simulated scenario's folder, or one event log (JSONL).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// With --replay of a simulated scenario: the seed to play (the first if
    /// left out).
    #[arg(long, requires = "replay")]
    seed: Option<u64>,
    /// Where to write the page's address once it listens (`up --detach`).
    #[arg(long, hide = true)]
    url_file: Option<PathBuf>,
}

/// A page fed live from a testnet; it stops being fed when dropped.
#[derive(Debug)]
pub struct Live {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    _watch: watch::Watch,
}

impl Live {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Puts a scenario's step on the page's timeline.
    pub fn step(&self, what: &str) {
        self.hub
            .push(None, serde_json::json!({"event": "step", "what": what}));
    }
}

/// Serves the page for the testnet in `dir` on `port` (a taken port falls
/// back to a free one) and feeds it until dropped; its lines also go to
/// `feed` for a replay.
pub fn live(
    dir: &Path,
    port: u16,
    feed: Option<&Path>,
    timeline: &[(String, String)],
) -> Result<Live> {
    let hub = Hub::new(feed)?;
    let addr = server::serve(hub.clone(), port, true, "testnet")?;
    let watch = watch::watch(dir, hub.clone(), timeline)?;
    Ok(Live {
        addr,
        hub,
        _watch: watch,
    })
}

/// `live`, for `up` and `run`: prints the page's address, or why there is
/// none (the nodes run on without it).
pub fn start(dir: &Path, port: u16, feed: &Path, timeline: &[(String, String)]) -> Option<Live> {
    match live(dir, port, Some(feed), timeline) {
        Ok(live) => {
            println!("fork tree: {}", live.url());
            Some(live)
        }
        Err(e) => {
            eprintln!("no fork-tree page: {e:#}");
            None
        }
    }
}

/// `generals-testnet ui`.
pub fn ui(args: UiArgs) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("installing the Ctrl-C handler")?;
    if let Some(path) = &args.replay {
        let lines = replay::load(path, args.seed)?;
        let n = lines.len();
        let addr = server::serve(Hub::replay(lines), args.ui_port, true, "replay")?;
        println!("replay of {} ({n} events): http://{addr}/", path.display());
        println!("Ctrl-C stops the page");
        let _ = rx.recv();
        return Ok(());
    }
    let live = live(
        &args.dir,
        args.ui_port,
        Some(&args.dir.join("feed.jsonl")),
        &[],
    )?;
    if let Some(f) = &args.url_file {
        std::fs::write(f, live.url())?;
    }
    println!("fork tree of {}: {}", args.dir.display(), live.url());
    println!("Ctrl-C stops the page (the nodes keep running)");
    // Until Ctrl-C, or until the testnet has stopped.
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        rx.recv_timeout(Duration::from_millis(1_000))
    {
        let state = crate::local::State::load(&args.dir)?;
        if !state.nodes.iter().any(|n| n.running()) {
            println!("every node has stopped");
            break;
        }
    }
    if let Some(f) = &args.url_file {
        let _ = std::fs::remove_file(f);
    }
    Ok(())
}

/// Puts a step taken by hand (`partition`, `heal`, `link`, `kill`,
/// `restart`) on the timeline of the testnet's page: a line of
/// `DIR/steps.jsonl`, which a live page follows.
pub fn note(dir: &Path, what: &str) {
    use std::io::Write;
    let line = serde_json::json!({"at_ms": generals_node::driver::now_ms(), "what": what});
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(watch::STEPS))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// `up --detach`: the page in a process of its own (`ui`), stopped by `down`;
/// returns its URL.
pub fn detached(dir: &Path, port: u16) -> Result<String> {
    let exe = std::env::current_exe().context("finding this program")?;
    let _ = std::fs::remove_file(dir.join("ui.url"));
    let log = std::fs::File::create(dir.join("ui.log"))?;
    let child = std::process::Command::new(exe)
        .args(["ui", "--dir"])
        .arg(dir)
        .args(["--ui-port", &port.to_string()])
        .arg("--url-file")
        .arg(dir.join("ui.url"))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the fork-tree page")?;
    std::fs::write(dir.join("ui.pid"), child.id().to_string())?;
    for _ in 0..100 {
        if let Ok(url) = std::fs::read_to_string(dir.join("ui.url")) {
            return Ok(url);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!(
        "the fork-tree page did not start; see {}",
        dir.join("ui.log").display()
    )
}

/// `down`: stops a detached page, if one runs.
pub fn stop_detached(dir: &Path) {
    let Some(pid) = std::fs::read_to_string(dir.join("ui.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    // The pid is this page's only while its command line says so.
    let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"ui"));
    if ours && crate::local::alive(pid as u32) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = std::fs::remove_file(dir.join("ui.pid"));
    let _ = std::fs::remove_file(dir.join("ui.url"));
}
