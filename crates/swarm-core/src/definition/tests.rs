#![allow(clippy::unwrap_used)]

use super::*;

fn entry(id: &str, url: &str) -> StoreEntry {
    StoreEntry::new(id.parse().unwrap(), url)
}

fn six() -> Vec<StoreEntry> {
    (0..6)
        .map(|i| entry(&format!("s{i}"), &format!("/tmp/s{i}")))
        .collect()
}

#[test]
fn shard_size_follows_the_store_kinds_unless_set() {
    let local = SwarmDefinition::new(3, 2, six()[..5].to_vec()).unwrap();
    assert_eq!(local.coding.shard_size, Some(DEFAULT_SHARD_SIZE));
    let mut stores = six()[..4].to_vec();
    stores.push(entry(
        "cloud",
        "s3://bucket/p?endpoint=http://127.0.0.1:8333",
    ));
    let mixed = SwarmDefinition::new(3, 2, stores).unwrap();
    assert_eq!(mixed.coding.shard_size, Some(REMOTE_SHARD_SIZE));
    assert_eq!(mixed.chunker().group.map(|g| g.min), Some(12 << 20));
    // A hand-written document without shard_size gets the same choice when read.
    let mut unset = mixed.clone();
    unset.coding.shard_size = None;
    let text = unset.to_toml();
    assert!(!text.contains("shard_size"), "{text}");
    assert_eq!(
        SwarmDefinition::parse(&text).unwrap().shard_size(),
        REMOTE_SHARD_SIZE
    );
    // Written down, it stays when stores of another kind come and go.
    let mut kept = mixed.clone();
    kept.stores.truncate(4);
    kept.stores.push(entry("s5", "/tmp/s5"));
    assert_eq!(kept.shard_size(), REMOTE_SHARD_SIZE);
}

#[test]
fn new_swarms_name_stores_by_position_and_url() {
    let urls = [
        "/srv/s1",
        "/srv/s2",
        "s3://bkt/p?endpoint=http://127.0.0.1:8333",
    ];
    let def = SwarmDefinition::from_urls(2, 1, urls).unwrap();
    let ids: Vec<String> = def.stores.iter().map(|s| s.id.to_string()).collect();
    // Pinned: placement hashes over ids, so existing swarms depend on these.
    assert_eq!(ids, ["s1-eacace", "s2-cfd301", "s3-23e4af"]);
    for (n, (id, url)) in ids.iter().zip(urls).enumerate() {
        let hash = blake3::hash(url.as_bytes()).to_hex();
        assert_eq!(*id, format!("s{}-{}", n + 1, &hash[..6]));
    }
    assert_eq!(def.stores[2].url, urls[2]);
    assert_eq!(def.coding.shard_size, Some(REMOTE_SHARD_SIZE));
    // A bad URL is refused as such, before the coding is looked at.
    let err = SwarmDefinition::from_urls(9, 9, ["/a", "s3://u:hunter2@bkt"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad store URL `s3://***@bkt`: s3 URLs take no user or key before the bucket; \
         credentials never go in store URLs (the definition is shared): use environment \
         variables or ~/.config/annex-swarm/credentials.toml (see README, Credentials)"
    );
    assert!(matches!(
        SwarmDefinition::from_urls(2, 1, ["/a", "/b"]),
        Err(DefinitionError::TooFewStores {
            needed: 3,
            stores: 2
        })
    ));
}

#[test]
fn round_trips_through_toml() {
    let def = SwarmDefinition::new(4, 2, six()).unwrap();
    let text = def.to_toml();
    assert_eq!(SwarmDefinition::parse(&text).unwrap(), def);
    assert!(text.contains("[[store]]"), "{text}");
}

#[test]
fn golden_document_parses() {
    let def = SwarmDefinition::parse(GOLDEN).unwrap();
    assert_eq!(def.coding.k, 4);
    assert_eq!(def.coding.shard_size, Some(ByteSize(1 << 20)));
    assert_eq!(
        def.stores[1].location().unwrap(),
        StoreLocation::Local("/mnt/b c".into())
    );
    let b = &def.stores[1];
    assert_eq!(b.quota, Some(ByteSize(500 << 30)));
    assert_eq!(b.download_rate, Some(Rate(20 << 20)));
    assert_eq!(b.upload_rate, Some(Rate(5_000_000)));
    assert_eq!(b.connections, Some(8));
    assert_eq!(def.stores[0].download_rate, None);
    // Limits survive a round trip through the writer.
    assert_eq!(SwarmDefinition::parse(&def.to_toml()).unwrap(), def);
}

const GOLDEN: &str = r#"
format = 1
swarm = "00112233445566778899aabbccddeeff"
version = 3
[coding]
k = 4
m = 2
shard_size = "1MiB"
inline_threshold = "256KiB"
[[store]]
id = "a"
url = "/mnt/a"
[[store]]
id = "b"
url = "file:///mnt/b%20c"
weight = 2.0
quota = "500GiB"
download_rate = "20MiB/s"
upload_rate = "5MB/s"
connections = 8
[[store]]
id = "c"
url = "/mnt/c"
[[store]]
id = "d"
url = "/mnt/d"
[[store]]
id = "e"
url = "/mnt/e"
[[store]]
id = "f"
url = "/mnt/f"
"#;

#[test]
fn bad_documents_name_the_problem() {
    let cases = [
        ("", "missing `format = 1`"),
        (
            "format = 3",
            "format 3 is not supported (this build reads formats 1 and 2)",
        ),
        (&GOLDEN.replace("k = 4", "k = 0"), "bad coding"),
        (&GOLDEN.replace("m = 2", "m = 3"), "needs at least 7 stores"),
        (
            &GOLDEN.replace("id = \"b\"", "id = \"a\""),
            "store `a`: id used twice",
        ),
        (&GOLDEN.replace("/mnt/c", "peer://x"), "bad node id `x`"),
        (&GOLDEN.replace("/mnt/c", "s3://B"), "bad bucket name"),
        (&GOLDEN.replace("/mnt/d", "mnt/d"), "absolute path"),
        (
            &GOLDEN.replace("weight = 2.0", "weight = -1.0"),
            "must be positive",
        ),
        (
            &GOLDEN.replace("version = 3", "version = 3\ncolour = 1"),
            "unknown field",
        ),
        (&GOLDEN.replace("\"1MiB\"", "\"3MiB\""), "power of two"),
        (&GOLDEN.replace("\"1MiB\"", "\"lots\""), "bad size"),
        (
            &GOLDEN.replace("connections = 8", "connections = 0"),
            "connections 0",
        ),
        (&GOLDEN.replace("\"20MiB/s\"", "\"0/s\""), "above zero"),
        (&GOLDEN.replace("\"20MiB/s\"", "\"quick\""), "bad size"),
        ("format = 1\nswarm = \"zz\"", "bad swarm id"),
    ];
    for (doc, want) in cases {
        let err = SwarmDefinition::parse(doc).unwrap_err().to_string();
        assert!(err.contains(want), "want `{want}` in `{err}`");
        assert!(!err.contains('\n'), "multi-line error: {err}");
    }
}

/// A format 2 document with every member field (TEST-ONLY keys; the signing golden vector).
const GOLDEN_V2: &str = include_str!("../../tests/data/signing/definition-v2.toml");
const NAS: &str = "db9b2447c192989c621149a31599f271acfbdfe4a0553e97149d8baa85090dd6";
const ADMIN: &str = "ecac916f1117be9b88d9491752f050e60c33d4337a3c208f552dabb13ddbe232";

#[test]
fn format_2_members_parse() {
    let def = SwarmDefinition::parse(GOLDEN_V2).unwrap();
    assert_eq!(def.format, FORMAT_2);
    let members: Vec<(&str, Role, MemberKind)> =
        def.members().map(|m| (m.name, m.role, m.kind)).collect();
    assert_eq!(
        members,
        [
            ("nas", Role::Write, MemberKind::Node),
            ("admin@test", Role::Admin, MemberKind::Client),
            ("bob", Role::Write, MemberKind::Client),
        ]
    );
    let admins: Vec<String> = def.admins().map(|m| m.id.to_string()).collect();
    assert_eq!(admins, [ADMIN]);
    let nas = def.node(&NAS.parse().unwrap()).unwrap();
    assert_eq!(nas.addrs, ["127.0.0.1:7420"]);
    assert_eq!(nas.store.as_deref(), Some("/srv/shards"));
    match def.stores[0].location().unwrap() {
        StoreLocation::Peer { node, addr } => {
            assert_eq!(node.to_string(), NAS);
            assert_eq!(addr.unwrap().to_string(), "127.0.0.1:7420");
        }
        other => panic!("{other:?}"),
    }
    // Peer stores are remote: the default shard size follows.
    assert_eq!(def.stores[0].location().unwrap().kind(), "peer");
    // Written back, keys keep the form they were written in, and the document reads the same.
    let text = def.to_toml();
    assert!(
        text.starts_with("# annex-swarm swarm definition (format 2)"),
        "{text}"
    );
    assert!(text.contains("key = \"ssh-ed25519 AAAA"), "{text}");
    assert!(
        !text.contains("role = \"write\"\naddrs"),
        "node default role written: {text}"
    );
    assert_eq!(SwarmDefinition::parse(&text).unwrap(), def);
}

#[test]
fn the_spec_example_parses() {
    let spec = include_str!("../../../../docs/spec/definition-v2.md");
    let start = spec.find("```toml\n").unwrap() + 8;
    let end = start + spec[start..].find("```").unwrap();
    let def = SwarmDefinition::parse(&spec[start..end]).unwrap();
    assert_eq!(def.relays, ["https://relay.example.org"]);
    assert_eq!(
        def.dht,
        Some(DhtSection {
            enabled: true,
            bootstrap: vec!["127.0.0.1:6881".into()]
        })
    );
    assert_eq!(def.nodes[0].addrs[1], "[fd00::10]:7420");
    assert_eq!(def.nodes[0].upload_rate, Some(Rate(20 << 20)));
    assert_eq!(SwarmDefinition::parse(&def.to_toml()).unwrap(), def);
}

#[test]
fn bad_format_2_documents_name_the_problem() {
    let bob = "b000bcc992ee3346452aff65de216da726d3c2d85095080d998c6e82921f5746";
    let cases = [
        (
            GOLDEN_V2.replace("format = 2", "format = 1"),
            "[[node]] needs format 2 (this document says `format = 1`)",
        ),
        (
            GOLDEN_V2.replace("name = \"bob\"", "name = \"nas\""),
            "member `nas`: name used twice",
        ),
        (
            GOLDEN_V2.replace("name = \"bob\"", "name = \"b o b\""),
            "member name `b o b`",
        ),
        (
            GOLDEN_V2.replace(bob, NAS),
            "members `nas` and `bob` have the same key",
        ),
        (
            GOLDEN_V2.replace("role = \"write\"", "role = \"owner\""),
            "unknown variant `owner`",
        ),
        (
            GOLDEN_V2.replace("role = \"write\"\n", ""),
            "missing field `role`",
        ),
        (
            GOLDEN_V2.replace("addrs = [\"127.0.0.1:7420\"]", "addrs = [\"127.0.0.1\"]"),
            "node `nas`: bad address `127.0.0.1`: expected host:port",
        ),
        (
            GOLDEN_V2.replace("addrs = [\"127.0.0.1:7420\"]", "addrs = [\"h:0\"]"),
            "node `nas`: bad port `0`",
        ),
        (
            GOLDEN_V2.replace("\"/srv/shards\"", "\"srv/shards\""),
            "node `nas`: store `srv/shards` must be an absolute directory on that node",
        ),
        (
            GOLDEN_V2.replace(&format!("peer://{NAS}@"), &format!("peer://{bob}@")),
            "names no [[node]]",
        ),
        (
            GOLDEN_V2.replace("url = \"/mnt/usb\"", &format!("url = \"peer://{NAS}\"")),
            "node `nas` is the peer of both stores `nas` and `usb`",
        ),
        (
            GOLDEN_V2.replace(
                &format!("peer://{NAS}@127.0.0.1:7420"),
                &format!("peer://{NAS}/x"),
            ),
            "peer URLs are peer://NODEID",
        ),
        (
            GOLDEN_V2.replace(NAS, &NAS.to_uppercase()),
            "expected a node id",
        ),
        (
            GOLDEN_V2.replace("version = 1", "version = 1\nrelays = [\"ftp://r\"]"),
            "relays: relay `ftp://r` must be http(s)://host",
        ),
        (
            GOLDEN_V2.replace("[[node]]", "[dht]\nbootstrap = [\"x\"]\n[[node]]"),
            "dht.bootstrap: bad address `x`",
        ),
        (
            GOLDEN_V2.replace("[[node]]", "[dht]\nenable = true\n[[node]]"),
            "unknown field `enable`",
        ),
        (
            GOLDEN_V2.replace(
                "store = \"/srv/shards\"",
                "store = \"/srv/shards\"\nweight = 2.0",
            ),
            "unknown field `weight`",
        ),
    ];
    for (doc, want) in cases {
        assert_ne!(doc, GOLDEN_V2, "case `{want}` changed nothing");
        let err = SwarmDefinition::parse(&doc).unwrap_err().to_string();
        assert!(err.contains(want), "want `{want}` in `{err}`");
        assert!(!err.contains('\n'), "multi-line error: {err}");
    }
    // Format 1 refuses a peer store as needing format 2, before looking for its node.
    let v1 = GOLDEN.replace("/mnt/c", &format!("peer://{NAS}"));
    assert_eq!(
        SwarmDefinition::parse(&v1).unwrap_err().to_string(),
        "a peer:// store needs format 2 (this document says `format = 1`)"
    );
}

#[test]
fn full_copies_need_as_many_nodes_with_stores() {
    let one = GOLDEN_V2.replace(
        "shard_size = \"1MiB\"",
        "shard_size = \"1MiB\"\nfull_copies = 1",
    );
    let def = SwarmDefinition::parse(&one).unwrap();
    assert_eq!(def.coding.full_copies, 1);
    assert_eq!(def.full_copy_nodes().len(), 1);
    assert_eq!(def.full_copy_nodes()[0].1.as_str(), "nas");
    // Written back only when set.
    assert!(toml::to_string(&def).unwrap().contains("full_copies = 1"));
    assert!(
        !toml::to_string(&SwarmDefinition::parse(GOLDEN_V2).unwrap())
            .unwrap()
            .contains("full_copies")
    );
    let two = GOLDEN_V2.replace(
        "shard_size = \"1MiB\"",
        "shard_size = \"1MiB\"\nfull_copies = 2",
    );
    assert_eq!(
        SwarmDefinition::parse(&two).unwrap_err().to_string(),
        "bad coding: full_copies = 2 needs 2 nodes with a peer:// store, the definition has 1"
    );
    let v1 = "format = 1\nswarm = \"5157a2d0c0ffee0011223344556677aa\"\nversion = 1\n[coding]\nk = 1\nm = 1\nfull_copies = 1\n[[store]]\nid = \"a\"\nurl = \"/a\"\n[[store]]\nid = \"b\"\nurl = \"/b\"\n";
    assert_eq!(
        SwarmDefinition::parse(v1).unwrap_err().to_string(),
        "`full_copies` needs format 2 (this document says `format = 1`)"
    );
}

/// A key of the shape git-annex prints (the hash is not checked here).
const SEED_KEY: &str =
    "SHA256E-s1048576--0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.iso";

fn with_seed(section: &str) -> String {
    GOLDEN_V2.replace("[[node]]", &format!("{section}\n[[node]]"))
}

#[test]
fn seed_sections_name_keys_and_the_nodes_that_seed_them() {
    // Absent: nothing seeded, and nothing written back.
    let plain = SwarmDefinition::parse(GOLDEN_V2).unwrap();
    assert_eq!(plain.seed, None);
    assert!(plain.seeds_of(&NAS.parse().unwrap()).is_empty());
    assert!(!plain.to_toml().contains("[seed]"));

    let def = SwarmDefinition::parse(&with_seed(&format!(
        "[seed]\nkeys = [\"{SEED_KEY}\"]\nnodes = [\"nas\"]\ntrackers = [\"udp://t.example.org:6969/announce\", \"http://127.0.0.1:6969/announce\"]\nupload_rate = \"5MiB/s\"\n"
    )))
    .unwrap();
    let seed = def.seed.clone().unwrap();
    assert_eq!(seed.trackers.len(), 2);
    assert!(!seed.dht);
    assert_eq!(seed.upload_rate, Some(Rate(5 << 20)));
    let keys: Vec<String> = def
        .seeds_of(&NAS.parse().unwrap())
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, [SEED_KEY]);
    // A member that is not among seed.nodes (here a client) seeds nothing.
    assert!(def.seeds_of(&ADMIN.parse().unwrap()).is_empty());
    assert_eq!(SwarmDefinition::parse(&def.to_toml()).unwrap(), def);
    // An empty section seeds nothing and is fine.
    assert!(SwarmDefinition::parse(&with_seed("[seed]\n")).is_ok());
}

#[test]
fn bad_seed_sections_name_the_problem() {
    let cases = [
        (
            "[seed]\nkeys = [\"not a key\"]\nnodes = [\"nas\"]".to_owned(),
            "seed.keys: `not a key` is not a git-annex key",
        ),
        (
            format!("[seed]\nkeys = [\"{SEED_KEY}\", \"{SEED_KEY}\"]\nnodes = [\"nas\"]"),
            "listed twice",
        ),
        (
            format!("[seed]\nkeys = [\"{SEED_KEY}\"]\nnodes = [\"bob\"]"),
            "seed.nodes: no [[node]] is named `bob`",
        ),
        (
            format!("[seed]\nkeys = [\"{SEED_KEY}\"]"),
            "no node seeds them",
        ),
        (
            format!(
                "[seed]\nkeys = [\"{SEED_KEY}\"]\nnodes = [\"nas\"]\ntrackers = [\"http://t.example.org/announce?passkey=secret\"]"
            ),
            "seed.trackers: tracker `http://t.example.org/announce?<hidden>` must be",
        ),
        (
            "[seed]\ntrackers = [\"ws://t.example.org\"]".to_owned(),
            "seed.trackers: tracker `ws://t.example.org` must be",
        ),
        (
            "[seed]\nupload_rate = \"0B/s\"".to_owned(),
            "a rate must be above zero",
        ),
        ("[seed]\nkey = []".to_owned(), "unknown field `key`"),
    ];
    for (section, want) in cases {
        let err = SwarmDefinition::parse(&with_seed(&section))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "want `{want}` in `{err}`");
        assert!(!err.contains("secret"), "{err}");
    }
    let v1 = GOLDEN.replacen("[[store]]", "[seed]\n[[store]]", 1);
    assert_ne!(v1, GOLDEN);
    assert_eq!(
        SwarmDefinition::parse(&v1).unwrap_err().to_string(),
        "[seed] needs format 2 (this document says `format = 1`)"
    );
}
