//! git-annex keys: any bytes. Parsing never panics; a key keeps exactly the bytes it was parsed
//! from, reads back from them, and prints as one word.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_core::key::Key;

fuzz_target!(|data: &[u8]| {
    for key in [Key::from_bytes(data), Key::opaque(data)].into_iter().flatten() {
        assert_eq!(key.as_bytes(), data);
        let shown = key.to_string();
        assert!(!shown.is_empty() && !shown.contains(char::is_whitespace));
        if !key.is_opaque() {
            assert_eq!(Key::from_bytes(key.as_bytes()).as_ref(), Ok(&key));
            if let Some((size, n)) = key.chunk() {
                let _ = key.without_chunk();
                let _ = key.with_chunk(size, n);
            }
        }
    }
    if let Err(e) = Key::from_bytes(data) {
        assert!(!e.to_string().contains('\n'), "an error message spans lines");
    }
});
