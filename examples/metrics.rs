//! Logging's own health and metrics on a tiny HTTP endpoint, with nothing
//! but the standard library: `GET /metrics` (Prometheus text format) and
//! `GET /health` (200 when ok or degraded, 503 when failing).
//!
//! ```text
//! cargo run --example metrics            # serves on 127.0.0.1, prints the address
//! curl -s http://127.0.0.1:PORT/metrics
//! cargo run --example metrics -- --once  # asks itself once, prints the answer, exits
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use evtrail::{Handle, HealthStatus};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let once = std::env::args().any(|a| a == "--once");
    let dir = std::env::temp_dir().join("evtrail-metrics-demo");
    let (layer, guard) = evtrail::builder()
        .service("metrics-demo")
        .unsigned()
        .log_dir(&dir)
        .build()?;
    tracing_subscriber::registry().with(layer).init();
    for i in 0..100 {
        tracing::info!(event = "order_placed", order = i, "order {i} placed");
    }
    guard.flush(Duration::from_secs(5))?;

    // Loopback only: the counters are for the machine's own scraper.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let handle = guard.handle();
    if once {
        let server = std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                let _ = serve(stream, &handle);
            }
        });
        let mut client = TcpStream::connect(addr)?;
        client
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        client.read_to_string(&mut answer)?;
        server.join().expect("the server thread");
        print!("{answer}");
        return Ok(());
    }
    println!("serving http://{addr}/metrics and http://{addr}/health (Ctrl-C to stop)");
    for stream in listener.incoming() {
        let handle = handle.clone();
        if let Ok(stream) = stream {
            std::thread::spawn(move || serve(stream, &handle));
        }
    }
    Ok(())
}

/// Answers one request: the request line decides, the rest is ignored.
fn serve(stream: TcpStream, handle: &Handle) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", handle.metrics_text()),
        "/health" => {
            let h = handle.health();
            let status = if h.status == HealthStatus::Failing {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let body = format!(
                "{}\nqueue {:.0}% full, {} lost in the last minute\n",
                h.status.as_str(),
                h.queue_fill * 100.0,
                h.lost_last_minute
            );
            (status, "text/plain", body)
        }
        _ => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /health\n".to_owned(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
