//! Secrets kept out of text meant for people: error messages, log lines, replies to git-annex.
//!
//! The one place that knows which parts of a URL may carry a secret: the user info
//! (`user:password@`, or a token or access key where a user name would go), the query string
//! (OAuth token URLs carry the refresh token and client secret there) and URLs nested in query
//! values (an S3 `endpoint=http://user:password@host`). What is hidden is replaced whole, never
//! shortened, so no part of a secret is ever shown. Also here: making free text one line, so a
//! message cannot break the line-based formats it is embedded in.
//!
//! Nothing here recurses on its input: text from a service or a user may nest URLs arbitrarily.

/// What a hidden user info or parameter value is shown as.
pub const HIDDEN: &str = "***";
/// What a hidden query string is shown as (after its `?`).
pub const HIDDEN_QUERY: &str = "<hidden>";

/// Query parameters whose value is a secret: a store URL naming one is refused, and redaction
/// masks its value.
const SECRET_PARAMS: [&str; 10] = [
    "password",
    "pass",
    "secret",
    "secret_access_key",
    "access_key_id",
    "session_token",
    "token",
    "key",
    "refresh_token",
    "client_secret",
];

/// Whether a URL query parameter of this name (case-insensitive) carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str())
}

/// A URL as given for a store (or something meant as one), fit for an error message: the user
/// info is masked (`s3://***@bucket`), so is the value of each secret-named query parameter
/// (`token=***`) and each query value that nests a URL or user info. Other parameters stay,
/// so a message can point at the one that is wrong. Paths (starting with `/`) are returned as
/// they are.
pub fn url(url: &str) -> String {
    if url.starts_with('/') {
        return url.to_owned();
    }
    let (mut out, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        // `s3:AKIA:secret@bucket`: what precedes an `@` is masked all the same.
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    push_authority(&mut out, authority);
    match tail.split_once('?') {
        None => out.push_str(&userinfo(tail)),
        Some((path, query)) => {
            out.push_str(&userinfo(path));
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                push_param(&mut out, pair);
            }
        }
    }
    out
}

/// Free text (an error from a service, a log line) with the user info of every URL in it masked
/// (`sftp://***@host`) and every query string hidden (`https://host/token?<hidden>`). A URL ends
/// at white space or at one of `,})>"'` and the backtick. Applying it twice changes nothing.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let (url, after) = tail.split_at(url_end(tail));
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        push_authority(&mut out, authority);
        match path.split_once('?') {
            Some((path, _query)) => {
                // The path may nest URLs too (a proxy's); they end where this one does.
                out.push_str(&userinfo(path));
                out.push('?');
                out.push_str(HIDDEN_QUERY);
                rest = after;
            }
            // No query: go on from the path, where a nested URL may start.
            None => rest = &tail[authority_end..],
        }
    }
    out.push_str(rest);
    out
}

/// Free text on one line: control characters (line breaks included) and white space become
/// single spaces, and the ends are trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`one_line`], cut to at most `max` bytes (on a character boundary) and then marked with `…`
/// when longer.
pub fn one_line_within(text: &str, max: usize) -> String {
    let mut line = one_line(text);
    if line.len() > max {
        let mut cut = max;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// Characters that end a URL inside free text: white space and what messages and logs put
/// around URLs.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '}' | ')' | '>' | '"' | '\'' | '`')
}

/// Where the URL starting `tail` (just after its `://`) ends. A query already hidden counts as
/// part of it, so hiding again finds the same URL.
fn url_end(tail: &str) -> usize {
    let marker = format!("?{HIDDEN_QUERY}");
    let mut i = 0;
    while let Some(c) = tail[i..].chars().next() {
        if tail[i..].starts_with(&marker) {
            i += marker.len();
        } else if ends_url(c) {
            break;
        } else {
            i += c.len_utf8();
        }
    }
    i
}

/// Masks what precedes the last `@` of an authority (`user:password@host` -> `***@host`).
fn push_authority(out: &mut String, authority: &str) {
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(HIDDEN);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
}

/// Only the user info of each URL in `text` masked (queries stay).
fn userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| ends_url(c) || matches!(c, '/' | '?' | '#'))
            .unwrap_or(tail.len());
        push_authority(&mut out, &tail[..end]);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One `name=value` of a query shown by [`url`]. Percent-escapes are decoded to judge, and the
/// pair is kept byte for byte when nothing in it needs hiding.
fn push_param(out: &mut String, pair: &str) {
    let Some((name, value)) = pair.split_once('=') else {
        out.push_str(pair);
        return;
    };
    out.push_str(name);
    out.push('=');
    if is_secret_param(&decode_lossy(name)) {
        out.push_str(HIDDEN);
        return;
    }
    let decoded = decode_lossy(value);
    let shown = if decoded.contains("://") {
        text(&decoded)
    } else if let Some(at) = decoded.rfind('@') {
        format!("{HIDDEN}{}", &decoded[at..])
    } else {
        decoded.clone()
    };
    if shown == decoded {
        out.push_str(value);
    } else {
        out.push_str(&shown);
    }
}

/// Percent-escapes decoded where they are valid; anything else kept as it is.
fn decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn store_urls_keep_what_points_at_a_mistake_and_mask_the_rest() {
        for (given, shown) in [
            ("/mnt/a@b", "/mnt/a@b"),
            (
                "s3://bkt/p?region=eu&style=sideways",
                "s3://bkt/p?region=eu&style=sideways",
            ),
            ("s3://AKIA:secret@bkt/p", "s3://***@bkt/p"),
            ("s3://AKIA@bkt", "s3://***@bkt"),
            (
                "webdav+https://u:hunter2@host/dav",
                "webdav+https://***@host/dav",
            ),
            (
                "sftp://u:pw@[::1]:22/x?known_hosts=add",
                "sftp://***@[::1]:22/x?known_hosts=add",
            ),
            (
                "s3://bkt?secret_access_key=abc&region=x",
                "s3://bkt?secret_access_key=***&region=x",
            ),
            ("onedrive://a?Token=x", "onedrive://a?Token=***"),
            ("s3://bkt?client%5Fsecret=x", "s3://bkt?client%5Fsecret=***"),
            ("s3:AKIA:secret@bkt", "***@bkt"),
            ("s3://bkt?flag&x=", "s3://bkt?flag&x="),
            // Nested URLs in query values: user info masked, their own query hidden.
            (
                "s3://bkt?endpoint=http://u:hunter2@h:9000&region=x",
                "s3://bkt?endpoint=http://***@h:9000&region=x",
            ),
            (
                "s3://bkt?endpoint=http%3A%2F%2Fu%3Ahunter2%40h",
                "s3://bkt?endpoint=http://***@h",
            ),
            ("s3://bkt?endpoint=u:hunter2@h", "s3://bkt?endpoint=***@h"),
            (
                "s3://bkt?endpoint=http://h?token=abc",
                "s3://bkt?endpoint=http://h?<hidden>",
            ),
            (
                "s3://bkt?endpoint=http://127.0.0.1:8333",
                "s3://bkt?endpoint=http://127.0.0.1:8333",
            ),
            ("s3://bkt/u:pw@x?p=1", "s3://bkt/u:pw@x?p=1"),
            (
                "webdav+http://h/http://u:pw@x/",
                "webdav+http://h/http://***@x/",
            ),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
    }

    #[test]
    fn free_text_hides_user_info_and_queries_of_every_url() {
        for (given, shown) in [
            (
                "s3://AKIA:secret@host/bucket failed; see https://x.org/a@b",
                "s3://***@host/bucket failed; see https://x.org/a@b",
            ),
            (
                "line one\nuser:pw@x sftp://u:p@h\n",
                "line one\nuser:pw@x sftp://***@h\n",
            ),
            (
                "context: { url: https://oauth2.googleapis.com/token?refresh_token=abc&client_secret=xyz, called: x } => http://h/p?q=1",
                "context: { url: https://oauth2.googleapis.com/token?<hidden>, called: x } => http://h/p?<hidden>",
            ),
            (
                "bad store URL `s3://bkt?endpoint=http://u:pw@h`: a password",
                "bad store URL `s3://bkt?<hidden>`: a password",
            ),
            ("(http://t@h)", "(http://***@h)"),
            ("\"https://u:p@h/x?y\"", "\"https://***@h/x?<hidden>\""),
            ("http://proxy/http://u:p@h/x", "http://proxy/http://***@h/x"),
            (
                "http://proxy/http://u:p@h/x?y=1",
                "http://proxy/http://***@h/x?<hidden>",
            ),
            (
                "http://[::1]:80/p?token=x rest",
                "http://[::1]:80/p?<hidden> rest",
            ),
            ("no url here: a@b, c?d", "no url here: a@b, c?d"),
            ("://@", "://***@"),
            ("", ""),
        ] {
            assert_eq!(text(given), shown, "{given}");
        }
    }

    #[test]
    fn hiding_twice_shows_the_same() {
        let once = text("at <https://h/token?refresh_token=abc> and 'http://u:p@h?x'");
        assert_eq!(
            once,
            "at <https://h/token?<hidden>> and 'http://***@h?<hidden>'"
        );
        assert_eq!(text(&once), once);
    }

    #[test]
    fn free_text_becomes_one_bounded_line() {
        assert_eq!(one_line("  a\t\nb  "), "a b");
        assert_eq!(one_line("\u{2028}x\u{85}y\u{1b}z"), "x y z");
        assert_eq!(one_line_within("abc", 3), "abc");
        assert_eq!(one_line_within("abcd", 3), "abc…");
        assert_eq!(one_line_within("ab  cd", 3), "ab …");
        // Never cut inside a character.
        assert_eq!(one_line_within("aé", 2), "a…");
        assert_eq!(one_line_within(&"x".repeat(10), 0), "…");
    }

    #[test]
    fn secret_parameters_are_known_whatever_their_case() {
        assert!(is_secret_param("Secret_Access_Key"));
        assert!(is_secret_param("token"));
        assert!(!is_secret_param("endpoint"));
        assert!(!is_secret_param("tokens"));
    }

    proptest! {
        #[test]
        fn no_secret_survives(
            before in "[ -~]{0,12}",
            scheme in "[a-z][a-z0-9+]{0,8}",
            user in "[A-Za-z0-9]{1,8}",
            secret in "[A-Za-z0-9]{12,20}",
            host in "[a-z0-9.]{1,12}",
            path in "(/[a-z0-9]{0,6}){0,3}",
            after in "( [ -~]{0,12})?",
        ) {
            let store_url = format!("{scheme}://{user}:{secret}@{host}{path}");
            let in_text = format!("{before}{store_url}{after}");
            let query = format!("{before}{scheme}://{host}{path}?token={secret}{after}");
            let nested = format!("{scheme}://{host}{path}?endpoint=http://{user}:{secret}@{host}");
            for shown in [url(&store_url), text(&in_text), text(&query), url(&nested), text(&nested)] {
                prop_assert!(!shown.contains(&secret), "{}", shown);
            }
        }

        #[test]
        fn hiding_is_idempotent_and_line_safe(s in "\\PC{0,60}|[\\s\\S]{0,40}") {
            let once = text(&s);
            prop_assert_eq!(text(&once), once.clone());
            let line = one_line_within(&s, 20);
            prop_assert!(!line.contains(['\n', '\r']));
            prop_assert!(line.len() <= 20 + '…'.len_utf8());
        }
    }
}
