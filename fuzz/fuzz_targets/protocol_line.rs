//! Lines from git-annex, as the session gets them: any bytes, split at newlines; each line's
//! job prefix split off, then parsed. Nothing may panic; a key a request carries must come back
//! byte for byte in its reply, on one line.

#![no_main]

use annex_remote::protocol::{self, Direction, Incoming, Message, Request};
use annex_remote::remote::annex_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let _ = protocol::loggable(line);
        let body = match protocol::split_job(line) {
            Ok((_, body)) => body,
            Err(e) => {
                let _ = e.to_string();
                line
            }
        };
        match protocol::parse(body) {
            Ok(Incoming::Request(request)) => check_replies(request),
            Ok(_) => {}
            Err(e) => {
                let text = Message::Error(e.to_string()).line(Some(1));
                assert!(!text.contains(&b'\n'), "an error reply spans lines");
            }
        }
    }
});

fn check_replies(request: Request) {
    let key = match request {
        Request::Transfer { key, file, .. } => {
            assert!(!file.is_empty() && !file.contains(&b'\n'));
            key
        }
        Request::CheckPresent(key) | Request::Remove(key) | Request::Whereis(key) => key,
        _ => return,
    };
    assert!(!key.is_empty() && !key.contains(&b' ') && !key.contains(&b'\n'));
    if let Ok(k) = annex_key(&key) {
        assert_eq!(k.as_bytes(), &key[..], "the key's identity changed");
        let shown = k.to_string();
        assert!(!shown.contains(char::is_whitespace), "shown key is not one word");
    }
    for reply in [
        Message::TransferSuccess(Direction::Retrieve, key.clone()),
        Message::CheckPresentUnknown(key.clone(), "why\nnot".into()),
        Message::RemoveFailure(key.clone(), String::new()),
    ] {
        let line = reply.line(Some(7));
        assert!(!line.contains(&b'\n'), "a reply spans lines");
        assert!(
            line.windows(key.len()).any(|w| w == &key[..]),
            "a reply lost its key's bytes"
        );
    }
}
