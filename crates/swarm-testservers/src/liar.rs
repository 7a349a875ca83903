//! An HTTP server that lies about sizes: every GET is answered `200` with
//! `Content-Length: 100 GiB` and zeros for as long as the client reads, every other request
//! `404`. A client that believes the length, or reads to the end, runs out of memory or time.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct Liar {
    pub port: u16,
    sent: Arc<AtomicU64>,
}

impl Liar {
    /// Listens on 127.0.0.1, port 0.
    pub fn start() -> Liar {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("liar: cannot listen: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let counter = counter.clone();
                std::thread::spawn(move || serve(conn, &counter));
            }
        });
        Liar { port, sent }
    }

    /// Bytes of body sent so far, over all requests.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

fn serve(mut conn: std::net::TcpStream, sent: &AtomicU64) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() || request.is_empty() {
            return;
        }
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim().is_empty() => break,
                Ok(_) => {}
            }
        }
        if !request.starts_with("GET ") {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
            continue;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 107374182400\r\n\r\n";
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        let zeros = vec![0u8; 64 << 10];
        while conn.write_all(&zeros).is_ok() {
            sent.fetch_add(zeros.len() as u64, Ordering::Relaxed);
        }
        return;
    }
}
