//! The extension that `*E` backends append to the digest, as git-annex picks it.

/// git-annex's default `annex.maxextensionlength`: the longest extension part
/// kept, in bytes.
pub const MAX_EXTENSION_LEN: usize = 4;

/// How many extension parts are kept at most (`.tar.gz` has two). Fixed at 2 in
/// git-annex 10.20230126; later versions make it `annex.maxextensions`, default 2.
pub const MAX_EXTENSIONS: usize = 2;

/// The extension git-annex appends for a file named `file_name` (its bytes, as the file system
/// has them; with its leading `.`, or empty), given `annex.maxextensionlength` = `max_len`.
///
/// Only the last path component counts and leading dots are skipped (`.bashrc`
/// has no extension). The part from the first remaining `.` is split at every
/// `.`; walking from the end, parts are taken while they are at most `max_len`
/// bytes long; of those, parts holding an ASCII byte that is not a letter
/// or digit are dropped; the last [`MAX_EXTENSIONS`] remaining parts are kept,
/// empty parts (from `..`) counting towards that number but then left out.
/// Every non-ASCII byte is allowed, UTF-8 or not (a Latin-1 `é` is the byte `e9`), and
/// counts as one byte.
pub fn select_extension(file_name: impl AsRef<[u8]>, max_len: usize) -> Vec<u8> {
    let file_name = file_name.as_ref();
    let base = file_name.rsplit(|&b| b == b'/').next().unwrap_or(file_name);
    let dots = base.iter().take_while(|&&b| b == b'.').count();
    let base = base.get(dots..).unwrap_or_default();
    let Some(first_dot) = base.iter().position(|&b| b == b'.') else {
        return Vec::new();
    };
    let parts: Vec<&[u8]> = base
        .get(first_dot..)
        .unwrap_or_default()
        .split(|&b| b == b'.')
        .rev()
        .take_while(|p| p.len() <= max_len)
        .filter(|p| p.iter().copied().all(valid_in_extension))
        .take(MAX_EXTENSIONS)
        .filter(|p| !p.is_empty())
        .collect();
    parts.iter().rev().fold(Vec::new(), |mut ext, p| {
        ext.push(b'.');
        ext.extend_from_slice(p);
        ext
    })
}

/// git-annex's `validInExtension`: ASCII letters and digits, and every non-ASCII byte.
fn valid_in_extension(b: u8) -> bool {
    b.is_ascii_alphanumeric() || !b.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str) -> String {
        String::from_utf8(select_extension(name, MAX_EXTENSION_LEN)).unwrap_or_default()
    }

    #[test]
    fn rules() {
        // Each pair checked against `git annex calckey --backend=SHA1E` (10.20230126).
        let cases = [
            ("x.tar.gz", ".tar.gz"),
            ("a.b.c.d", ".c.d"),
            ("a.b.c.d.e", ".d.e"),
            ("foo.c.a_b.d", ".c.d"),
            ("foo.a_b.gz", ".gz"),
            ("x.abcdef.gz", ".gz"),
            ("x.gz.abcde", ""),
            (".bashrc", ""),
            (".foo.txt", ".txt"),
            ("noext", ""),
            ("trail.", ""),
            ("x..gz", ".gz"),
            ("a.b..c", ".c"),
            ("a.b.c..", ""),
            ("a.bb...cc", ".cc"),
            ("x.GZ", ".GZ"),
            ("x.jpeg", ".jpeg"),
            ("x.jpeg5", ""),
            ("x.\u{e9}\u{e9}", ".\u{e9}\u{e9}"),
            ("x.t\u{e1}rr", ""),
            ("x.t\u{e1}r.gz", ".t\u{e1}r.gz"),
            ("x.a b", ""),
            ("x.a-b", ""),
            ("x.1", ".1"),
            ("...", ""),
            ("dir.d/x", ""),
            ("dir/x.txt", ".txt"),
            ("", ""),
        ];
        for (name, want) in cases {
            assert_eq!(ext(name), want, "{name:?}");
        }
    }

    #[test]
    fn max_len_is_configurable() {
        assert_eq!(select_extension("x.abcdef.gz", 10), b".abcdef.gz");
        assert_eq!(select_extension("x.tar.gz", 2), b".gz");
        assert_eq!(select_extension("x.tar.gz", 0), b"");
    }

    #[test]
    fn file_names_that_are_not_utf8_keep_their_bytes() {
        // Checked against `git annex calckey --backend=SHA256E` (10.20230126): a Latin-1
        // `photo.é` keeps the byte e9; NEL and NO-BREAK SPACE are kept like any non-ASCII.
        assert_eq!(select_extension(b"photo.\xe9", MAX_EXTENSION_LEN), b".\xe9");
        assert_eq!(
            select_extension(b"x.\xc2\x85", MAX_EXTENSION_LEN),
            b".\xc2\x85"
        );
        assert_eq!(
            select_extension(b"x.\xc2\xa0", MAX_EXTENSION_LEN),
            b".\xc2\xa0"
        );
        assert_eq!(
            select_extension(b"d\xff/a.\xff\xfe.gz", MAX_EXTENSION_LEN),
            b".\xff\xfe.gz"
        );
        assert_eq!(
            select_extension(b"x.\xe9\xe9\xe9\xe9\xe9", MAX_EXTENSION_LEN),
            b""
        );
    }
}
