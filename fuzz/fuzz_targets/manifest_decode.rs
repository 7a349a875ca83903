//! Manifests as read from a store: any bytes. Decoding must never panic nor allocate beyond
//! what the input justifies, and whatever decodes is canonical (re-encodes to the same bytes).
//! Random bytes almost never carry a valid trailing BLAKE3, so every input is also tried with
//! its checksum appended, which reaches the structural checks.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_core::manifest::Manifest;

fn check(bytes: &[u8]) {
    if let Ok(m) = Manifest::decode(bytes) {
        let again = m.encode().expect("a decoded manifest encodes");
        assert_eq!(again, bytes, "decoded manifest is not canonical");
        assert_eq!(m.encoded_len(), bytes.len());
        assert_eq!(bytes[4], m.version());
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(blake3::hash(data).as_bytes());
    check(&sealed);
});
