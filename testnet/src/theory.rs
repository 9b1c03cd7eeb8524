//! Closed forms the simulated attacks are compared with.

/// Nakamoto (2008), section 11: the probability that an attacker with hash share
/// `q` ever catches up from `z` blocks behind, having mined in secret since the
/// payment.
pub fn nakamoto_catch_up(q: f64, z: u64) -> f64 {
    let p = 1.0 - q;
    if q >= p {
        return 1.0;
    }
    let lambda = z as f64 * (q / p);
    let mut sum = 1.0;
    let mut poisson = (-lambda).exp();
    for k in 0..=z {
        if k > 0 {
            poisson *= lambda / k as f64;
        }
        sum -= poisson * (1.0 - (q / p).powi((z - k) as i32));
    }
    sum.clamp(0.0, 1.0)
}

/// Eyal and Sirer (2014), equation 8: the selfish miner's share of main-chain
/// blocks with hash share `alpha` when a share `gamma` of honest miners mine on its
/// block in a tie.
pub fn selfish_revenue(alpha: f64, gamma: f64) -> f64 {
    // The formula holds below one half; a majority takes every block.
    if alpha >= 0.5 {
        return 1.0;
    }
    let a = alpha;
    let num = a * (1.0 - a).powi(2) * (4.0 * a + gamma * (1.0 - 2.0 * a)) - a.powi(3);
    let den = 1.0 - a * (1.0 + (2.0 - a) * a);
    num / den
}

/// The success probability of the private-fork attacker this tool runs
/// (`consensus::byzantine::private_fork`), by dynamic programming over its
/// rules: it forks from the block before the payment and mines in secret;
/// each next block is its own with probability `q`, else the public chain's
/// (the first public block holds the payment); it releases once the payment
/// has `z` confirmations (its block and `z - 1` on top) and its fork is
/// heavier; it gives up once the public chain leads by `g`.
///
/// Heavier, not longer: difficulty retargets at every block from the time
/// since its parent, so of two branches of equal length from one parent the
/// one whose first block came first is the heavier (its next block was
/// harder). The model takes that rule for every tie of two blocks or more
/// (exact for the first such tie, the common one) and counts a tie of one
/// block each as no lead (equal work). It has no stale blocks and instant
/// messages.
pub fn private_fork_success(q: f64, z: u64, g: u64) -> f64 {
    if q <= 0.0 {
        return 0.0;
    }
    if q >= 1.0 {
        return 1.0;
    }
    let (p, g, z) = (1.0 - q, g.max(1) as i64, z.max(1) as i64);
    let r = p / q;
    // A race from lead d to lead t before -g (gambler's ruin).
    let ruin = |d: i64, t: i64| -> f64 {
        if d >= t {
            return 1.0;
        }
        if d <= -g {
            return 0.0;
        }
        if (r - 1.0).abs() < 1e-12 {
            (d + g) as f64 / (t + g) as f64
        } else {
            (1.0 - r.powi((d + g) as i32)) / (1.0 - r.powi((t + g) as i32))
        }
    };
    // When the payment reaches its z confirmations with a private blocks:
    // the attacker wins a tie of two blocks or more if its first block came
    // first, else needs a lead.
    let confirmed = |a: i64, first: bool| -> f64 {
        let d = a - z;
        let t = if first { 0 } else { 1 };
        if first && d == 0 && z == 1 {
            // One block each: equal work, no release yet.
            return q + p * ruin(-1, t);
        }
        ruin(d, t)
    };
    // rows[h][a] for h < z: a private blocks, h public ones; a > z wins.
    let cap = (z + 1) as usize;
    let table = |first: bool| -> Vec<Vec<f64>> {
        let mut rows = vec![vec![0.0; cap + 1]; (z + 1) as usize];
        rows[z as usize] = (0..=cap).map(|a| confirmed(a as i64, first)).collect();
        for h in (0..z).rev() {
            for a in (0..=cap).rev() {
                rows[h as usize][a] = if a as i64 > z {
                    1.0
                } else if h >= a as i64 + g {
                    0.0
                } else {
                    let up = if a == cap {
                        1.0
                    } else {
                        rows[h as usize][a + 1]
                    };
                    q * up + p * rows[h as usize + 1][a]
                };
            }
        }
        rows
    };
    let (mine, theirs) = (table(true), table(false));
    q * mine[0][1] + p * theirs[1][0]
}

/// Wilson's 95% interval for `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.96f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// The mean of `xs` and its 95% interval (normal approximation; one value:
/// the value itself).
pub fn mean_ci(xs: &[f64]) -> (f64, f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, mean, mean);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = 1.96 * (var / n).sqrt();
    (mean, mean - half, mean + half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nakamotos_table() {
        // The paper's table for q = 0.1: z = 0 -> 1.0, z = 5 -> 0.0009137.
        assert!((nakamoto_catch_up(0.1, 0) - 1.0).abs() < 1e-9);
        assert!((nakamoto_catch_up(0.1, 5) - 0.0009137).abs() < 1e-6);
        assert!((nakamoto_catch_up(0.3, 5) - 0.1773523).abs() < 1e-6);
        assert_eq!(nakamoto_catch_up(0.6, 6), 1.0);
    }

    #[test]
    fn eyal_sirer_threshold() {
        // With gamma = 0 selfish mining pays above alpha = 1/3.
        assert!(selfish_revenue(0.30, 0.0) < 0.30);
        assert!(selfish_revenue(0.36, 0.0) > 0.36);
        // With gamma = 1 it pays at any size.
        assert!(selfish_revenue(0.1, 1.0) > 0.1);
    }

    #[test]
    fn the_exact_private_fork_probability_follows_its_rules() {
        // An attacker with no power never wins; one with all of it always.
        assert_eq!(private_fork_success(0.0, 2, 30), 0.0);
        assert_eq!(private_fork_success(1.0, 2, 30), 1.0);
        // The dynamic programme against a walk over every path of up to 26
        // blocks, by the same rules (what is left beyond them is below 1e-4).
        fn walk(q: f64, a: i64, h: i64, first: Option<bool>, z: i64, g: i64, n: u32) -> f64 {
            if h >= a + g {
                return 0.0;
            }
            let tie_won = a == h && a >= 2 && first == Some(true);
            if h >= z && (a > h || tie_won) {
                return 1.0;
            }
            if n == 0 {
                return 0.0;
            }
            q * walk(q, a + 1, h, first.or(Some(true)), z, g, n - 1)
                + (1.0 - q) * walk(q, a, h + 1, first.or(Some(false)), z, g, n - 1)
        }
        for (q, z, g) in [(0.3, 2, 3), (0.2, 1, 4), (0.35, 3, 2)] {
            let exact = private_fork_success(q, z, g);
            let direct = walk(q, 0, 0, None, z as i64, g as i64, 26);
            assert!(
                (exact - direct).abs() < 1e-4,
                "{q} {z} {g}: {exact} vs {direct}"
            );
        }
        // More confirmations, less success; a majority wins for sure without
        // a give-up bound close by.
        assert!(private_fork_success(0.3, 6, 30) < private_fork_success(0.3, 2, 30));
        assert!(private_fork_success(0.6, 6, 1_000) > 0.99);
    }

    #[test]
    fn intervals_hold_their_estimate() {
        let (lo, hi) = wilson(30, 100);
        assert!(lo < 0.3 && 0.3 < hi && hi - lo < 0.2);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (m, lo, hi) = mean_ci(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && lo < 2.0 && hi > 2.0);
    }
}
