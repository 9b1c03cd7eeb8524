//! Lamport, Shostak and Pease's theorems, checked by running OM(m) and SM(m)
//! on every placement of traitors, every strategy and both orders, for up to
//! 7 generals.

use generals_consensus::generals::{
    om_messages, placements, run, sm_loyal_messages, tally, Algorithm, Fate, Order, Setup,
    Strategy, STRATEGIES,
};
use std::collections::BTreeSet;

const MAX_N: usize = 7;

fn setup(n: usize, m: usize, traitors: &[usize], order: Order, strategy: Strategy) -> Setup {
    Setup {
        generals: n,
        m,
        traitors: traitors.iter().copied().collect(),
        order,
        strategy,
    }
}

#[test]
fn theorem_1_om_m_works_with_more_than_3m_generals_and_at_most_m_traitors() {
    let mut rows = 0;
    for n in 3..=MAX_N {
        for m in (0..=n - 2).filter(|m| n > 3 * m) {
            for t in 0..=m {
                let x = tally(Algorithm::Om, n, m, t);
                assert_eq!(x.runs, placements(n, t).len() * STRATEGIES.len() * 2);
                assert_eq!(x.failed, 0, "OM({m}), n={n}, {t} traitors: {:?}", x.example);
                rows += 1;
            }
        }
    }
    // m = 0 for n = 3..7 (5 rows), m = 1 for n = 4..7 (t = 0, 1: 8 rows),
    // m = 2 for n = 7 (t = 0, 1, 2: 3 rows).
    assert_eq!(rows, 5 + 8 + 3);
}

#[test]
fn theorem_2_sm_m_works_with_at_most_m_traitors_for_any_number_of_generals() {
    for n in 3..=MAX_N {
        for m in 0..=n - 2 {
            for t in 0..=m {
                let x = tally(Algorithm::Sm, n, m, t);
                assert_eq!(x.failed, 0, "SM({m}), n={n}, {t} traitors: {:?}", x.example);
            }
        }
    }
}

#[test]
fn om_fails_when_a_third_of_the_generals_or_more_are_traitors() {
    // n <= 3t: no oral-messages algorithm can cope (section 3); OM(t) here
    // is shown to fail by one of the strategies.
    let mut cases = 0;
    for n in 3..=MAX_N {
        for t in (1..=n - 2).filter(|t| n <= 3 * t) {
            let x = tally(Algorithm::Om, n, t, t);
            assert!(x.failed > 0, "OM({t}) with {n} generals, {t} traitors");
            cases += 1;
        }
    }
    assert_eq!(cases, 1 + 1 + 2 + 3 + 3);
}

#[test]
fn sm_fails_with_more_than_m_traitors() {
    for n in 3..=MAX_N {
        // At least two loyal lieutenants, or IC1 has nobody to split.
        for m in 0..=n - 3 {
            let x = tally(Algorithm::Sm, n, m, m + 1);
            assert!(
                x.failed > 0,
                "SM({m}) with {n} generals, {} traitors",
                m + 1
            );
        }
    }
}

#[test]
fn three_generals_a_loyal_lieutenant_cannot_tell_which_one_is_the_traitor() {
    // Figure 1: the commander orders attack and lieutenant 2 says he was
    // told to retreat. Figure 2: the commander is the traitor, tells 1 to
    // attack and 2 to retreat, and 2 loyally passes retreat on.
    let traitor_lieutenant = setup(3, 1, &[2], Order::Attack, Strategy::Lie);
    let traitor_commander = setup(3, 1, &[0], Order::Attack, Strategy::Split);
    let fig1 = run(Algorithm::Om, &traitor_lieutenant).expect("runs");
    let fig2 = run(Algorithm::Om, &traitor_commander).expect("runs");
    let view = vec![(vec![0], Order::Attack), (vec![0, 2], Order::Retreat)];
    assert_eq!(fig1.view(1), view);
    assert_eq!(fig2.view(1), view);
    // Seeing the same, lieutenant 1 decides the same in both; in figure 1
    // that disobeys a loyal commander.
    assert_eq!(fig1.decisions[&1], fig2.decisions[&1]);
    assert_eq!(fig1.ic2(&traitor_lieutenant), Some(false));

    // With signatures the two cases differ: lieutenant 2's lie carries the
    // commander's signature over "attack", which does not verify, so
    // lieutenant 1 refuses it and obeys the commander.
    let fig1 = run(Algorithm::Sm, &traitor_lieutenant).expect("runs");
    let fig2 = run(Algorithm::Sm, &traitor_commander).expect("runs");
    assert_eq!(fig1.view(1), vec![(vec![0], Order::Attack)]);
    assert_eq!(fig2.view(1), view);
    assert_eq!(fig1.refused(), 1);
    assert!(fig1.holds(&traitor_lieutenant) && fig2.holds(&traitor_commander));
}

#[test]
fn a_traitor_cannot_forge_an_order_under_sm() {
    for n in 4..=MAX_N {
        for traitors in placements(n, 2).into_iter().filter(|t| !t.contains(&0)) {
            let t: Vec<usize> = traitors.iter().copied().collect();
            let s = setup(n, 2, &t, Order::Attack, Strategy::Lie);
            let o = run(Algorithm::Sm, &s).expect("runs");
            // Every traitor passed orders on with the value turned round, and
            // every one of them was refused for the commander's signature.
            let forged: Vec<_> = o
                .messages
                .iter()
                .filter(|msg| traitors.contains(&msg.from()))
                .collect();
            assert!(!forged.is_empty());
            for msg in forged {
                assert_eq!(msg.value, Order::Retreat);
                assert_eq!(
                    msg.fate,
                    Fate::Refused("general 0's signature does not verify".into()),
                    "{msg}"
                );
            }
            assert!(o.decisions.values().all(|&d| d == Order::Attack));
        }
    }
}

#[test]
fn om_sends_as_many_messages_as_the_paper_counts() {
    for n in 2..=MAX_N {
        for m in 0..=n - 2 {
            let o = run(
                Algorithm::Om,
                &setup(n, m, &[], Order::Attack, Strategy::Split),
            )
            .expect("runs");
            assert_eq!(o.sent(), om_messages(n, m), "OM({m}), n={n}");
            // Each round k carries (n-1)(n-2)...(n-k) messages.
            for k in 1..=m + 1 {
                let in_round = o.messages.iter().filter(|x| x.round == k).count();
                assert_eq!(in_round, (1..=k).map(|j| n - j).product::<usize>());
            }
            if m > 0 {
                // The paper's recursion: n-1 orders, then n-1 runs of OM(m-1)
                // among n-1 generals.
                assert_eq!(
                    om_messages(n, m),
                    (n - 1) + (n - 1) * om_messages(n - 1, m - 1)
                );
            }
            // Traitors send no more than loyal generals would.
            for strategy in STRATEGIES {
                let x = run(
                    Algorithm::Om,
                    &setup(n, m, &[n - 1], Order::Attack, strategy),
                )
                .expect("runs");
                assert!(x.sent() <= om_messages(n, m));
            }
        }
    }
    // Exponential in m: 7 generals send 6, 36, 156, 516, 1236, 1956.
    let by_m: Vec<usize> = (0..=5).map(|m| om_messages(7, m)).collect();
    assert_eq!(by_m, [6, 36, 156, 516, 1236, 1956]);
}

#[test]
fn sm_among_loyal_generals_relays_each_order_once() {
    for n in 2..=MAX_N {
        for m in 0..=n - 2 {
            let o = run(
                Algorithm::Sm,
                &setup(n, m, &[], Order::Retreat, Strategy::Split),
            )
            .expect("runs");
            assert_eq!(o.sent(), sm_loyal_messages(n, m), "SM({m}), n={n}");
            assert!(o.decisions.values().all(|&d| d == Order::Retreat));
        }
    }
}

#[test]
fn colluding_traitors_with_one_more_than_m_split_the_loyal_army_under_sm() {
    // SM(1), 5 generals, the commander and lieutenant 1 traitors: they sign
    // attack for loyal 2 and 3, retreat for loyal 4, each under both their
    // signatures, in round 2, when a loyal lieutenant no longer passes it on.
    let s = setup(5, 1, &[0, 1], Order::Attack, Strategy::Collude);
    let o = run(Algorithm::Sm, &s).expect("runs");
    let want: Vec<(usize, Order)> =
        vec![(2, Order::Attack), (3, Order::Attack), (4, Order::Retreat)];
    assert_eq!(o.decisions.into_iter().collect::<Vec<_>>(), want);
    assert!(o
        .messages
        .iter()
        .all(|m| m.round == 2 && m.path == [0, 1] && m.fate == Fate::Delivered));
    // With SM(2) the same two traitors are within the bound: the loyal pass
    // on what they got and all retreat together.
    let s = setup(5, 2, &[0, 1], Order::Attack, Strategy::Collude);
    let o = run(Algorithm::Sm, &s).expect("runs");
    assert!(o.ic1());
    assert_eq!(
        o.decisions.values().copied().collect::<BTreeSet<_>>(),
        [Order::Retreat].into()
    );
}

#[test]
fn lemma_1_a_loyal_commander_is_obeyed_under_om_with_more_than_2k_plus_m_generals() {
    // Lemma 1: OM(m) satisfies IC2 with more than 2k + m generals and at
    // most k traitors. It also says where IC2 first breaks when m outgrows
    // the traitors: 4 generals with OM(2) and one traitor fail (4 = 2 + 2).
    for n in 3..=MAX_N {
        for m in 0..=n - 2 {
            for k in (0..n).filter(|k| n > 2 * k + m) {
                let x = tally(Algorithm::Om, n, m, k);
                assert_eq!(x.ic2_failed, 0, "OM({m}), n={n}, {k} traitors");
            }
        }
    }
    assert!(tally(Algorithm::Om, 4, 2, 1).ic2_failed > 0);
    assert!(tally(Algorithm::Om, 7, 5, 1).ic2_failed > 0);
}
