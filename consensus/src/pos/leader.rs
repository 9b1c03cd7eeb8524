//! Who proposes in a slot. Each epoch has a seed mixed from values that the
//! proposers reveal and sign (RANDAO: a reveal is the proposer's signature over
//! the epoch number, so it is fixed in advance and no proposer can choose it,
//! only withhold it); a slot's leader is drawn from the seed and the slot number
//! with probability proportional to bonded stake.

use generals_chain::{Hash, PublicKey, Signature};

/// Domain of RANDAO reveals.
pub const REVEAL_DOMAIN: &[u8] = b"generals/randao/v1\0";

/// The bytes a proposer signs as its reveal for `epoch` on `chain_id`.
pub fn reveal_message(chain_id: &str, epoch: u64) -> Vec<u8> {
    let mut m = chain_id.as_bytes().to_vec();
    m.extend_from_slice(&epoch.to_le_bytes());
    m
}

/// The mix after one more reveal.
pub fn mix(previous: &Hash, reveal: &Signature) -> Hash {
    Hash::digest_parts(&[b"generals/randao-mix/v1\0", &previous.0, &reveal.0])
}

/// The leader of `slot` under `seed`: a draw in [0, total stake), walked over
/// the validators in key order. Validators with no stake are never drawn.
pub fn leader(seed: &Hash, slot: u64, validators: &[(PublicKey, u64)]) -> Option<PublicKey> {
    let mut sorted: Vec<(PublicKey, u64)> =
        validators.iter().copied().filter(|(_, s)| *s > 0).collect();
    sorted.sort();
    let total: u128 = sorted.iter().map(|(_, s)| *s as u128).sum();
    if total == 0 {
        return None;
    }
    let h = Hash::digest_parts(&[b"generals/leader/v1\0", &seed.0, &slot.to_le_bytes()]);
    // 128 bits of the hash reduced modulo the total: the bias is below 2^-64.
    let mut top = [0u8; 16];
    top.copy_from_slice(&h.0[..16]);
    let mut draw = u128::from_le_bytes(top) % total;
    for (key, stake) in sorted {
        if draw < stake as u128 {
            return Some(key);
        }
        draw -= stake as u128;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::Keypair;

    #[test]
    fn leadership_frequency_tracks_stake() {
        let keys: Vec<PublicKey> = (0..4)
            .map(|i| Keypair::dev(&format!("v{i}")).public())
            .collect();
        let stakes = [40u64, 30, 20, 10];
        let validators: Vec<(PublicKey, u64)> = keys.iter().copied().zip(stakes).collect();
        let seed = Hash::digest(b"epoch seed");
        let slots = 20_000;
        let mut counts = [0u64; 4];
        for s in 0..slots {
            let l = leader(&seed, s, &validators).expect("a leader");
            counts[keys.iter().position(|k| *k == l).expect("known")] += 1;
        }
        for (c, s) in counts.iter().zip(stakes) {
            let share = *c as f64 / slots as f64;
            assert!((share - s as f64 / 100.0).abs() < 0.015, "{counts:?}");
        }
    }

    #[test]
    fn the_draw_depends_on_seed_and_slot_and_skips_zero_stake() {
        let a = Keypair::dev("a").public();
        let b = Keypair::dev("b").public();
        let v = [(a, 1), (b, 1)];
        let s1 = Hash::digest(b"1");
        let s2 = Hash::digest(b"2");
        let picks1: Vec<_> = (0..64).map(|s| leader(&s1, s, &v)).collect();
        let picks2: Vec<_> = (0..64).map(|s| leader(&s2, s, &v)).collect();
        assert_ne!(picks1, picks2);
        assert_eq!(leader(&s1, 3, &[(a, 0), (b, 5)]), Some(b));
        assert_eq!(leader(&s1, 3, &[(a, 0)]), None);
    }

    #[test]
    fn reveals_are_fixed_per_key_and_epoch() {
        let k = Keypair::dev("proposer");
        let r1 = k.sign(REVEAL_DOMAIN, &reveal_message("c", 7));
        let r2 = k.sign(REVEAL_DOMAIN, &reveal_message("c", 7));
        assert_eq!(
            r1, r2,
            "ed25519 signatures are deterministic: nothing to grind"
        );
        assert_ne!(
            mix(&Hash::ZERO, &r1),
            mix(&Hash::ZERO, &k.sign(REVEAL_DOMAIN, &reveal_message("c", 8)))
        );
    }
}
