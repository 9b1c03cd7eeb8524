//! Forget-signed: a BFT or PBFT validator whose store does not keep what it
//! signed. Each start, the honest engine is built from its saved record with
//! the signatures of the current height taken out (the lock, the valid value,
//! the view and the commit certificate stay), as a signer would be whose
//! record lost them in a crash. A validator killed after a signature left it
//! may then sign a different message for the same position: a second proposal
//! built from a changed mempool and clock, or a nil vote where it had voted for
//! a block. It exists to show what the record guards (`node/tests/signer_crash.rs`
//! passes with the record and catches the double signatures without it).

use crate::bft::BftRecord;
use crate::pbft::PbftRecord;

/// The BFT record a restart reads: no signatures.
pub fn forget_bft(mut record: BftRecord) -> BftRecord {
    record.signed.clear();
    record
}

/// The PBFT record a restart reads: no signatures.
pub fn forget_pbft(mut record: PbftRecord) -> PbftRecord {
    record.signing.signed.clear();
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::MessageKind;

    #[test]
    fn only_the_signatures_are_forgotten() {
        let mut r = BftRecord::default();
        r.sign(MessageKind::Prevote, 4, 1, b"a").expect("sign");
        r.locked = Some((1, generals_chain::Hash([7; 32])));
        let f = forget_bft(r.clone());
        assert!(f.signed.is_empty());
        assert_eq!((f.height, f.locked), (r.height, r.locked));
        let p = forget_pbft(PbftRecord {
            signing: r,
            view: 3,
            ..PbftRecord::default()
        });
        assert!(p.signing.signed.is_empty());
        assert_eq!((p.view, p.signing.height), (3, 4));
    }
}
