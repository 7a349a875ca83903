//! Golden vectors made by the real git-annex: see `tests/data/keys.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use swarm_core::key::{Backend, HashAlg, Key, KeyError};

const DATA: &str = include_str!("data/keys.txt");

struct Vector<'a> {
    line: usize,
    backend: &'a str,
    content: &'a str,
    file_name: &'a str,
    key: &'a str,
}

fn vectors() -> Vec<Vector<'static>> {
    DATA.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let mut parts = l.split(' ');
            let (Some(backend), Some(recipe), Some(key), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                panic!(
                    "line {}: expected `<backend> <content>:<file> <key>`",
                    i + 1
                )
            };
            let (content, file_name) = recipe
                .split_once(':')
                .unwrap_or_else(|| panic!("line {}: recipe without `:`", i + 1));
            Vector {
                line: i + 1,
                backend,
                content,
                file_name,
                key,
            }
        })
        .collect()
}

/// The bytes a recipe stands for: `empty`, `hello` or `patternN`.
fn content(recipe: &str) -> Vec<u8> {
    match recipe {
        "empty" => Vec::new(),
        "hello" => b"hello\n".to_vec(),
        _ => {
            let n: usize = recipe
                .strip_prefix("pattern")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unknown content recipe `{recipe}`"));
            (0..n).map(|i| (i % 251) as u8).collect()
        }
    }
}

/// Hashes in uneven pieces, to exercise the streaming paths.
fn hash(key: &Key, data: &[u8]) -> String {
    let mut h = key.hasher().expect("hashing backend");
    let mut rest = data;
    for piece in [1usize, 7, 64, 1000].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (*piece).min(rest.len());
        h.update(&rest[..n]);
        rest = &rest[n..];
    }
    h.finalize()
}

#[test]
fn golden_keys_match_git_annex() {
    let vectors = vectors();
    assert!(vectors.len() > 300, "only {} vectors", vectors.len());
    for v in &vectors {
        let ctx = format!("line {}: {}", v.line, v.key);
        let backend: Backend = v.backend.parse().expect(&ctx);
        let golden: Key = v.key.parse().expect(&ctx);
        assert_eq!(golden.to_string(), v.key, "{ctx}");
        assert_eq!(golden.backend(), &backend, "{ctx}");

        let data = content(v.content);
        assert_eq!(golden.size(), Some(data.len() as u64), "{ctx}");
        let digest = hash(&golden, &data);
        assert_eq!(golden.digest_hex(), Some(digest.as_str()), "{ctx}");

        let made = Key::from_content(backend, &digest, data.len() as u64, v.file_name).expect(&ctx);
        assert_eq!(made, golden, "{ctx}");
        assert_eq!(made.to_string(), v.key, "{ctx}");
        golden.check_digest(&digest).expect(&ctx);

        // A flipped byte (or an extra one for empty content) must not verify.
        let mut bad = data.clone();
        match bad.first_mut() {
            Some(b) => *b ^= 1,
            None => bad.push(0),
        }
        let err = golden.check_digest(&hash(&golden, &bad)).unwrap_err();
        assert!(
            matches!(err, KeyError::DigestMismatch { .. }),
            "{ctx}: {err}"
        );
    }
}

#[test]
fn golden_vectors_cover_every_hashing_backend() {
    let seen: BTreeSet<String> = vectors().iter().map(|v| v.backend.to_owned()).collect();
    for alg in HashAlg::ALL {
        for extension in [false, true] {
            let b = Backend::hash(alg, extension);
            assert!(seen.contains(b.name()), "no golden vector for {b}");
        }
    }
}
