//! Difficulty: ASERT, the absolutely scheduled exponentially rising target of
//! Bitcoin Cash (aserti3-2d, Mark Lundeberg 2020), with its integer cubic
//! approximation of 2^x so every node computes the same value. The target is
//! scheduled from the genesis block: a chain one half-life behind schedule has
//! its target doubled (difficulty halved), and ahead of schedule the reverse.
//! Each step is also bounded to a factor of 4 from the parent's difficulty.
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

/// The difficulty the rules require of a block whose parent has `parent_difficulty`.
pub fn next_difficulty(
    initial_difficulty: u128,
    genesis_time_ms: u64,
    parent_time_ms: u64,
    parent_height: u64,
    parent_difficulty: u128,
    ideal_ms: u64,
    halflife_ms: u64,
) -> u128 {
    let target = asert_target(
        target_of(initial_difficulty),
        genesis_time_ms,
        parent_time_ms,
        parent_height,
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
        let d = next_difficulty(d0, 0, 50 * IDEAL, 50, d0, IDEAL, HALF);
        assert!(d.abs_diff(d0) * 1000 < d0, "{d} vs {d0}");
    }

    #[test]
    fn one_halflife_behind_halves_it_and_ahead_doubles_it() {
        let d0 = 1u128 << 20;
        let behind = next_difficulty(d0, 0, 50 * IDEAL + HALF, 50, d0, IDEAL, HALF);
        assert!(
            (behind as f64 / (d0 / 2) as f64 - 1.0).abs() < 0.001,
            "{behind}"
        );
        let ahead = next_difficulty(d0, 0, 50 * IDEAL - HALF, 50, d0, IDEAL, HALF);
        assert!(
            (ahead as f64 / (d0 * 2) as f64 - 1.0).abs() < 0.001,
            "{ahead}"
        );
    }

    #[test]
    fn a_step_is_bounded_and_extremes_saturate() {
        let d0 = 1u128 << 20;
        let d = next_difficulty(d0, 0, 0, 1_000, d0, IDEAL, HALF);
        assert_eq!(d, d0 * MAX_STEP);
        let d = next_difficulty(d0, 0, u64::MAX / 2, 1, d0, IDEAL, HALF);
        assert_eq!(d, d0 / MAX_STEP);
        assert!(asert_target(u128::MAX, 0, u64::MAX / 2, 0, 1, 1) == u128::MAX);
        assert!(asert_target(1, 0, 0, u64::MAX / 2, u64::MAX / 4, 1) >= 1);
    }
}
