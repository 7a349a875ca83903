//! Store URLs: any text. `parse_location` never panics, and its errors (which quote the URL)
//! never repeat a password given in the URL's `user:password@`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_core::definition::parse_location;
use swarm_core::redact::url as redact;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let shown = redact(url);
    if let Err(e) = parse_location(url) {
        let text = e.to_string();
        // The password as RFC 3986 reads the URL: the authority ends at the first `/`, `?` or
        // `#`; userinfo is what precedes its last `@`; the password follows the first `:`.
        // Checked for passwords like real ones (12 or more letters and digits, so they cannot
        // match by chance the message's own text or `***`), found only once in the URL.
        if let Some((_, rest)) = url.split_once("://")
            && let Some(authority) = rest.split(['/', '?', '#']).next()
            && let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && password.len() >= 12
            && password.bytes().all(|b| b.is_ascii_alphanumeric())
            && url.matches(password).count() == 1
        {
            assert!(!shown.contains(password), "redact kept the password");
            assert!(!text.contains(password), "an error repeated the password");
        }
    }
});
