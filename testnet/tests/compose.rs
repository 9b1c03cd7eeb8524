//! The Docker Compose runtime on a real Docker engine: the image built from
//! this build's node binary (FROM scratch), 4 BFT nodes in containers, one
//! taken off the network and put back, kill, restart, pause, resume, a
//! scenario file run unchanged, and nothing left behind: no container,
//! network or image tag. Skipped, with a line saying why, only when no
//! Docker engine answers.

mod common;

use common::{get, serial, testnet, wait_for};
use std::process::Command;

fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a Docker engine answers (and Compose is there); why not if not.
fn engine() -> Result<(), String> {
    if docker(&["version", "--format", "{{.Server.Version}}"]).is_none() {
        return Err("no Docker engine answers `docker version`".into());
    }
    let compose = docker(&["compose", "version"]).is_some()
        || Command::new("docker-compose")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !compose {
        return Err("neither `docker compose` nor `docker-compose` runs".into());
    }
    Ok(())
}

/// Containers and networks whose names hold `project`.
fn leftovers(project: &str) -> Vec<String> {
    let filter = format!("name={project}");
    let mut left = Vec::new();
    for what in [
        vec!["ps", "--all", "--quiet", "--filter", &filter],
        vec!["network", "ls", "--quiet", "--filter", &filter],
    ] {
        let out = docker(&what).expect("docker answers");
        left.extend(out.lines().filter(|l| !l.is_empty()).map(String::from));
    }
    left
}

/// Removes the image tag when dropped, whatever happened before.
struct Tag(String);

impl Drop for Tag {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "--force", &self.0]);
    }
}

/// Takes the testnet down when dropped (containers and networks).
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = testnet(&["down", "--dir", &self.0]);
    }
}

fn height(api: &str) -> u64 {
    get(&format!("{api}/status"))["height"]
        .as_u64()
        .unwrap_or(0)
}

fn apis(dir: &str) -> Vec<String> {
    let status: serde_json::Value =
        serde_json::from_slice(&testnet(&["status", "--dir", dir, "--json"]).stdout)
            .expect("status --json");
    status
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["api"].as_str().expect("api").to_string())
        .collect()
}

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn four_bft_containers_one_disconnected_and_back_then_nothing_left() {
    if let Err(why) = engine() {
        eprintln!("skipped: {why}; the compose runtime needs a Docker engine");
        return;
    }
    let _one = serial();
    let tag = Tag(format!("generals-node-test:{}", std::process::id()));
    let built = ok(
        testnet(&["image", "--tag", &tag.0]),
        "generals-testnet image",
    );
    assert!(built.contains(&tag.0), "{built}");
    // The image holds the node and the libraries it links, nothing else.
    let help = docker(&["run", "--rm", &tag.0, "--help"]).expect("the image runs");
    assert!(help.contains("--home"), "{help}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn").to_str().expect("path").to_string();
    let _down = Down(dir.clone());
    let up = ok(
        testnet(&[
            "up",
            "--dir",
            &dir,
            "--detach",
            "--no-ui",
            "--nodes",
            "4",
            "--consensus",
            "bft",
            "--runtime",
            "compose",
            "--image",
            &tag.0,
        ]),
        "up --runtime compose",
    );
    assert!(up.contains("4 bft nodes"), "{up}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/testnet.json")).expect("testnet.json"),
    )
    .expect("json");
    let project = state["compose"]["project"]
        .as_str()
        .expect("a compose project")
        .to_string();
    let network = state["compose"]["network"].as_str().expect("network");
    // One container per node, each on the project network at its own address.
    for (i, n) in state["nodes"].as_array().expect("nodes").iter().enumerate() {
        let c = n["container"].as_str().expect("a container");
        let ip = docker(&[
            "inspect",
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            c,
        ])
        .expect("inspect");
        assert_eq!(ip, state["compose"]["ips"][i].as_str().expect("ip"));
    }
    let apis = apis(&dir);
    wait_for(60, "all four at height 2", || {
        apis.iter().all(|a| height(a) >= 2).then_some(())
    });

    // n3 off the network: the three others go on deciding, n3 does not.
    let cut = ok(
        testnet(&["partition", "3", "0,1,2", "--dir", &dir]),
        "partition",
    );
    assert!(cut.contains("cut"), "{cut}");
    let nets = docker(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        state["nodes"][3]["container"].as_str().expect("container"),
    ])
    .expect("inspect");
    assert!(!nets.contains(network), "n3 is still on {network}: {nets}");
    let h3 = height(&apis[3]);
    let h0 = height(&apis[0]);
    wait_for(60, "the other three to decide 5 more heights", || {
        apis[..3].iter().all(|a| height(a) >= h0 + 5).then_some(())
    });
    assert!(
        height(&apis[3]) <= h3 + 1,
        "n3 decided while cut off: {} from {h3}",
        height(&apis[3])
    );

    // Back on the network, n3 catches up and agrees with the others.
    ok(testnet(&["heal", "--dir", &dir]), "heal");
    let target = height(&apis[0]);
    wait_for(60, "n3 to catch up", || {
        (height(&apis[3]) >= target).then_some(())
    });
    let hash = |i: usize| get(&format!("{}/block/{target}", apis[i]))["hash"].clone();
    assert_eq!(hash(3), hash(0), "n3 and n0 differ at height {target}");

    // docker kill, docker start, docker pause and unpause.
    let killed = ok(testnet(&["kill", "2", "--dir", &dir]), "kill");
    assert!(killed.contains("docker kill"), "{killed}");
    let status = ok(testnet(&["status", "--dir", &dir]), "status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("n2") && l.contains("stopped")),
        "{status}"
    );
    ok(testnet(&["restart", "2", "--dir", &dir]), "restart");
    let ok_paused = ok(testnet(&["pause", "1", "--dir", &dir]), "pause");
    assert!(ok_paused.contains("docker pause"), "{ok_paused}");
    let status = ok(testnet(&["status", "--dir", &dir]), "status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("n1") && l.contains("paused")),
        "{status}"
    );
    ok(testnet(&["resume", "1", "--dir", &dir]), "resume");
    let apis = self::apis(&dir);
    let now = height(&apis[0]);
    wait_for(60, "all four past the restart and the pause", || {
        apis.iter().all(|a| height(a) >= now + 2).then_some(())
    });

    let down = ok(testnet(&["down", "--dir", &dir]), "down");
    assert!(down.contains("removed their containers"), "{down}");
    assert_eq!(leftovers(&project), Vec::<String>::new(), "left behind");
    drop(tag);
    assert!(
        docker(&[
            "image",
            "inspect",
            &format!("generals-node-test:{}", std::process::id())
        ])
        .is_none(),
        "the image tag is still there"
    );
}

#[test]
fn a_scenario_file_runs_unchanged_on_containers() {
    if let Err(why) = engine() {
        eprintln!("skipped: {why}; the compose runtime needs a Docker engine");
        return;
    }
    let _one = serial();
    let tag = Tag(format!("generals-node-scenario:{}", std::process::id()));
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("run");
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bft-disconnect-one.toml");
    let run = testnet(&[
        "run",
        file.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
        "--no-ui",
        "--runtime",
        "compose",
        "--image",
        &tag.0,
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("testnet/testnet.json")).expect("testnet.json"),
    )
    .expect("json");
    let project = state["compose"]["project"].as_str().expect("on compose");
    assert_eq!(leftovers(project), Vec::<String>::new(), "left behind");
    assert!(run.status.success(), "{text}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("bft-disconnect-one"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
}

/// `n` consecutive free TCP ports on this machine, from the system's pick.
fn free_ports(n: u16) -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind("0.0.0.0:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        if first > u16::MAX - n {
            continue;
        }
        let all: Vec<_> = (first..first + n)
            .map(|p| std::net::TcpListener::bind(("0.0.0.0", p)))
            .collect();
        if all.iter().all(|l| l.is_ok()) {
            return first;
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn an_exported_testnet_runs_from_its_folder_with_docker_compose() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("multi");
    let out_s = out.to_str().expect("path");
    // Refused before anything is written: a host count that fits no node
    // count, an address that is not IPv4.
    let bad = testnet(&[
        "export",
        "compose",
        out_s,
        "--nodes",
        "4",
        "--hosts",
        "127.0.0.1,127.0.0.2",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--hosts needs one address"));
    assert!(!out.join("genesis.json").exists());
    let bad = testnet(&["export", "compose", out_s, "--hosts", "node-a"]);
    assert!(!bad.status.success());

    if let Err(why) = engine() {
        eprintln!("skipped the run of the export: {why}");
        return;
    }
    let _one = serial();
    let tag = Tag(format!("generals-node-export:{}", std::process::id()));
    ok(testnet(&["image", "--tag", &tag.0]), "image");
    // Every node on this machine, reached at the address the containers see
    // it by (the default bridge's gateway), on ports free here.
    let ipam = |field: &str| {
        docker(&[
            "network",
            "inspect",
            "bridge",
            "--format",
            &format!("{{{{(index .IPAM.Config 0).{field}}}}}"),
        ])
        .unwrap_or_default()
    };
    // Docker gives a network's first address to its gateway when it names none.
    let gateway = match ipam("Gateway") {
        g if !g.is_empty() => g,
        _ => {
            let subnet = ipam("Subnet");
            let base: std::net::Ipv4Addr = subnet
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .expect("the default bridge's subnet");
            std::net::Ipv4Addr::from(u32::from(base) + 1).to_string()
        }
    };
    let (p2p, api) = (free_ports(4), free_ports(4));
    let wrote = ok(
        testnet(&[
            "export",
            "compose",
            out_s,
            "--nodes",
            "4",
            "--consensus",
            "bft",
            "--hosts",
            &gateway,
            "--p2p-port",
            &p2p.to_string(),
            "--api-port",
            &api.to_string(),
            "--image",
            &tag.0,
        ]),
        "export compose",
    );
    assert!(wrote.contains("wrote 4 nodes"), "{wrote}");
    for f in [
        "docker-compose.yml",
        "genesis.json",
        "README.md",
        "n3/config.toml",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let config = std::fs::read_to_string(out.join("n0/config.toml")).expect("config");
    assert!(
        config.contains(&format!("/ip4/{gateway}/tcp/{}/p2p/", p2p + 3)),
        "{config}"
    );
    // A second export into the same folder is refused.
    let again = testnet(&["export", "compose", out_s, "--hosts", "127.0.0.1"]);
    assert!(!again.status.success());

    let project = format!("generals-export-{}", std::process::id());
    let compose = |args: &[&str]| {
        let (prog, pre): (&str, Vec<&str>) = if docker(&["compose", "version"]).is_some() {
            ("docker", vec!["compose"])
        } else {
            ("docker-compose", vec![])
        };
        Command::new(prog)
            .args(pre)
            .args(["-p", &project, "-f"])
            .arg(out.join("docker-compose.yml"))
            .args(args)
            .env("GENERALS_UID", nix_id("-u"))
            .env("GENERALS_GID", nix_id("-g"))
            .output()
            .expect("compose runs")
    };
    struct ComposeDown<F: Fn(&[&str]) -> std::process::Output>(F);
    impl<F: Fn(&[&str]) -> std::process::Output> Drop for ComposeDown<F> {
        fn drop(&mut self) {
            let _ = (self.0)(&["down", "--timeout", "5"]);
        }
    }
    let down = ComposeDown(compose);
    let started = (down.0)(&["up", "--detach"]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let apis: Vec<String> = (0..4)
        .map(|k| format!("http://127.0.0.1:{}", api + k))
        .collect();
    wait_for(60, "the exported nodes to connect and decide", || {
        apis.iter()
            .all(|a| {
                let s = get(&format!("{a}/status"));
                s["height"].as_u64() >= Some(3) && s["peers"].as_u64() == Some(3)
            })
            .then_some(())
    });
    drop(down);
    assert_eq!(leftovers(&project), Vec::<String>::new(), "left behind");
}

/// `id -u` or `id -g`.
fn nix_id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
