//! Where things go: weighted rendezvous (highest random weight) hashing over store ids.
//!
//! Every item (a chunk's shards, a key's manifest copies) ranks all stores by
//! `-weight / ln(u)`, with `u` a uniform number in (0, 1) from BLAKE3(domain, item, store id).
//! Shard i of a chunk lives on the i-th store of its chunk's ranking; when that store cannot take
//! it, on the next store past the first k + m. Nothing records placement: readers recompute it,
//! and adding a store moves only the items it now wins.

use crate::ids::{Hash32, StoreId};

/// A store as placement sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: StoreId,
    pub weight: f64,
}

/// What is being placed; the domain keeps rankings of different kinds of item independent.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Chunk(&'a Hash32),
    /// A key's manifest copies, by the key's bytes.
    Manifest(&'a [u8]),
}

fn unit(item: Item<'_>, store: &StoreId) -> f64 {
    let mut h = blake3::Hasher::new_derive_key("annex-swarm placement v1");
    match item {
        Item::Chunk(c) => {
            h.update(b"chunk\0");
            h.update(&c.0);
        }
        Item::Manifest(key) => {
            h.update(b"manifest\0");
            h.update(key);
        }
    }
    h.update(b"\0");
    h.update(store.as_str().as_bytes());
    let out = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&out.as_bytes()[..8]);
    // 53 random bits, shifted into the open interval (0, 1).
    ((u64::from_le_bytes(b) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Store indices ordered from most to least preferred for `item`.
pub fn rank(item: Item<'_>, stores: &[Candidate]) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let w = if s.weight.is_finite() && s.weight > 0.0 {
                s.weight
            } else {
                0.0
            };
            (-w / unit(item, &s.id).ln(), i)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| stores[a.1].id.cmp(&stores[b.1].id))
    });
    scored.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stores(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                id: format!("s{i}").parse().unwrap(),
                weight: 1.0,
            })
            .collect()
    }

    #[test]
    fn ranking_is_a_permutation_and_stable() {
        let s = stores(6);
        let c = Hash32::of(b"chunk");
        let r = rank(Item::Chunk(&c), &s);
        let mut sorted = r.clone();
        sorted.sort();
        assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        assert_eq!(r, rank(Item::Chunk(&c), &s));
        // Order of the store list does not matter, only ids.
        let mut rev = s.clone();
        rev.reverse();
        let r2: Vec<String> = rank(Item::Chunk(&c), &rev)
            .into_iter()
            .map(|i| rev[i].id.to_string())
            .collect();
        let r1: Vec<String> = r.into_iter().map(|i| s[i].id.to_string()).collect();
        assert_eq!(r1, r2);
    }

    #[test]
    fn first_choice_is_balanced_and_weighted() {
        let mut s = stores(4);
        s[3].weight = 2.0;
        let mut wins = [0usize; 4];
        for i in 0..20_000u32 {
            let c = Hash32::of(&i.to_le_bytes());
            wins[rank(Item::Chunk(&c), &s)[0]] += 1;
        }
        // Expected shares 1/5, 1/5, 1/5, 2/5.
        for (i, w) in wins.iter().enumerate() {
            let expect = if i == 3 { 8000.0 } else { 4000.0 };
            assert!((*w as f64 - expect).abs() < expect * 0.08, "{wins:?}");
        }
    }

    #[test]
    fn adding_a_store_moves_only_its_share() {
        let s5 = stores(5);
        let s6 = stores(6);
        let mut moved = 0;
        let n = 10_000u32;
        for i in 0..n {
            let c = Hash32::of(&i.to_le_bytes());
            let a = s5[rank(Item::Chunk(&c), &s5)[0]].id.clone();
            let b = s6[rank(Item::Chunk(&c), &s6)[0]].id.clone();
            if a != b {
                assert_eq!(b.as_str(), "s5", "moved between old stores");
                moved += 1;
            }
        }
        let share = moved as f64 / f64::from(n);
        assert!((share - 1.0 / 6.0).abs() < 0.03, "{share}");
    }

    /// Placement is part of the storage format: pin one ranking.
    #[test]
    fn ranking_is_pinned() {
        let s = stores(6);
        let c = Hash32::of(b"annex-swarm");
        assert_eq!(rank(Item::Chunk(&c), &s), PINNED);
        assert_eq!(
            rank(Item::Manifest(b"SHA256E-s0--e3b0"), &s),
            PINNED_MANIFEST
        );
    }
    const PINNED: [usize; 6] = [3, 4, 5, 0, 1, 2];
    const PINNED_MANIFEST: [usize; 6] = [3, 4, 5, 2, 1, 0];
}
