//! The node image, made here with no base image to pull: `FROM scratch`, the
//! node binary beside this one, and the shared libraries it links (as `ldd`
//! lists them: the C library, the loader, libgcc, libm) at the paths the
//! loader looks in. The binary's size and time are kept as a label, so `up`
//! builds again only when the binary changed.

use super::docker;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// The image's tag.
    #[arg(long, default_value = super::DEFAULT_IMAGE)]
    tag: String,
    /// The node binary to put in it (the generals-node beside this binary if
    /// left out; without one, this binary's own `node` command).
    #[arg(long)]
    node: Option<PathBuf>,
}

pub fn image(args: ImageArgs) -> Result<()> {
    super::engine()?;
    let bin = Binary::find(args.node)?;
    let id = build(&args.tag, &bin)?;
    println!(
        "built {} ({}) from {}",
        args.tag,
        short(&id),
        bin.path.display()
    );
    println!(
        "run it: generals-testnet up --runtime compose --image {}",
        args.tag
    );
    Ok(())
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// The binary that goes into the image, and how the image starts it.
struct Binary {
    path: PathBuf,
    /// `run` for generals-node; `node` for generals-testnet's own.
    command: &'static str,
}

impl Binary {
    fn find(given: Option<PathBuf>) -> Result<Binary> {
        if let Some(p) = given {
            if !p.is_file() {
                bail!("no node binary at {}", p.display());
            }
            return Ok(Binary {
                path: p,
                command: "run",
            });
        }
        let me = std::env::current_exe().context("finding this binary")?;
        match me.parent().map(|d| d.join("generals-node")) {
            Some(p) if p.is_file() => Ok(Binary {
                path: p,
                command: "run",
            }),
            _ => Ok(Binary {
                path: me,
                command: "node",
            }),
        }
    }

    /// What the image records of the binary it was made of.
    fn label(&self) -> Result<String> {
        let m = std::fs::metadata(&self.path)?;
        let t = m
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(format!(
            "{}:{}:{}",
            self.path.display(),
            m.len(),
            t.as_nanos()
        ))
    }
}

/// Builds `tag` unless it exists and was made of the same binary.
pub(super) fn ensure(tag: &str) -> Result<()> {
    let bin = Binary::find(None)?;
    let want = bin.label()?;
    let have = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"generals.binary\"}}",
        tag,
    ]);
    let ours = format!("{}:", bin.path.display());
    match have {
        // Made of another build of this binary: made again.
        Ok(label) if label.starts_with(&ours) && label != want => build(tag, &bin).map(|_| ()),
        // This binary as it is, or an image the user made of another
        // (`image --node`, or no label of ours): used as it is.
        Ok(_) => Ok(()),
        Err(_) => build(tag, &bin).map(|_| ()),
    }
}

/// The shared libraries `path` loads, as `ldd` lists them.
fn libraries(path: &Path) -> Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(path)
        .output()
        .context("running ldd (from libc-bin) to list the node's libraries")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        } else if line.contains("not found") {
            bail!("the node binary needs a library this machine lacks: {line}");
        }
    }
    Ok(libs)
}

/// Copies `from` to `rootfs` + `at`, following links (the image has none).
fn put(rootfs: &Path, at: &Path, from: &Path) -> Result<()> {
    let to = rootfs.join(at.strip_prefix("/").unwrap_or(at));
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
    Ok(())
}

/// Builds the image in a folder of its own under the system's temporary
/// folder; returns the image id.
fn build(tag: &str, bin: &Binary) -> Result<String> {
    let ctx = std::env::temp_dir().join(format!("generals-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ctx);
    struct Clean(PathBuf);
    impl Drop for Clean {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _clean = Clean(ctx.clone());
    let rootfs = ctx.join("rootfs");
    let name = if bin.command == "run" {
        "generals-node"
    } else {
        "generals-testnet"
    };
    let inside = PathBuf::from("/usr/local/bin").join(name);
    put(&rootfs, &inside, &bin.path)?;
    for lib in libraries(&bin.path)? {
        put(&rootfs, &lib, &lib)?;
    }
    std::fs::create_dir_all(rootfs.join("tmp"))?;
    std::fs::create_dir_all(rootfs.join("data"))?;
    let dockerfile = format!(
        "FROM scratch\n\
         COPY rootfs/ /\n\
         LABEL org.opencontainers.image.title=\"generals-node\" generals.binary={:?}\n\
         EXPOSE 9000 8080\n\
         ENTRYPOINT [\"{}\", \"{}\"]\n",
        bin.label()?,
        inside.display(),
        bin.command
    );
    std::fs::write(ctx.join("Dockerfile"), dockerfile)?;
    let ctx_s = ctx.to_string_lossy().to_string();
    docker(&["build", "--quiet", "--tag", tag, &ctx_s])
        .with_context(|| format!("building the image {tag}"))
}
