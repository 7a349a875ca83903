//! Golden vector of the DHT record: the hex block of `docs/spec/dht-record-v1.md` is exactly
//! what this record encodes to, and decodes back to it. Its salt too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use swarm_wire::{NodeRecord, record_salt};

const SPEC: &str = include_str!("../../../docs/spec/dht-record-v1.md");

fn spec_vector(name: &str) -> Vec<u8> {
    let fence = format!("```hex name={name}\n");
    let start = SPEC.find(&fence).expect("vector in the spec") + fence.len();
    let end = start + SPEC[start..].find("```").expect("unterminated block");
    let hex: String = SPEC[start..end]
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace())
        .collect();
    hex::decode(hex).unwrap()
}

fn swarm() -> [u8; 16] {
    std::array::from_fn(|i| i as u8)
}

fn record() -> NodeRecord {
    NodeRecord {
        addrs: vec![
            "127.0.0.2:4433".parse::<SocketAddr>().unwrap(),
            "[::1]:4433".parse().unwrap(),
        ],
        definition_version: 3,
        definition_hash: [0xab; 32],
    }
}

#[test]
fn the_record_encodes_to_the_spec_bytes() {
    let bytes = record().encode().unwrap();
    assert_eq!(
        hex::encode(&bytes),
        hex::encode(spec_vector("record")),
        "spec block `record`"
    );
    assert_eq!(NodeRecord::decode(&bytes).unwrap(), record());
}

#[test]
fn the_salt_is_the_spec_bytes() {
    assert_eq!(
        hex::encode(record_salt(swarm())),
        hex::encode(spec_vector("salt"))
    );
}

#[test]
#[ignore = "prints the vectors for the spec"]
fn print_vectors() {
    println!("record {}", hex::encode(record().encode().unwrap()));
    println!("salt {}", hex::encode(record_salt(swarm())));
}
