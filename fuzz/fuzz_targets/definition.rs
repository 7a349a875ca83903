//! Swarm definitions as users write them (and as the special remote reads them back from
//! git-annex's branch): any text. Parsing never panics; a definition that parses prints to TOML
//! that parses back to the same definition, and every store URL in it can be asked for its
//! location.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_core::definition::{SwarmDefinition, parse_location};
use swarm_core::redact::url as redact;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(def) = SwarmDefinition::parse(text) else {
        return;
    };
    for store in &def.stores {
        let _ = store.location();
        let _ = parse_location(&store.url);
        let _ = redact(&store.url);
    }
    let _ = def.coding();
    let _ = def.chunker();
    let printed = def.to_toml();
    let again = SwarmDefinition::parse(&printed).expect("a printed definition parses");
    assert_eq!(again, def, "printing then parsing changed the definition");
});
