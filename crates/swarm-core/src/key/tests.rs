#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

const H256: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
const MD5_HELLO: &str = "b1946ac92492d2347c6235b4d2611184";

fn key(s: &str) -> Key {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> KeyError {
    match s.parse::<Key>() {
        Ok(k) => panic!("{s:?} should not parse, got {k:?}"),
        Err(e) => e,
    }
}

#[test]
fn parses_git_annex_keys() {
    let k = key(&format!("SHA256E-s6--{H256}.txt"));
    assert_eq!(k.backend(), &Backend::sha256e());
    assert_eq!(k.size(), Some(6));
    assert_eq!(k.mtime(), None);
    assert_eq!(k.chunk(), None);
    assert_eq!(k.name(), format!("{H256}.txt").as_bytes());
    assert_eq!(k.digest_hex(), Some(H256));
    assert_eq!(k.extension(), Some(&b".txt"[..]));
    assert!(k.hasher().is_some());

    // Made by `git annex calckey --backend=WORM hello.txt`.
    let k = key("WORM-s6-m1795240891--hello.txt");
    assert_eq!(k.backend(), &Backend::Worm);
    assert_eq!(k.size(), Some(6));
    assert_eq!(k.mtime(), Some(1_795_240_891));
    assert_eq!(k.digest_hex(), None);
    assert_eq!(k.extension(), None);
    assert!(k.hasher().is_none());

    let k = key(&format!("SHA256-s1048576-S65536-C3--{H256}"));
    assert_eq!(k.chunk(), Some((65536, 3)));
    assert_eq!(k.extension(), None);
    assert_eq!(k.digest_hex(), Some(H256));

    let k = key(&format!("MD5E--{MD5_HELLO}"));
    assert_eq!(k.size(), None);
    assert_eq!(k.extension(), Some(&b""[..]));
    assert_eq!(k.digest_hex(), Some(MD5_HELLO));
}

#[test]
fn names_may_hold_dashes_slashes_and_more() {
    for s in [
        "URL--http://example.com/a--b?c=d&e=%20",
        "WORM---x",
        "WORM--x-s5",
        "WORM-s0--a--b--",
        "URL-s0--a",
        "VURL--https://x.org/f",
        "GITBUNDLE--abc-1",
        "GITMANIFEST--e1a3b0f4-6c6d",
        "XFOO--abc",
        "XFOOE--abc.txt",
        "WORM--\u{e9}t\u{e9},32x",
        "WORM--\\x",
    ] {
        let k = key(s);
        assert_eq!(k.to_string(), s);
        assert!(k.digest_hex().is_none(), "{s}");
    }
    assert_eq!(key("WORM--x-s5").name(), b"x-s5");
    assert_eq!(key("WORM---x").name(), b"-x");
    assert_eq!(
        key("URL--http://example.com/a--b").name(),
        b"http://example.com/a--b"
    );
}

#[test]
fn field_limits() {
    let k = key(&format!(
        "SHA1-s18446744073709551615-m9223372036854775807-S1-C18446744073709551615--{}",
        "0".repeat(40)
    ));
    assert_eq!(k.size(), Some(u64::MAX));
    assert_eq!(k.mtime(), Some(i64::MAX));
    assert_eq!(k.chunk(), Some((1, u64::MAX)));
    assert!(matches!(
        err("WORM-s18446744073709551616--x"),
        KeyError::BadNumber { field: 's', .. }
    ));
    assert!(matches!(
        err("WORM-m9223372036854775808--x"),
        KeyError::BadNumber { field: 'm', .. }
    ));
    assert_eq!(key("WORM-s0-m0--x").size(), Some(0));
}

#[test]
fn uppercase_digests_are_kept_and_checked() {
    let upper = H256.to_ascii_uppercase();
    let k = key(&format!("SHA256E-s6--{upper}.TXT"));
    assert_eq!(k.to_string(), format!("SHA256E-s6--{upper}.TXT"));
    assert_eq!(k.digest_hex(), Some(upper.as_str()));
    k.check_digest(H256).unwrap();
    assert_ne!(k, key(&format!("SHA256E-s6--{H256}.TXT")));
}

#[test]
fn malformed_keys() {
    let h = H256;
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("WORM".into(), "missing-separator"),
        ("XYZ".into(), "missing-separator"),
        ("WORM-s5".into(), "missing-separator"),
        ("WORM-s5-".into(), "missing-separator"),
        (format!("SHA256E-s6-{h}"), "missing-separator"),
        ("FOO--abc".into(), "unknown-backend"),
        ("FOO-s5--abc".into(), "unknown-backend"),
        ("sha256--abc".into(), "unknown-backend"),
        ("X--abc".into(), "unknown-backend"),
        ("--abc".into(), "unknown-backend"),
        ("WORM-sx--x".into(), "bad-number"),
        ("WORM-s--x".into(), "bad-number"),
        ("WORM-s+5--x".into(), "bad-number"),
        ("WORM-s006--x".into(), "bad-number"),
        ("WORM-m00--x".into(), "bad-number"),
        ("WORM-s5x--x".into(), "bad-number"),
        (format!("SHA256-s6-S3--{h}"), "incomplete-chunk"),
        (format!("SHA256-s6-C2--{h}"), "incomplete-chunk"),
        (format!("SHA256-s6-S3-C0--{h}"), "zero-chunk"),
        (format!("SHA256-s6-S0-C1--{h}"), "zero-chunk"),
        (format!("SHA256E-m5-s6--{h}"), "unexpected-field"),
        (format!("SHA256E-s6-C2-S3--{h}"), "unexpected-field"),
        (format!("SHA256E-s6-s6--{h}"), "unexpected-field"),
        ("WORM-x5--y".into(), "unexpected-field"),
        ("WORM-m-5--x".into(), "unexpected-field"),
        ("WORM--".into(), "empty-name"),
        ("WORM-s5--".into(), "empty-name"),
        ("SHA256--abc".into(), "bad-digest"),
        (format!("SHA256--{h}0"), "bad-digest"),
        (format!("SHA256--{}", &h[1..]), "bad-digest"),
        (format!("SHA256--{h}.txt"), "bad-digest"),
        (format!("SHA256E--{h}0.txt"), "bad-digest"),
        (format!("SHA256E--{}.txt", &h[1..]), "bad-digest"),
        (format!("SHA256--{}g", &h[1..]), "bad-digest"),
        (format!("SHA1--{h}"), "bad-digest"),
        (format!("MD5E-s6--{}", &h[..40]), "bad-digest"),
        (format!("SHA256E-s6--{h}x"), "bad-extension"),
        (format!("SHA256E-s6--{h}_txt"), "bad-extension"),
        ("WORM--a b".into(), "bad-char"),
        ("WORM--a\nb".into(), "bad-char"),
        ("WORM--a\tb".into(), "bad-char"),
        ("WORM--a\0b".into(), "bad-char"),
        ("WORM--a\rb".into(), "bad-char"),
        ("WORM--a\x0bb".into(), "bad-char"),
        ("WORM--a\x0cb".into(), "bad-char"),
        (format!("SHA256E-s6--{h}.txt\n"), "bad-char"),
        (format!(" SHA256E-s6--{h}.txt"), "bad-char"),
        ("WORM-s 5--x".into(), "bad-char"),
    ];
    for (s, kind) in cases {
        let e = err(&s);
        assert_eq!(e.kind(), kind, "{s:?}: {e}");
        let msg = e.to_string();
        assert!(
            !msg.contains('\n'),
            "message must stay on one line: {msg:?}"
        );
    }
}

#[test]
fn error_messages() {
    assert_eq!(
        err("XYZ").to_string(),
        "bad key `XYZ`: missing `--` before the name"
    );
    assert_eq!(
        err("FOO--abc").to_string(),
        "bad key `FOO--abc`: unknown backend `FOO` (not a git-annex backend, nor X<name> for an external one)"
    );
    assert_eq!(
        err("WORM-sx--y").to_string(),
        "bad key `WORM-sx--y`: field `-s` has value `x`, which is not a decimal number"
    );
    assert_eq!(
        err("WORM-S4--y").to_string(),
        "bad key `WORM-S4--y`: `-S` without `-C` (a chunk needs both its size and its number)"
    );
    assert_eq!(
        err("WORM-S4-C0--y").to_string(),
        "bad key `WORM-S4-C0--y`: `-C0` is not allowed (chunk sizes and chunk numbers start at 1)"
    );
    assert_eq!(
        err("WORM-m1-s2--y").to_string(),
        "bad key `WORM-m1-s2--y`: unexpected field `-s2` (allowed fields are -s, -m, -S, -C, each at most once and in this order)"
    );
    assert_eq!(
        err("SHA1--abc").to_string(),
        "bad key `SHA1--abc`: SHA1 key name must be exactly 40 hex digits; found 3 hex digits"
    );
    assert_eq!(
        err("MD5E--b1946ac92492d2347c6235b4d261118z.txt").to_string(),
        "bad key `MD5E--b1946ac92492d2347c6235b4d261118z.txt`: MD5E key name must be 32 hex digits, optionally followed by a `.` extension; found non-hex character `z` at position 31"
    );
    assert_eq!(
        err(&format!("MD5--{MD5_HELLO}.txt")).to_string(),
        format!(
            "bad key `MD5--{MD5_HELLO}.txt`: MD5 key name must be exactly 32 hex digits; found `.txt` after the digest (only MD5E keys carry an extension)"
        )
    );
    assert_eq!(
        err("WORM--a\nb").to_string(),
        "bad key `WORM--a\\x0ab`: character U+000A `\\n` at byte 7 is not allowed (keys may not contain NUL or ASCII whitespace)"
    );
    assert_eq!(err("").to_string(), "bad key ``: the key is empty");
}

#[test]
fn from_content_makes_git_annex_keys() {
    let k = Key::from_content(Backend::sha256e(), H256, 6, "hello.txt").unwrap();
    assert_eq!(k.to_string(), format!("SHA256E-s6--{H256}.txt"));
    let k = Key::from_content(Backend::sha256e(), H256, 6, "some/dir.d/x.tar.gz").unwrap();
    assert_eq!(k.to_string(), format!("SHA256E-s6--{H256}.tar.gz"));
    let k = Key::from_content(Backend::sha256e(), H256, 6, "noext").unwrap();
    assert_eq!(k.to_string(), format!("SHA256E-s6--{H256}"));
    let sha256: Backend = "SHA256".parse().unwrap();
    let k = Key::from_content(sha256, &H256.to_ascii_uppercase(), 6, "x.txt").unwrap();
    assert_eq!(k.to_string(), format!("SHA256-s6--{H256}"));

    // Inputs that cannot make a key.
    let e = Key::from_content(Backend::Worm, H256, 6, "x").unwrap_err();
    assert_eq!(e.kind(), "not-verifiable");
    let e = Key::from_content(Backend::sha256e(), MD5_HELLO, 6, "x").unwrap_err();
    assert_eq!(e.kind(), "bad-input-digest");
    assert_eq!(
        e.to_string(),
        format!("digest `{MD5_HELLO}` is not a SHA256 digest: expected 64 hex digits")
    );
    let e = Key::from_content(Backend::sha256e(), &H256.replace('a', "g"), 6, "x").unwrap_err();
    assert_eq!(e.kind(), "bad-input-digest");
    // Like git-annex, any non-ASCII byte stays in the extension, whitespace or not.
    let k = Key::from_content(Backend::sha256e(), H256, 6, "x.a\u{a0}").unwrap();
    assert_eq!(k.extension(), Some(".a\u{a0}".as_bytes()));
}

#[test]
fn check_digest() {
    let k = key(&format!("SHA256E-s6--{H256}.txt"));
    let mut h = k.hasher().unwrap();
    h.update(b"hello\n");
    k.check_digest(&h.finalize()).unwrap();

    let mut h = k.hasher().unwrap();
    h.update(b"hellO\n");
    let actual = h.finalize();
    let e = k.check_digest(&actual).unwrap_err();
    assert_eq!(e.kind(), "digest-mismatch");
    assert_eq!(
        e.to_string(),
        format!("content does not match key `{k}`: expected digest {H256}, actual {actual}")
    );
    assert_eq!(k.check_digest("").unwrap_err().kind(), "digest-mismatch");

    let e = key("WORM-s6-m5--x").check_digest(H256).unwrap_err();
    assert_eq!(e.kind(), "not-verifiable");
    assert_eq!(
        e.to_string(),
        "backend `WORM` carries no content hash (key `WORM-s6-m5--x`)"
    );
}

#[test]
fn new_and_chunks() {
    let k = Key::new(Backend::Url, None, None, None, "http://x/y").unwrap();
    assert_eq!(k.to_string(), "URL--http://x/y");
    assert_eq!(
        Key::new(Backend::Worm, None, None, None, "")
            .unwrap_err()
            .kind(),
        "empty-name"
    );
    assert_eq!(
        Key::new(Backend::Worm, None, Some(-1), None, "x")
            .unwrap_err()
            .kind(),
        "bad-number"
    );
    assert_eq!(
        Key::new(Backend::sha256e(), None, None, None, "abc")
            .unwrap_err()
            .kind(),
        "bad-digest"
    );

    let k = key(&format!("SHA256E-s300--{H256}.txt"));
    let c = k.with_chunk(100, 2).unwrap();
    assert_eq!(c.to_string(), format!("SHA256E-s300-S100-C2--{H256}.txt"));
    assert_eq!(c.without_chunk(), k);
    assert_eq!(k.with_chunk(100, 0).unwrap_err().kind(), "zero-chunk");
    assert_eq!(k.with_chunk(0, 1).unwrap_err().kind(), "zero-chunk");
}

#[test]
fn serde_uses_the_key_string() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Entry {
        key: Key,
    }
    let e = Entry {
        key: key(&format!("SHA256E-s6--{H256}.txt")),
    };
    let text = toml::to_string(&e).unwrap();
    assert_eq!(text.trim(), format!("key = \"SHA256E-s6--{H256}.txt\""));
    assert_eq!(toml::from_str::<Entry>(&text).unwrap(), e);
    let bad = toml::from_str::<Entry>("key = \"WORM--\"").unwrap_err();
    assert!(
        bad.to_string().contains("the name after `--` is empty"),
        "{bad}"
    );
}

#[test]
fn every_backend_parses_in_a_key() {
    for b in Backend::builtin() {
        let name = match b.hex_len() {
            Some(n) => "0".repeat(n),
            None => "x".to_owned(),
        };
        let s = format!("{b}-s1--{name}");
        let k = key(&s);
        assert_eq!(k.backend(), &b);
        assert_eq!(k.to_string(), s);
        assert_eq!(k.hasher().is_some(), b.is_verifiable());
        assert_eq!(k.digest_hex().is_some(), b.is_verifiable());
    }
}

/// Keys git-annex sends to special remotes whose content is not what the name says.
#[test]
fn opaque_keys_print_verbatim_and_check_nothing() {
    for text in [
        "GPGHMACSHA1--c6e674906f8bd1ab1e1d5fb4a4e63b8cbb76b16d",
        "SHA256E-s1048576-S102400-C3--7cb10c53d8e7b3bbc0b4e0b9dbb3e6b0a0e2cbd0a2c3a3f7f6f1a8e3b1c8da9c.bin",
        "XXH3-s6--2b1f0b6e9a1c3d4e",
        "FOO-bar--",
    ] {
        let k = Key::opaque(text).unwrap();
        assert_eq!(k.to_string(), text);
        assert!(k.is_opaque());
        assert_eq!(k.backend(), &Backend::Opaque);
        assert_eq!((k.size(), k.mtime(), k.chunk()), (None, None, None));
        assert!(k.hasher().is_none());
        assert!(k.digest_hex().is_none());
        assert!(matches!(
            k.check_digest("00"),
            Err(KeyError::NotVerifiable { .. })
        ));
    }
    // The parsed key with the same text is another key.
    let text = "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt";
    assert_ne!(Key::opaque(text).unwrap(), key(text));
    assert!(!key(text).is_opaque());
}

#[test]
fn opaque_keys_refuse_empty_and_whitespace() {
    assert_eq!(Key::opaque(""), Err(KeyError::Empty));
    assert!(matches!(
        Key::opaque("GPGHMACSHA1--a b"),
        Err(KeyError::BadChar {
            ch: ' ',
            index: 14,
            ..
        })
    ));
    assert!(matches!(Key::opaque("a\nb"), Err(KeyError::BadChar { .. })));
    assert!(
        "opaque--x".parse::<Key>().is_err(),
        "parsing never yields Opaque"
    );
}

// ---- property tests ----

fn arb_backend() -> impl Strategy<Value = Backend> {
    let builtin: Vec<Backend> = Backend::builtin().collect();
    prop_oneof![
        4 => proptest::sample::select(builtin),
        1 => ("[A-Za-z0-9_]{1,8}", any::<bool>()).prop_filter_map("ambiguous external name", |(n, e)| {
            ExternalBackend::new(&n, e).ok().map(Backend::External)
        }),
    ]
}

/// Bytes any key may hold: everything but NUL and ASCII whitespace.
fn arb_key_byte() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("forbidden in keys", |b| !is_forbidden(*b))
}

/// A name valid for `backend`: text, or bytes that need not be UTF-8.
fn arb_name(backend: Backend) -> BoxedStrategy<Vec<u8>> {
    match backend {
        Backend::Hash { alg, extension } => {
            let hex = proptest::collection::vec(
                proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                alg.hex_len(),
            );
            if extension {
                let part = prop_oneof![
                    "[a-zA-Z0-9\u{e9}]{0,5}".prop_map(String::into_bytes),
                    proptest::collection::vec(prop_oneof![b'a'..=b'z', 0x80u8..=0xff], 0..5),
                ];
                let ext = proptest::collection::vec(part, 0..3).prop_map(|parts| {
                    parts.into_iter().fold(Vec::new(), |mut e, p| {
                        e.push(b'.');
                        e.extend(p);
                        e
                    })
                });
                (hex, ext)
                    .prop_map(|(mut h, e)| {
                        h.extend(e);
                        h
                    })
                    .boxed()
            } else {
                hex.boxed()
            }
        }
        // Printable text without whitespace (dashes, slashes, `--` included), or any bytes.
        _ => prop_oneof![
            "[!-~\u{e9}\u{4e2d}-]{1,30}".prop_map(String::into_bytes),
            proptest::collection::vec(arb_key_byte(), 1..30),
        ]
        .boxed(),
    }
}

prop_compose! {
    fn arb_key()(backend in arb_backend())(
        name in arb_name(backend.clone()),
        backend in Just(backend),
        size in proptest::option::of(any::<u64>()),
        mtime in proptest::option::of(0..=i64::MAX),
        chunk in proptest::option::of((1..=u64::MAX, 1..=u64::MAX)),
    ) -> Key {
        Key::assemble(backend, size, mtime, chunk, &name)
    }
}

proptest! {
    #[test]
    fn bytes_then_parse_is_identity(k in arb_key()) {
        let back = Key::from_bytes(k.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &k);
        prop_assert_eq!(back.as_bytes(), k.as_bytes());
        // Printed keys read back when they are printable text, and are one word anyway.
        let shown = k.to_string();
        prop_assert!(!shown.contains(char::is_whitespace), "{:?}", shown);
        if k.as_str() == Some(shown.as_str()) {
            prop_assert_eq!(shown.parse::<Key>().unwrap(), k);
        }
    }

    #[test]
    fn parse_keeps_any_bytes_it_accepts(bytes in proptest::collection::vec(any::<u8>(), 0..60)) {
        if let Ok(k) = Key::from_bytes(&bytes) {
            prop_assert_eq!(k.as_bytes(), &bytes[..]);
        }
        if let Ok(k) = Key::opaque(&bytes) {
            prop_assert_eq!(k.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn parse_then_print_is_identity_on_near_keys(
        s in "(WORM|URL|SHA1|MD5E|XFOO|XE|FOO)(-s[0-9]{1,3})?(-m[0-9]{1,3})?(-[SCsmx][0-9]{0,2}){0,3}--[!-~ ]{0,12}"
    ) {
        if let Ok(k) = s.parse::<Key>() {
            prop_assert_eq!(k.to_string(), s);
        }
    }

    #[test]
    fn parse_then_print_is_identity_on_anything(s in "\\PC{0,40}|[-A-Za-z0-9.]{0,40}") {
        if let Ok(k) = s.parse::<Key>() {
            prop_assert_eq!(k.to_string(), s);
        }
    }

    #[test]
    fn from_content_digest_round_trips(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        alg in proptest::sample::select(HashAlg::ALL.to_vec()),
        extension in any::<bool>(),
        file_name in "[a-z]{0,3}(\\.[a-z_]{0,5}){0,3}",
    ) {
        let backend = Backend::hash(alg, extension);
        let mut h = backend.hasher().unwrap();
        h.update(&data);
        let digest = h.finalize();
        let k = Key::from_content(backend.clone(), &digest, data.len() as u64, &file_name).unwrap();
        let on_disk = [file_name.as_bytes(), &[0xe9]].concat();
        let latin1 = Key::from_content(backend, &digest, data.len() as u64, &on_disk).unwrap();
        prop_assert_eq!(latin1.digest_hex(), Some(digest.as_str()));
        prop_assert_eq!(k.digest_hex(), Some(digest.as_str()));
        prop_assert_eq!(k.size(), Some(data.len() as u64));
        prop_assert!(k.check_digest(&digest).is_ok());
        prop_assert_eq!(k.to_string().parse::<Key>().unwrap(), k);
    }
}

/// git-annex keeps a Latin-1 byte of a file's extension in a SHA256E key (`photo.\xe9` gives a
/// key ending `.\xe9`); such keys used to be refused as "not UTF-8" and killed the remote.
#[test]
fn keys_with_latin1_extension_bytes_parse_and_keep_their_bytes() {
    // As `git annex calckey --backend=SHA256E` (10.20230126) prints it for `photo.\xe9`
    // holding `hello\n`.
    let text = [format!("SHA256E-s6--{H256}.").as_bytes(), &[0xe9]].concat();
    let k = Key::from_bytes(&text).unwrap();
    assert_eq!(k.as_bytes(), &text[..]);
    assert_eq!(k.as_str(), None);
    assert_eq!(k.backend(), &Backend::sha256e());
    assert_eq!(k.digest_hex(), Some(H256));
    assert_eq!(k.extension(), Some(&b".\xe9"[..]));
    k.check_digest(H256).unwrap();
    assert_eq!(
        Key::from_content(Backend::sha256e(), H256, 6, b"photo.\xe9").unwrap(),
        k
    );
    // Shown escaped, one word; never the identity.
    assert_eq!(k.to_string(), format!("SHA256E-s6--{H256}.\\xe9"));
    assert_ne!(k.to_string().as_bytes(), k.as_bytes());
    assert_eq!(
        format!("{k:?}"),
        format!("Key(\"SHA256E-s6--{H256}.\\xe9\")")
    );
    // Chunk keys and opaque keys keep the bytes too.
    let c = k.with_chunk(2, 3).unwrap();
    assert_eq!(
        c.as_bytes(),
        &[format!("SHA256E-s6-S2-C3--{H256}.").as_bytes(), &[0xe9]].concat()[..]
    );
    assert_eq!(c.without_chunk(), k);
    let o = Key::opaque(&text).unwrap();
    assert_eq!(o.as_bytes(), &text[..]);
    assert_ne!(o, k);
}

#[test]
fn keys_hold_any_byte_but_nul_and_ascii_whitespace() {
    for name in [
        &b"a\xff\xfeb"[..],
        "a\u{a0}b".as_bytes(),
        "a\u{85}b".as_bytes(),
        "a\u{2028}b".as_bytes(),
        b"a\x01b\x7f",
        b"\x1b[31m",
    ] {
        let text = [b"WORM--", name].concat();
        let k = Key::from_bytes(&text).unwrap();
        assert_eq!(k.name(), name);
        let shown = k.to_string();
        assert!(
            !shown.contains(|c: char| c.is_control() || c.is_whitespace()),
            "{shown:?}"
        );
        assert_eq!(Key::opaque(&text).unwrap().as_bytes(), &text[..]);
    }
    assert_eq!(
        Key::from_bytes(b"WORM--a\x01\xe9\xc2\x85")
            .unwrap()
            .to_string(),
        "WORM--a\\x01\\xe9\\xc2\\x85"
    );
    for bad in [
        &b"WORM--a\0b"[..],
        b"WORM--a b",
        b"WORM--\xe9\tx",
        b"\x0bWORM--x",
    ] {
        assert_eq!(
            Key::from_bytes(bad).unwrap_err().kind(),
            "bad-char",
            "{bad:?}"
        );
        assert_eq!(Key::opaque(bad).unwrap_err().kind(), "bad-char", "{bad:?}");
    }
    // Not UTF-8 in the backend or a field: refused like any unknown backend or bad number.
    assert_eq!(
        Key::from_bytes(b"SHA\xe9--x").unwrap_err().to_string(),
        "bad key `SHA\\xe9--x`: unknown backend `SHA\\xe9` (not a git-annex backend, nor X<name> for an external one)"
    );
    assert_eq!(
        Key::from_bytes(b"WORM-s\xe9--x").unwrap_err().kind(),
        "bad-number"
    );
    let e = Key::from_bytes(&[format!("SHA256--{}", &H256[1..]).as_bytes(), b"\xe9"].concat())
        .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("found non-hex character `\\xe9` at position 63"),
        "{e}"
    );
}

#[test]
fn keys_that_are_not_utf8_do_not_serialize() {
    #[derive(serde::Serialize)]
    struct Entry {
        key: Key,
    }
    let key = Key::from_bytes(b"WORM--\xe9").unwrap();
    let e = toml::to_string(&Entry { key }).unwrap_err();
    assert!(e.to_string().contains("is not UTF-8"), "{e}");
}
