//! The fork-tree page in a real browser (headless Chromium over the DevTools
//! protocol): a testnet of four proof-of-work nodes is split in two halves
//! and healed while one page stays open; the page's DOM shows two active
//! branches during the split, and one afterwards with the other marked
//! orphaned. The node's own page and a replay of the run show the same, and a
//! simulated selfish miner's replay shows its withheld blocks.

mod browser;
mod common;

use browser::Browser;
use common::{serial, testnet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A foreground command whose stdout is read until it prints `marker`;
/// Ctrl-C (SIGINT) stops it when dropped.
struct Foreground {
    child: Child,
    dir: Option<String>,
}

impl Foreground {
    /// Starts `generals-testnet args` and returns it with the rest of the
    /// line that starts with `marker`.
    fn start(args: &[&str], marker: &str, dir: Option<&str>) -> (Foreground, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start generals-testnet");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let wanted = marker.to_string();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.find(&wanted).map(|i| &line[i + wanted.len()..]) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let fg = Foreground {
            child,
            dir: dir.map(String::from),
        };
        let found = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("{args:?} never printed {marker:?}"));
        (fg, found)
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = testnet(&["down", "--dir", dir]);
        }
    }
}

/// What the nodes say of themselves (height, tip, peers) and the network
/// lines of their logs, for a failure's message.
fn diagnosis(dir: &str) -> String {
    let status = testnet(&["status", "--dir", dir]);
    let mut out = String::from_utf8_lossy(&status.stdout).into_owned();
    for i in 0..4 {
        let log = Path::new(dir).join(format!("n{i}")).join("node.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                ["connected", "block", "dial", "reorg", "sync", "closing"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect();
        out.push_str(&format!("--- n{i} ({} lines)\n", lines.len()));
        for l in &lines[lines.len().saturating_sub(40)..] {
            out.push_str(l);
            out.push('\n');
        }
        // A panic, with the frames that say where.
        if let Some(at) = text.find("panicked") {
            let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let panic: Vec<&str> = text[from..].lines().take(60).collect();
            out.push_str(&panic.join("\n"));
            out.push('\n');
        }
    }
    out
}

fn shot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The page's own summary of its tree.
const TREE: &str = "document.getElementById('tree').dataset";

/// Two active branches, the tips of n0 and n1 on one and of n2 and n3 on the
/// other.
const SPLIT: &str = "(() => {
  const d = document.getElementById('tree').dataset;
  const labels = [...document.querySelectorAll('.tiplabel')].map(e => e.textContent);
  const mixed = labels.some(l => /n[01]\\b/.test(l) && /n[23]\\b/.test(l));
  return d.activeBranches === '2' && document.querySelectorAll('.block.active.leaf').length === 2
    && !mixed && labels.join(' ').includes('n0') && labels.join(' ').includes('n3');
})()";

/// One active branch holding every node's tip, and an orphaned one.
const HEALED: &str = "(() => {
  const d = document.getElementById('tree').dataset;
  const labels = [...document.querySelectorAll('.tiplabel')].map(e => e.textContent);
  return d.activeBranches === '1' && Number(d.staleBranches) >= 1
    && document.querySelectorAll('[data-state=stale]').length >= 1
    && labels.some(l => ['n0', 'n1', 'n2', 'n3'].every(n => l.includes(n)));
})()";

/// `cond`'s drawing time (the feed's clock), or null while it is false.
fn at(cond: &str) -> String {
    format!("({cond}) ? Number(document.getElementById('tree').dataset.t) : null")
}

#[test]
fn the_page_shows_a_split_as_two_branches_and_the_heal_as_one_with_the_other_orphaned() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn").to_str().expect("path").to_string();
    let args = [
        "up",
        "--dir",
        &dir,
        "--nodes",
        "4",
        "--consensus",
        "pow",
        "--block-ms",
        "1000",
        "--ui-port",
        "0",
    ];
    let (up, url) = Foreground::start(&args, "fork tree: ", Some(&dir));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let mut page = Browser::open(&url);
    assert!(
        page.wait_for(&format!("Number({TREE}.blocks) >= 4"), 60),
        "the page never showed the chain: {}",
        page.eval(&format!("JSON.stringify({TREE})"))
    );

    let cut = testnet(&["partition", "0,1", "2,3", "--dir", &dir]);
    assert!(cut.status.success(), "{cut:?}");
    // The feed's clock of the drawing that showed the split (for the replay).
    let split_t = page.wait_value(&at(SPLIT), 90);
    page.screenshot(&shot("fork-tree-split.png"));
    let split_t = split_t.and_then(|t| t.as_u64());
    assert!(
        split_t.is_some(),
        "no two branches during the split: {} {}",
        page.eval(&format!("JSON.stringify({TREE})")),
        page.eval("document.getElementById('summary').textContent")
    );

    let heal = testnet(&["heal", "--dir", &dir]);
    assert!(heal.status.success(), "{heal:?}");
    let healed_t = page.wait_value(&at(HEALED), 90);
    page.screenshot(&shot("fork-tree.png"));
    let healed_t = healed_t.and_then(|t| t.as_u64());
    assert!(
        healed_t.is_some(),
        "no single branch after the heal: {} {}\n{}",
        page.eval(&format!("JSON.stringify({TREE})")),
        page.eval("document.getElementById('summary').textContent"),
        diagnosis(&dir)
    );
    // The steps taken by hand are on the page's timeline (read once a
    // second), in order.
    let in_order = page.wait_for(
        "(() => { const t = document.getElementById('timeline').textContent;\
           const cut = t.indexOf('partition 0,1 | 2,3');\
           return cut >= 0 && t.indexOf('heal') > cut; })()",
        15,
    );
    assert!(
        in_order,
        "timeline: {}",
        page.eval("document.getElementById('timeline').textContent")
    );
    // The reorg that ended the split is among the page's events.
    let events = page.eval("document.getElementById('events').textContent");
    assert!(
        events
            .as_str()
            .is_some_and(|e| e.contains("reorg of depth")),
        "{events}"
    );

    // A node's own page shows its own fork tree. A node that went through
    // the reorg holds both branches, one active (a node of the winning half
    // never hears of the losing branch: sync sends only the best chain).
    let reorged = page.eval(
        "(() => { const r = M.events.filter(e => e.cls === 'reorg')\
           .map(e => [Number(/depth (\\d+)/.exec(e.text)[1]), e.text.split(' ')[0]]);\
           r.sort((a, b) => b[0] - a[0]); return r.length ? r[0][1] : null; })()",
    );
    let reorged = reorged.as_str().expect("a node that reorged");
    let index: usize = reorged
        .strip_prefix('n')
        .and_then(|i| i.parse().ok())
        .expect("a node name");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&dir).join("testnet.json")).expect("testnet.json"),
    )
    .expect("state");
    let api = state["nodes"][index]["api"]
        .as_str()
        .expect("api")
        .to_string();
    let mut own = Browser::open(&format!("{api}/ui"));
    let own_ok = own.wait_for(
        &format!("{TREE}.activeBranches === '1' && Number({TREE}.staleBranches) >= 1"),
        30,
    );
    assert!(
        own_ok,
        "{reorged}'s /ui: {}",
        own.eval(&format!("JSON.stringify({TREE})"))
    );
    drop(own);
    drop(page);
    drop(up);

    // The run played back from its feed: split and healed where the live
    // page showed them.
    let (split_t, healed_t) = (split_t.unwrap_or(0), healed_t.unwrap_or(0));
    let (_ui, replay) = Foreground::start(
        &["ui", "--replay", &dir, "--ui-port", "0"],
        "events): ",
        None,
    );
    let mut page = Browser::open(&format!("{replay}?at={healed_t}"));
    let healed_ok = page.wait_for(
        &format!("document.body.dataset.replayAt === '{healed_t}' && {HEALED}"),
        20,
    );
    assert!(
        healed_ok,
        "replay at {healed_t} ms, where the live page showed the heal: {}",
        page.eval(&format!("JSON.stringify({TREE})"))
    );
    page.call(
        "Page.navigate",
        serde_json::json!({ "url": format!("{replay}?at={split_t}") }),
    );
    let split_ok = page.wait_for(
        &format!("document.body.dataset.replayAt === '{split_t}' && {SPLIT}"),
        20,
    );
    assert!(
        split_ok,
        "replay at {split_t} ms, where the live page showed the split: {}",
        page.eval(&format!("JSON.stringify({TREE})"))
    );
}

#[test]
fn a_simulated_selfish_miners_replay_shows_its_withheld_blocks_and_marks_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("selfish.jsonl");
    let log_s = log.to_str().expect("path");
    let out = testnet(&[
        "sim",
        "--consensus",
        "pow",
        "--nodes",
        "4",
        "--attack",
        "selfish",
        "--blocks",
        "30",
        "--seed",
        "3",
        "--log",
        log_s,
    ]);
    assert!(out.status.success(), "{out:?}");
    let (_ui, url) = Foreground::start(
        &["ui", "--replay", log_s, "--ui-port", "0"],
        "events): ",
        None,
    );
    let mut page = Browser::open(&format!("{url}?at=end"));
    let ok = page.wait_for(
        "document.querySelectorAll('.block.withheld.byzantine').length >= 1 \
         && document.querySelector('#nodes tr.byz') !== null \
         && document.getElementById('events').textContent.includes('withholds')",
        20,
    );
    page.screenshot(&shot("fork-tree-selfish.png"));
    assert!(
        ok,
        "{} {}",
        page.eval(&format!("JSON.stringify({TREE})")),
        page.eval("document.getElementById('events').textContent")
    );
}
