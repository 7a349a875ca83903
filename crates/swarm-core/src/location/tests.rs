//! The store URL grammar: each form parsed, each refusal naming its problem without a secret.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn remote_store_urls_parse() {
    assert_eq!(
        parse_location("s3://annex-bucket/swarm/a?endpoint=http://127.0.0.1:8333&region=eu-west-1")
            .unwrap(),
        StoreLocation::S3 {
            bucket: "annex-bucket".into(),
            prefix: "swarm/a".into(),
            endpoint: Some("http://127.0.0.1:8333".into()),
            region: "eu-west-1".into(),
            virtual_host: false,
        }
    );
    assert_eq!(
        parse_location("s3://bkt?style=virtual").unwrap(),
        StoreLocation::S3 {
            bucket: "bkt".into(),
            prefix: String::new(),
            endpoint: None,
            region: "us-east-1".into(),
            virtual_host: true,
        }
    );
    assert_eq!(
        parse_location("webdav+https://alice@dav.example.org/remote.php/dav/files/alice/annex")
            .unwrap(),
        StoreLocation::WebDav {
            endpoint: "https://dav.example.org".into(),
            root: "/remote.php/dav/files/alice/annex/".into(),
            user: Some("alice".into()),
        }
    );
    assert_eq!(
        parse_location("webdav+http://127.0.0.1:8080/").unwrap(),
        StoreLocation::WebDav {
            endpoint: "http://127.0.0.1:8080".into(),
            root: "/".into(),
            user: None,
        }
    );
    assert_eq!(
        parse_location("sftp://bob@[::1]:2222/srv/my%20shards?known_hosts=add").unwrap(),
        StoreLocation::Sftp {
            user: Some("bob".into()),
            host: "[::1]".into(),
            port: Some(2222),
            root: "/srv/my shards".into(),
            known_hosts: KnownHosts::Add,
        }
    );
    assert_eq!(
        parse_location("gdrive://annex/swarm1").unwrap(),
        StoreLocation::Drive {
            service: DriveService::GDrive,
            root: "/annex/swarm1/".into(),
        }
    );
    assert_eq!(
        parse_location("dropbox://annex/").unwrap().kind(),
        "dropbox"
    );
    assert_eq!(parse_location("onedrive://a").unwrap().kind(), "onedrive");
}

#[test]
fn bad_store_urls_name_the_problem() {
    let cases = [
        ("s3://b", "bad bucket name `b`"),
        ("s3://Bucket/x", "bad bucket name"),
        ("s3://bkt?endpoint=ftp://x", "must start with http"),
        ("s3://bkt?endpoint=127.0.0.1:9000", "must be http://host"),
        ("s3://bkt?endpoint=http://h:99999", "bad port `99999`"),
        (
            "s3://bkt?colour=red",
            "unknown parameter `colour` (s3 URLs take: endpoint, region, style)",
        ),
        ("s3://bkt?region=a&region=b", "given twice"),
        ("s3://bkt?style=sideways", "style `sideways`"),
        ("s3://AKIA:secret@bkt", "credentials never go in store URLs"),
        ("s3://bkt?secret_access_key=abc", "looks like a secret"),
        (
            "webdav+https://u:hunter2@host/dav",
            "a password in the URL is refused",
        ),
        ("webdav+http:///dav", "missing host name"),
        ("webdav+http://host/dav?x=1", "unknown parameter `x`"),
        ("sftp://host/", "known_hosts"),
        ("sftp://host", "absolute directory"),
        ("sftp://host:0/x", "bad port `0`"),
        (
            "sftp://h/x?known_hosts=maybe",
            "must be strict, add or accept",
        ),
        ("sftp://u:pw@h/x", "password in the URL is refused"),
        ("gdrive://", "need a folder"),
        ("gdrive://me@gmail.com/x", "name a folder only"),
        ("dropbox://a/../b", "need a folder"),
        ("onedrive://a?token=x", "looks like a secret"),
        ("ftp://h/x", "unknown store kind `ftp`"),
        ("s3:bucket", "expected an absolute path or a URL"),
        ("file://host/x", "absolute path"),
        ("file:///x#y", "fragment"),
    ];
    for (url, want) in cases {
        let err = match parse_location(url) {
            Ok(loc) if want == "known_hosts" => {
                // `sftp://host/` is valid (root directory); checked here for the default.
                assert!(matches!(
                    loc,
                    StoreLocation::Sftp {
                        known_hosts: KnownHosts::Strict,
                        ..
                    }
                ));
                continue;
            }
            Ok(loc) => panic!("{url} parsed as {loc:?}, want an error with `{want}`"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{url}: want `{want}` in `{err}`");
        assert!(!err.contains('\n'), "multi-line error: {err}");
        for secret in ["hunter2", "secret@", "pw@", "=abc", "token=x"] {
            assert!(
                !err.contains(secret),
                "{url}: error repeats a secret: {err}"
            );
        }
    }
}

#[test]
fn escapes_name_the_part_they_are_in() {
    let cases = [
        ("file:///a%2", "truncated %-escape in the path"),
        ("file:///a%zz", "bad %-escape in the path"),
        ("file:///a%ff", "path is not UTF-8"),
        ("sftp://b%g0b@h/x", "bad %-escape in the user name"),
        ("s3://bkt?region=%zz", "bad %-escape in the parameter value"),
        ("gdrive://a%ffb", "folder is not UTF-8"),
    ];
    for (url, want) in cases {
        let err = parse_location(url).unwrap_err();
        assert!(err.to_string().contains(want), "{url}: {err}");
    }
}

#[test]
fn password_in_s3_endpoint_is_not_echoed_in_the_refusal() {
    for (url, problem) in [
        (
            "s3://bkt?endpoint=http://u:hunter2@127.0.0.1:9000",
            UrlProblem::Password,
        ),
        (
            "s3://bkt?endpoint=http%3A%2F%2Fu%3Ahunter2%40h",
            UrlProblem::Password,
        ),
        ("s3://bkt?endpoint=http://u@h", UrlProblem::EndpointUser),
        (
            "s3://bkt?endpoint=ftp://u:hunter2@h",
            UrlProblem::EndpointScheme("ftp://***@h".into()),
        ),
        (
            "s3://bkt?endpoint=u:hunter2@h",
            UrlProblem::EndpointNotUrl("***@h".into()),
        ),
        (
            "s3://bkt?endpoint=http://h/x?token=hunter2",
            UrlProblem::BadHost("h/x?token=***".into()),
        ),
    ] {
        let err = parse_location(url).unwrap_err();
        assert_eq!(err.problem(), &problem, "{url}");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{url}: {text}");
        assert!(err.url().starts_with("s3://bkt?endpoint="), "{url}: {text}");
    }
    // As WebDAV and SFTP URLs always did.
    let err = parse_location("webdav+https://u:hunter2@host/dav").unwrap_err();
    assert_eq!(err.url(), "webdav+https://***@host/dav");
}
