//! An HTTP listener that only records: for every request, its request line and whether it
//! carried an `Authorization` header (never the header's value). Every request is answered
//! `401` with a Basic challenge, so a client holding credentials sends them, at once or on the
//! retry. For tests that a host receives no credentials it was not given for.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the [`Recorder`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `PROPFIND /dav/ HTTP/1.1`
    pub request: String,
    pub authorization: bool,
}

/// The listener; it stops accepting when dropped (its thread ends with the process).
pub struct Recorder {
    pub port: u16,
    pub ip: IpAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    /// Listens on `ip` (e.g. 127.0.0.2: another host than the test servers'), port 0.
    pub fn start(ip: IpAddr) -> Recorder {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("recorder: cannot listen on {ip}: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(match conn.try_clone() {
                    Ok(c) => c,
                    Err(_) => continue,
                });
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() || request.is_empty() {
                    continue;
                }
                let mut authorization = false;
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line.trim().is_empty() => break,
                        Ok(_) => {
                            if line
                                .split(':')
                                .next()
                                .is_some_and(|h| h.trim().eq_ignore_ascii_case("authorization"))
                            {
                                authorization = true;
                            }
                        }
                    }
                }
                if let Ok(mut s) = log.lock() {
                    s.push(Seen {
                        request: request.trim().to_owned(),
                        authorization,
                    });
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"recorder\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Recorder { port, ip, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `http://IP:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }
}
