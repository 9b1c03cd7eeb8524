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
    let a = alpha;
    let num = a * (1.0 - a).powi(2) * (4.0 * a + gamma * (1.0 - 2.0 * a)) - a.powi(3);
    let den = 1.0 - a * (1.0 + (2.0 - a) * a);
    num / den
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
}
