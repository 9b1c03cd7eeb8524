//! Runs of a sweep spread over every core: each thread takes the next index
//! until there are none left; the results come back in index order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The machine's cores (1 if it cannot tell).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f(0)`, `f(1)`, ..., `f(count - 1)`, computed on every core.
pub(crate) fn on_cores<T: Send>(count: u64, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let next = AtomicU64::new(0);
    let done: Mutex<Vec<(u64, T)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..cores().min(count.max(1) as usize) {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        break;
                    }
                    mine.push((k, f(k)));
                }
                done.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .extend(mine);
            });
        }
    });
    let mut done = done
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_once_in_order() {
        let out = on_cores(1_000, |k| k * 2);
        assert_eq!(out, (0..1_000).map(|k| k * 2).collect::<Vec<_>>());
        assert!(on_cores(0, |k| k).is_empty());
    }
}
