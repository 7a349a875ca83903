//! `authorize gdrive|onedrive|dropbox`: the OAuth 2 authorization-code flow with a loopback
//! redirect. Prints the consent URL, waits for the browser to come back to
//! `http://127.0.0.1:PORT/`, trades the code for a refresh token and saves it in the credentials
//! file (`[service.KIND]`, or `[store.ID]` with `--store`). The client id and secret are the
//! user's own OAuth app's, from the environment or the credentials file. The token is never
//! printed.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use swarm_core::definition::DriveService;
use swarm_core::ids::StoreId;
use swarm_engine::credentials::{
    self, CredentialSource, CredentialsFile, Destination, credentials_path, kind_var, names,
};

use crate::cli::AuthorizeArgs;

/// How long to wait for the browser to come back.
const CONSENT_TIMEOUT: Duration = Duration::from_secs(300);

struct Endpoints {
    auth: &'static str,
    token: &'static str,
    scope: &'static str,
    extra: &'static str,
}

fn endpoints(s: DriveService) -> Endpoints {
    match s {
        DriveService::GDrive => Endpoints {
            auth: "https://accounts.google.com/o/oauth2/v2/auth",
            token: "https://oauth2.googleapis.com/token",
            scope: "https://www.googleapis.com/auth/drive",
            extra: "&access_type=offline&prompt=consent",
        },
        DriveService::OneDrive => Endpoints {
            auth: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            token: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            scope: "offline_access Files.ReadWrite.All",
            extra: "",
        },
        DriveService::Dropbox => Endpoints {
            auth: "https://www.dropbox.com/oauth2/authorize",
            token: "https://api.dropboxapi.com/oauth2/token",
            scope: "files.content.read files.content.write files.metadata.read",
            extra: "&token_access_type=offline",
        },
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// host:port of an https URL.
fn host_port(url: &str) -> String {
    let rest = url.trim_start_matches("https://");
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{host}:443")
}

pub async fn run(args: AuthorizeArgs) -> Result<ExitCode> {
    let service = DriveService::from_scheme(&args.service).with_context(|| {
        format!(
            "cannot authorize `{}`: the services are gdrive, onedrive and dropbox",
            args.service
        )
    })?;
    let kind = service.scheme();
    let store: StoreId = match &args.store {
        Some(s) => s.parse().with_context(|| format!("store id `{s}`"))?,
        None => "authorize".parse()?,
    };
    let creds = credentials::default_source();
    // The drives' token and API hosts are fixed, so their credentials are bound by kind alone.
    let dest = Destination::fixed_hosts(kind);
    let file_shown = credentials_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/annex-swarm/credentials.toml".into());
    let client_id = creds
        .get(&store, &dest, names::CLIENT_ID)?
        .with_context(|| {
            format!(
                "no OAuth client id for {kind}: set {} and {} (from an OAuth app you create in the \
             service's developer console, of the desktop/installed kind), or client_id and \
             client_secret under [service.{kind}] in {file_shown}",
                kind_var(kind, names::CLIENT_ID),
                kind_var(kind, names::CLIENT_SECRET)
            )
        })?;
    let client_secret = creds.get(&store, &dest, names::CLIENT_SECRET)?;
    let ends = endpoints(service);

    // Fail at once, clearly, without network, rather than after the user has consented.
    let token_host = std::env::var("ANNEX_SWARM_OAUTH_TOKEN_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| host_port(ends.token));
    reachable(&token_host).with_context(|| {
        format!(
            "cannot reach {token_host}, which {kind} authorization needs (no network?); \
             nothing was changed"
        )
    })?;

    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let state = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id())
    );
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}{}",
        ends.auth,
        enc(client_id.expose()),
        enc(&redirect),
        enc(ends.scope),
        ends.extra
    );
    eprintln!(
        "Open this URL in a browser and allow access:\n\n  {url}\n\nWaiting for the browser to come back to {redirect} ..."
    );
    let code = tokio::task::spawn_blocking(move || wait_for_code(&listener, &state))
        .await
        .context("the redirect listener failed")??;

    swarm_engine::ensure_tls_provider();
    let mut body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}",
        enc(&code),
        enc(&redirect),
        enc(client_id.expose())
    );
    if let Some(s) = &client_secret {
        body.push_str(&format!("&client_secret={}", enc(s.expose())));
    }
    let reply = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(ends.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "token request to {} failed: {}",
                ends.token,
                e.without_url()
            )
        })?;
    let status = reply.status();
    let text = reply.text().await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        // The error fields carry no secret; the rest of the body is not repeated.
        bail!(
            "{kind} refused the code ({status}): {} {}",
            json["error"].as_str().unwrap_or(""),
            json["error_description"].as_str().unwrap_or("")
        );
    }
    let refresh = json["refresh_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("{kind} answered without a refresh token"))?;
    let path = credentials_path()
        .context("no HOME, so no credentials file; set ANNEX_SWARM_CREDENTIALS")?;
    let mut file = CredentialsFile::load(&path)?;
    let table = match &args.store {
        Some(id) => file.store.entry(id.clone()).or_default(),
        None => file.service.entry(kind.to_owned()).or_default(),
    };
    table
        .values
        .insert(names::REFRESH_TOKEN.to_owned(), refresh.to_owned());
    file.save(&path)?;
    eprintln!(
        "saved the {kind} refresh token in {} (under [{}])",
        path.display(),
        match &args.store {
            Some(id) => format!("store.{id}"),
            None => format!("service.{kind}"),
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn reachable(host_port: &str) -> Result<()> {
    let addrs: Vec<_> = host_port
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host_port}"))?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e.into()),
        None => bail!("{host_port} has no address"),
    }
}

/// Serves the loopback redirect: returns the `code` once a request with our `state` arrives.
fn wait_for_code(listener: &TcpListener, state: &str) -> Result<String> {
    listener.set_nonblocking(false)?;
    let deadline = std::time::Instant::now() + CONSENT_TIMEOUT;
    loop {
        if std::time::Instant::now() > deadline {
            bail!("no answer from the browser within {CONSENT_TIMEOUT:?}");
        }
        let (mut conn, _) = listener.accept()?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line)?;
        // "GET /?code=...&state=... HTTP/1.1"
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let mut code = None;
        let mut got_state = None;
        let mut error = None;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "code" => code = Some(dec(v)),
                "state" => got_state = Some(dec(v)),
                "error" => error = Some(dec(v)),
                _ => {}
            }
        }
        let (status, msg) = match (&code, &got_state, &error) {
            (_, _, Some(e)) => ("400 Bad Request", format!("authorization refused: {e}")),
            (Some(_), Some(s), None) if s == state => (
                "200 OK",
                "annex-swarm is authorized; you can close this tab.".into(),
            ),
            (Some(_), _, None) => ("400 Bad Request", "state mismatch; ignored".into()),
            _ => (
                "404 Not Found",
                "waiting for the authorization redirect".into(),
            ),
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{msg}",
            msg.len()
        );
        if let Some(e) = error {
            bail!("the service refused authorization: {e}");
        }
        if let (Some(c), Some(s)) = (code, got_state)
            && s == state
        {
            return Ok(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_coding_round_trips() {
        let s = "http://127.0.0.1:8080/ a+b&c=d";
        assert_eq!(dec(&enc(s)), s);
        assert_eq!(dec("a%2Fb+c%zz"), "a/b c%zz");
        assert_eq!(
            host_port("https://oauth2.googleapis.com/token"),
            "oauth2.googleapis.com:443"
        );
    }
}
