//! Difficulty: ASERT, the exponential retarget of Bitcoin Cash (aserti3-2d, Mark
//! Lundeberg 2020), with its integer cubic approximation of 2^x so every node
//! computes the same value. Each block is anchored at its parent: its target is
//! the parent's, doubled for every half-life by which the parent's interval ran
//! over the ideal and halved for every half-life it ran under. (The absolute form
//! anchors once at a fixed block; anchored at the parent, a chain that restarts
//! long after its genesis, as testnets do, does not first mine its whole "missed
//! schedule" at difficulty one.) Each step is also bounded to a factor of 4.
//!
//! A difficulty D is the expected number of hashes per block; a work hash meets
//! it when its first 128 bits, read big-endian, are at most `u128::MAX / D`.

/// Largest change of difficulty from one block to the next.
pub const MAX_STEP: u128 = 4;

/// The target (first 128 bits of a work hash must not exceed it) of difficulty `d`.
pub fn target_of(difficulty: u128) -> u128 {
    u128::MAX / difficulty.max(1)
}

/// The difficulty whose target is `target`.
pub fn difficulty_of(target: u128) -> u128 {
    (u128::MAX / target.max(1)).max(1)
}

/// `target * factor / 2^16`, saturating; `factor` < 2^17.
fn mul_factor(target: u128, factor: u128) -> u128 {
    let hi = (target >> 64) * factor;
    let lo = (target & u64::MAX as u128) * factor;
    if hi >= 1 << 80 {
        return u128::MAX;
    }
    (hi << 48).saturating_add(lo >> 16)
}

/// ASERT: the target of the block after `parent_height` at `parent_time_ms`,
/// scheduled from `anchor_target` at genesis time `anchor_time_ms`.
pub fn asert_target(
    anchor_target: u128,
    anchor_time_ms: u64,
    parent_time_ms: u64,
    parent_height: u64,
    ideal_ms: u64,
    halflife_ms: u64,
) -> u128 {
    let time_delta = parent_time_ms as i128 - anchor_time_ms as i128;
    let scheduled = (ideal_ms as i128).saturating_mul(parent_height as i128);
    // Past 2^±130 the result saturates anyway; the clamp keeps the arithmetic in range.
    let limit = 130i128 << 16;
    let exponent = (time_delta.saturating_sub(scheduled).saturating_mul(65_536)
        / halflife_ms.max(1) as i128)
        .clamp(-limit, limit);
    let shifts = exponent >> 16;
    let frac = (exponent - (shifts << 16)) as u128;
    // 2^(frac/65536) * 65536, within 0.013% (aserti3-2d's polynomial).
    let factor = 65_536
        + ((195_766_423_245_049 * frac
            + 971_821_376 * frac * frac
            + 5_127 * frac * frac * frac
            + (1 << 47))
            >> 48);
    let scaled = mul_factor(anchor_target, factor);
    let shifted = if shifts >= 0 {
        let s = shifts.min(127) as u32;
        if scaled.leading_zeros() < s {
            u128::MAX
        } else {
            scaled << s
        }
    } else {
        scaled >> (-shifts).min(127) as u32
    };
    shifted.max(1)
}

/// The difficulty the rules require of the child of a block (at `parent_height`,
/// with `parent_difficulty`, mined at `parent_time_ms` after its own parent at
/// `grandparent_time_ms`). The genesis block's child has the initial difficulty.
pub fn next_difficulty(
    initial_difficulty: u128,
    parent_height: u64,
    parent_difficulty: u128,
    parent_time_ms: u64,
    grandparent_time_ms: u64,
    ideal_ms: u64,
    halflife_ms: u64,
) -> u128 {
    if parent_height == 0 {
        return initial_difficulty.max(1);
    }
    let target = asert_target(
        target_of(parent_difficulty),
        grandparent_time_ms,
        parent_time_ms,
        1,
        ideal_ms,
        halflife_ms,
    );
    let d = difficulty_of(target);
    let lo = (parent_difficulty / MAX_STEP).max(1);
    let hi = parent_difficulty.saturating_mul(MAX_STEP);
    d.clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDEAL: u64 = 10_000;
    const HALF: u64 = 100_000;

    #[test]
    fn on_schedule_the_difficulty_stays() {
        let d0 = 1u128 << 20;
        let d = next_difficulty(d0, 50, d0, 50 * IDEAL, 49 * IDEAL, IDEAL, HALF);
        assert!(d.abs_diff(d0) * 1000 < d0, "{d} vs {d0}");
        assert_eq!(next_difficulty(d0, 0, 7, 0, 0, IDEAL, HALF), d0);
    }

    #[test]
    fn one_halflife_late_halves_it_and_early_doubles_it() {
        let d0 = 1u128 << 20;
        let late = next_difficulty(d0, 50, d0, IDEAL + HALF, 0, IDEAL, HALF);
        assert!(
            (late as f64 / (d0 / 2) as f64 - 1.0).abs() < 0.001,
            "{late}"
        );
        let early = next_difficulty(d0, 50, d0, 2 * HALF, 3 * HALF - IDEAL, IDEAL, HALF);
        assert!(
            (early as f64 / (d0 * 2) as f64 - 1.0).abs() < 0.001,
            "{early}"
        );
    }

    #[test]
    fn a_step_is_bounded_and_extremes_saturate() {
        let d0 = 1u128 << 20;
        let d = next_difficulty(d0, 5, d0, 0, 1_000_000, IDEAL, HALF);
        assert_eq!(d, d0 * MAX_STEP);
        let d = next_difficulty(d0, 5, d0, u64::MAX / 2, 0, IDEAL, HALF);
        assert_eq!(d, d0 / MAX_STEP);
        assert!(asert_target(u128::MAX, 0, u64::MAX / 2, 0, 1, 1) == u128::MAX);
        assert!(asert_target(1, 0, 0, u64::MAX / 2, u64::MAX / 4, 1) >= 1);
    }
}
