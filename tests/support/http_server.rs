//! A scriptable HTTP/1.1 server on 127.0.0.1 for the HTTP sink's tests.
//!
//! Each request takes the next reply from the script, or the default reply
//! once the script is used up. Every request is recorded with its body
//! (gunzipped) and the reply it got.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers with this status and an empty body.
    Status(u16),
    /// Answers with this status, headers and body.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Waits, then answers with the status.
    Slow(Duration, u16),
    /// Closes the connection without answering.
    Close,
    /// Never answers; the connection stays open until the server stops.
    Hang,
    /// Answers with this status and the request's headers as the body,
    /// one `name: value` line each, as some misconfigured proxies do.
    EchoHeaders(u16),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Status(200)
    }

    pub fn retry_after(status: u16, after: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Retry-After".into(), after.into())],
            body: String::new(),
        }
    }

    pub fn with_body(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The status the client was sent, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Status(s) | Reply::Slow(_, s) | Reply::EchoHeaders(s) => Some(*s),
            Reply::Full { status, .. } => Some(*status),
            Reply::Close | Reply::Hang => None,
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when it came with `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// The body's size on the wire.
    pub wire_bytes: usize,
    pub at: Instant,
    pub reply: Reply,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client got a 2xx answer (the records count as
    /// delivered).
    pub fn accepted(&self) -> bool {
        matches!(self.reply.status(), Some(200..=299))
    }

    /// The body's lines parsed as JSON (NDJSON bodies).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a JSON line"))
            .collect()
    }
}

struct Inner {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    received: Mutex<Vec<Received>>,
    arrived: Condvar,
    stop: AtomicBool,
}

/// The server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts on a free loopback port, answering 200 by default.
    pub fn start() -> TestServer {
        TestServer::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// Starts on `addr` (a loopback address).
    pub fn start_on(addr: SocketAddr) -> TestServer {
        assert!(addr.ip().is_loopback(), "tests only use loopback");
        let listener = TcpListener::bind(addr).expect("bind the test server");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Reply::ok()),
            received: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let shared = inner.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let inner = shared.clone();
                std::thread::spawn(move || serve(conn, &inner));
            }
        });
        TestServer {
            addr,
            inner,
            accept: Some(accept),
        }
    }

    /// A loopback address where nothing listens (yet).
    pub fn free_addr() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues replies for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        *self.inner.default.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests so far, or `timeout`.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut got = self.inner.received.lock().unwrap();
        loop {
            if done(&got) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            got = self
                .inner
                .arrived
                .wait_timeout(got, deadline - now)
                .unwrap()
                .0;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, inner: &Inner) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let Some(req) = read_request(&mut reader, inner) else {
            return;
        };
        let reply = {
            let next = inner.script.lock().unwrap().pop_front();
            next.unwrap_or_else(|| inner.default.lock().unwrap().clone())
        };
        let (method, target, headers, wire) = req;
        let echo: String = headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        let gzip = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v.contains("gzip"));
        let body = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&wire[..])
                .read_to_end(&mut out)
                .expect("a gzip body");
            out
        } else {
            wire.clone()
        };
        {
            let mut got = inner.received.lock().unwrap();
            got.push(Received {
                method,
                target,
                headers,
                body,
                wire_bytes: wire.len(),
                at: Instant::now(),
                reply: reply.clone(),
            });
            inner.arrived.notify_all();
        }
        let (status, extra, text) = match reply {
            Reply::Status(s) => (s, Vec::new(), String::new()),
            Reply::Full {
                status,
                headers,
                body,
            } => (status, headers, body),
            Reply::Slow(d, s) => {
                std::thread::sleep(d);
                (s, Vec::new(), String::new())
            }
            Reply::EchoHeaders(s) => (s, Vec::new(), echo),
            Reply::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Hang => {
                while !inner.stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status} Status\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n",
            text.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // One write: a head and body written apart meet Nagle's algorithm
        // and the client's delayed ACK, adding 40 ms to every answer.
        head.push_str(&text);
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
}

type Head = (String, String, Vec<(String, String)>, Vec<u8>);

/// Reads one request: method, target, headers and the raw body. `None`
/// when the client closed the connection or the server is stopping.
fn read_request(reader: &mut BufReader<TcpStream>, inner: &Inner) -> Option<Head> {
    let mut line = String::new();
    // Wait for a request, watching for the server to stop.
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if inner.stop.load(Ordering::Acquire) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    let _ = reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)));
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let _ = reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)));
    Some((method, target, headers, body))
}
