//! Building the OpenDAL operator of each remote kind: the only place that knows S3, WebDAV,
//! SFTP and the drives apart. Credentials come from a [`CredentialSource`], asked for the
//! store's [`Destination`] (so only credentials given for the store's host are used); missing
//! ones are an error naming where to put them. One store operation is several HTTP requests (a staged
//! write is a PUT and a MOVE, a large one many parts), so each request is retried here, by
//! OpenDAL's RetryLayer; the store layer's retry decorator then keeps the circuit breaker.

use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{Operator, services};
use swarm_core::definition::{DriveService, StoreLocation};
use swarm_core::ids::StoreId;

use crate::credentials::{CredentialSource, Destination, hint, names};
use crate::error::StoreError;

/// Limit on a whole operation that moves no data (stat, delete, list page, rename).
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit on one read or write of a part.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes sure rustls has a crypto provider (ring) and OpenDAL has its HTTP transport before the
/// first request. We build the transport without a provider to keep aws-lc-sys (a C build) out.
pub fn ensure_tls_provider() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // Err means another provider is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Without OpenDAL's auto-registration (which would pull default TLS), the HTTP services
        // need the reqwest transport installed by hand.
        opendal_http_transport_reqwest::install_default();
    });
}

/// Builds the OpenDAL operator for a location, with timeout and retry layers, taking
/// credentials from `creds`. Missing credentials are an error naming where to put them.
pub fn build_operator(
    id: &StoreId,
    location: &StoreLocation,
    creds: &dyn CredentialSource,
) -> Result<Operator, StoreError> {
    ensure_tls_provider();
    let kind = location.kind();
    let dest = Destination::of(location);
    let config = |reason: String| StoreError::Config {
        store: id.clone(),
        reason,
    };
    let get = |name: &str| {
        creds
            .get(id, &dest, name)
            .map_err(|e| config(e.to_string()))
    };
    let need = |name: &str| {
        get(name)?.ok_or_else(|| {
            config(format!(
                "no {kind} credential `{name}`: {}",
                hint(id, &dest, name)
            ))
        })
    };
    let open = |r: opendal::Result<Operator>| {
        r.map_err(|e| config(format!("cannot set up the {kind} client: {}", describe(&e))))
    };
    let op = match location {
        StoreLocation::Local(_) => {
            return Err(config("a local directory is not a remote store".into()));
        }
        StoreLocation::Peer { .. } => {
            return Err(config(
                "a peer store is served by a node, not OpenDAL".into(),
            ));
        }
        StoreLocation::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            virtual_host,
        } => {
            let mut b = services::S3::default()
                .bucket(bucket)
                .root(&format!("/{prefix}"))
                .region(region)
                .access_key_id(need(names::ACCESS_KEY_ID)?.expose())
                .secret_access_key(need(names::SECRET_ACCESS_KEY)?.expose())
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(t) = get(names::SESSION_TOKEN)? {
                b = b.session_token(t.expose());
            }
            if let Some(e) = endpoint {
                b = b.endpoint(e);
            }
            if *virtual_host {
                b = b.enable_virtual_host_style();
            }
            open(Operator::new(b))?
        }
        StoreLocation::WebDav {
            endpoint,
            root,
            user,
        } => {
            let mut b = services::Webdav::default().endpoint(endpoint).root(root);
            let user = match user {
                Some(u) => Some(u.clone()),
                None => get(names::USERNAME)?.map(|s| s.expose().to_owned()),
            };
            if let Some(u) = &user {
                b = b.username(u).password(need(names::PASSWORD)?.expose());
            }
            open(Operator::new(b))?
        }
        StoreLocation::Sftp {
            user,
            host,
            port,
            root,
            known_hosts,
        } => {
            let endpoint = match (user, port) {
                (Some(u), Some(p)) => format!("ssh://{u}@{host}:{p}"),
                (Some(u), None) => format!("ssh://{u}@{host}"),
                (None, Some(p)) => format!("ssh://{host}:{p}"),
                (None, None) => host.clone(),
            };
            let mut b = services::Sftp::default()
                .endpoint(&endpoint)
                .root(root)
                .known_hosts_strategy(known_hosts.as_str());
            if let Some(key) = get(names::SSH_KEY)? {
                b = b.key(key.expose());
            }
            open(Operator::new(b))?
        }
        StoreLocation::Drive { service, root } => {
            let client_id = need(names::CLIENT_ID)?;
            let client_secret = get(names::CLIENT_SECRET)?;
            let refresh = get(names::REFRESH_TOKEN)?.ok_or_else(|| {
                config(format!(
                    "no {kind} refresh token: run `annex-swarm authorize {kind}` (or {})",
                    hint(id, &dest, names::REFRESH_TOKEN)
                ))
            })?;
            let secret = client_secret.as_ref().map(|s| s.expose()).unwrap_or("");
            match service {
                DriveService::GDrive => open(Operator::new(
                    services::Gdrive::default()
                        .root(root)
                        .client_id(client_id.expose())
                        .client_secret(secret)
                        .refresh_token(refresh.expose()),
                ))?,
                DriveService::OneDrive => open(Operator::new(
                    services::Onedrive::default()
                        .root(root)
                        .client_id(client_id.expose())
                        .client_secret(secret)
                        .refresh_token(refresh.expose()),
                ))?,
                DriveService::Dropbox => open(Operator::new(
                    services::Dropbox::default()
                        .root(root)
                        .client_id(client_id.expose())
                        .client_secret(secret)
                        .refresh_token(refresh.expose()),
                ))?,
            }
        }
    };
    Ok(op
        .layer(
            TimeoutLayer::new()
                .with_timeout(OP_TIMEOUT)
                .with_io_timeout(IO_TIMEOUT),
        )
        .layer(
            RetryLayer::new()
                .with_max_times(crate::decorate::RETRIES as usize)
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(3))
                .with_factor(2.0)
                .with_jitter(),
        ))
}

/// OpenDAL's error on one line: kind, message, and the root cause (the context names the
/// service, path and URL, never a credential). Long service replies are cut.
pub(crate) fn describe(e: &opendal::Error) -> String {
    let mut text = scrub_queries(&e.to_string());
    text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Hides the query string (and user info) of every URL in `text`: some services (Google's
/// token endpoint as OpenDAL calls it) carry the refresh token and client secret there, and
/// OpenDAL puts the URL in its error context. Kept for callers; the rule is
/// [`swarm_core::redact::text`].
pub fn scrub_queries(text: &str) -> String {
    swarm_core::redact::text(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::credentials::MapSource;

    #[test]
    fn url_queries_are_hidden_in_errors() {
        let t = "context: { url: https://oauth2.googleapis.com/token?refresh_token=abc&client_secret=xyz, called: x } => http://h/p?q=1";
        let s = scrub_queries(t);
        assert!(
            !s.contains("abc") && !s.contains("xyz") && !s.contains("q=1"),
            "{s}"
        );
        assert!(
            s.contains("https://oauth2.googleapis.com/token?<hidden>, called"),
            "{s}"
        );
    }

    #[test]
    fn missing_credentials_name_where_they_go() {
        let id: StoreId = "s3-a".parse().unwrap();
        let loc =
            swarm_core::definition::parse_location("s3://bkt?endpoint=http://127.0.0.1:1").unwrap();
        let err = build_operator(&id, &loc, &MapSource::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("store s3-a"), "{err}");
        assert!(err.contains("ANNEX_SWARM_S3_A_ACCESS_KEY_ID"), "{err}");
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        for (url, want) in [
            ("gdrive://annex", "ANNEX_SWARM_S3_A_CLIENT_ID"),
            ("webdav+http://u@h/x", "ANNEX_SWARM_S3_A_PASSWORD"),
        ] {
            let loc = swarm_core::definition::parse_location(url).unwrap();
            let err = build_operator(&id, &loc, &MapSource::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{url}: {err}");
        }
        let loc = swarm_core::definition::parse_location("dropbox://annex").unwrap();
        let mut m = MapSource::new();
        m.insert(
            &id,
            names::CLIENT_ID,
            crate::credentials::Secret::new("cid"),
        );
        let err = build_operator(&id, &loc, &m).unwrap_err().to_string();
        assert!(err.contains("annex-swarm authorize dropbox"), "{err}");
    }

    /// A store moved (in the shared definition) to another host does not take the credentials
    /// given for its old one along: no operator is built, and the reason names the new host.
    #[test]
    fn credentials_for_another_host_build_no_operator() {
        let id: StoreId = "s1".parse().unwrap();
        let mut m = MapSource::new();
        m.insert(
            &id,
            names::PASSWORD,
            crate::credentials::Secret::new("hunter2"),
        );
        m.allow(&id, "http://127.0.0.1:8080".parse().unwrap());
        let ok =
            swarm_core::definition::parse_location("webdav+http://u@127.0.0.1:8080/d/").unwrap();
        assert!(build_operator(&id, &ok, &m).is_ok());
        for url in [
            "webdav+http://u@127.0.0.2:8080/d/",
            "webdav+http://u@127.0.0.1:8081/d/",
            "webdav+https://u@127.0.0.1:8080/d/",
        ] {
            let moved = swarm_core::definition::parse_location(url).unwrap();
            let err = build_operator(&id, &moved, &m).unwrap_err().to_string();
            assert!(
                err.contains("is not sent to http") && !err.contains("hunter2"),
                "{url}: {err}"
            );
        }
    }
}
