//! A crash point, for tests of the signing record: `--crash-after-signed K`
//! makes the node SIGKILL itself `--crash-delay-ms D` after its K-th signed
//! consensus message was handed to the network (D = 0: at once, before the
//! message leaves; a few ms: after it left). From that moment no later
//! message leaves and the engine takes no more input, so the crash falls
//! right after the K-th signature however fast the engine would go on.
//!
//! Signatures at the height the node starts on (its stored tip + 1) are not
//! counted: a restarted node first finishes the height it left open, where it
//! signs again what it signed before it died, and each life moves the chain
//! on. A test restarts the node at many such points, where a validator that
//! had lost its record would sign a different message for a position it had
//! already signed.

use generals_chain::{PublicKey, SignedMessage};

/// Where the node kills itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// The signed message after which it dies (1 is the first).
    pub after_signed: u64,
    pub delay_ms: u64,
}

/// Counts this node's signed messages and kills the process at the point.
#[derive(Debug)]
pub struct Crasher {
    point: CrashPoint,
    /// Signatures below this height are not counted.
    from_height: u64,
    signed: u64,
    dying: bool,
}

impl Crasher {
    /// The crash point of a node whose stored tip is at `tip_height`.
    pub fn new(point: CrashPoint, tip_height: u64) -> Crasher {
        Crasher {
            point,
            from_height: tip_height.saturating_add(2),
            signed: 0,
            dying: false,
        }
    }

    /// Past the crash point: the process is about to die.
    pub fn dying(&self) -> bool {
        self.dying
    }

    /// A message is about to go out: false once the process is dying (the
    /// message must not leave). If it is this node's `after_signed`-th own
    /// signature, it leaves and the process dies `delay_ms` later.
    pub fn sending(&mut self, message: &SignedMessage, me: &PublicKey) -> bool {
        if self.dying {
            return false;
        }
        if message.signer != *me || message.position.height < self.from_height {
            return true;
        }
        self.signed += 1;
        if self.signed != self.point.after_signed {
            return true;
        }
        self.dying = true;
        let (n, delay) = (self.signed, self.point.delay_ms);
        tracing::warn!(
            signed = n,
            delay_ms = delay,
            position = ?message.position,
            "crash point reached: SIGKILL"
        );
        if delay == 0 {
            kill_self();
        }
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(delay));
            kill_self();
        });
        true
    }
}

fn kill_self() {
    let me = nix::unistd::Pid::this();
    let _ = nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGKILL);
    // Only if the signal could not be sent: die without cleaning up anyway.
    std::process::abort();
}
