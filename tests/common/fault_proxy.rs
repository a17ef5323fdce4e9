//! A fault-injecting HTTP/1.1 proxy between the layerpub binary and moto: the test points
//! `AWS_ENDPOINT_URL` at [`FaultProxy::endpoint`], and every request is forwarded to moto
//! unless a [`Rule`] says to fail it. Plain std threads, one per client connection.
//!
//! - Keep-alive: each client connection serves requests until the client closes it, as the
//!   SDK's connection pool expects. Upstream, every request gets its own connection to moto
//!   with `Connection: close`, so a response is simply read to its end and re-framed with a
//!   `Content-Length` for the client.
//! - Request bodies are read by `Content-Length` or `Transfer-Encoding: chunked` framing and
//!   forwarded byte for byte (aws-chunked S3 bodies stay as the SDK encoded them).
//! - Every request is recorded (method, path, query, which [`Api`] it is), so a test can assert
//!   what was retried and what was never sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The calls layerpub makes, told apart by method, path and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ListLayerVersions,
    GetLayerVersion,
    PublishLayerVersion,
    HeadObject,
    GetObject,
    /// PutObject of the zip (`….zip`).
    PutZip,
    /// PutObject of the claim (`…/claims/….claim`, with `If-None-Match: *`).
    PutClaim,
    /// PutObject of the fingerprint document (`….manifest.json`).
    PutManifest,
    CreateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    /// DeleteObject of the claim: its release, or the take-over of a stale one.
    DeleteClaim,
    Other,
}

impl Api {
    /// Which call a request is. Lambda's paths start with its API version; everything else is
    /// S3 (path-style: `/bucket/key`). The SDK adds `x-id=…` to some S3 queries: only the
    /// parameters that identify the call are looked at.
    pub fn of(method: &str, path: &str, query: &str) -> Api {
        let has = |p: &str| {
            query
                .split('&')
                .any(|kv| kv == p || kv.starts_with(&format!("{p}=")))
        };
        if let Some(rest) = path.strip_prefix("/2018-10-31/layers/") {
            let parts: Vec<&str> = rest.split('/').collect();
            return match (method, parts.as_slice()) {
                ("GET", [_, "versions"]) => Api::ListLayerVersions,
                ("POST", [_, "versions"]) => Api::PublishLayerVersion,
                ("GET", [_, "versions", _]) => Api::GetLayerVersion,
                _ => Api::Other,
            };
        }
        let is_object = path.trim_start_matches('/').contains('/');
        if !is_object {
            return Api::Other;
        }
        match method {
            "HEAD" => Api::HeadObject,
            "GET" => Api::GetObject,
            "PUT" if has("partNumber") => Api::UploadPart,
            "PUT" if path.contains("/claims/") => Api::PutClaim,
            "PUT" if path.ends_with(".manifest.json") => Api::PutManifest,
            "PUT" if path.ends_with(".zip") => Api::PutZip,
            "POST" if has("uploads") => Api::CreateMultipartUpload,
            "POST" if has("uploadId") => Api::CompleteMultipartUpload,
            "DELETE" if has("uploadId") => Api::AbortMultipartUpload,
            "DELETE" if path.contains("/claims/") => Api::DeleteClaim,
            _ => Api::Other,
        }
    }

    fn is_lambda(self) -> bool {
        matches!(
            self,
            Api::ListLayerVersions | Api::GetLayerVersion | Api::PublishLayerVersion
        )
    }
}

/// What the proxy does to a request a rule picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with the service's error body (never forwarded): S3 XML
    /// (`SlowDown` for 429/503, `InternalError` for 500), Lambda JSON with
    /// `x-amzn-errortype` (`TooManyRequestsException` for 429, else `ServiceException`).
    Status(u16),
    /// Closes the connection without an answer (never forwarded).
    Reset,
    /// Never answers (never forwarded): the client's read timeout has to end the wait.
    Stall,
    /// Forwards the request, then sends the response's headers (with the full
    /// `Content-Length`) and half its body, and closes: the call happened, its answer is lost.
    /// A response without a body is cut in the middle of its headers.
    HalfResponse,
    /// Forwards the request, sends the response's headers and half its body, then neither
    /// sends more nor closes: only a timeout on the whole attempt ends the wait.
    StallMidBody,
    /// Holds the request (never forwarded) and signals [`FaultProxy::wait_held`]: the test
    /// kills the client meanwhile.
    Hold,
}

impl Fault {
    /// How the report names it: `503`, `reset`, `stall`, `half response`, `hold`.
    pub fn label(self) -> String {
        match self {
            Fault::Status(s) => s.to_string(),
            Fault::Reset => "reset".into(),
            Fault::Stall => "stall".into(),
            Fault::HalfResponse => "half response".into(),
            Fault::StallMidBody => "stall mid-answer".into(),
            Fault::Hold => "hold".into(),
        }
    }
}

/// Fail the `nth` request to `api` (counted from 1), and with `always` every one after it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub api: Api,
    pub nth: usize,
    pub fault: Fault,
    pub always: bool,
}

impl Rule {
    /// A transient fault: the first request to `api` fails, the retry gets through.
    pub const fn once(api: Api, fault: Fault) -> Rule {
        Rule {
            api,
            nth: 1,
            fault,
            always: false,
        }
    }

    /// A persistent fault: every request to `api` fails.
    pub const fn always(api: Api, fault: Fault) -> Rule {
        Rule {
            api,
            nth: 1,
            fault,
            always: true,
        }
    }

    /// Starts at the `nth` request to `api` instead of the first.
    pub const fn nth(self, nth: usize) -> Rule {
        Rule { nth, ..self }
    }

    fn fires(&self, api: Api, count: usize) -> bool {
        self.api == api && (count == self.nth || (self.always && count > self.nth))
    }
}

/// One request the proxy saw, and the fault it got (if any).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub api: Api,
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    counts: HashMap<Api, usize>,
    log: Vec<Request>,
    held: usize,
    /// Stalls the client ended by closing the connection (rather than the proxy's deadline).
    stalls_given_up: usize,
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    held: Condvar,
    stop: AtomicBool,
}

pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_start_matches("http://").to_owned(),
            state: Mutex::new(State {
                rules,
                ..State::default()
            }),
            held: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(&s, conn));
            }
        });
        FaultProxy { endpoint, shared }
    }

    /// Every request seen so far, in arrival order.
    /// How many stalled requests the client gave up on (its own timeout closed the connection).
    pub fn stalls_given_up(&self) -> usize {
        self.shared.state.lock().unwrap().stalls_given_up
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.state.lock().unwrap().log.clone()
    }

    /// How many requests to `api` arrived.
    pub fn count(&self, api: Api) -> usize {
        self.requests().iter().filter(|r| r.api == api).count()
    }

    /// How many requests a rule failed.
    pub fn faults(&self) -> usize {
        self.requests().iter().filter(|r| r.fault.is_some()).count()
    }

    /// Waits until a [`Fault::Hold`] request arrives; false if none did within `limit`.
    pub fn wait_held(&self, limit: Duration) -> bool {
        let state = self.shared.state.lock().unwrap();
        let (state, _) = self
            .shared
            .held
            .wait_timeout_while(state, limit, |s| s.held == 0)
            .unwrap();
        state.held > 0
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// A request as read off the wire: its head (request line and headers) and framed body.
struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Serves one client connection until it closes (or a fault closes it).
fn serve(shared: &Shared, conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    while let Some(req) = read_request(&mut reader) {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            // Not reached with today's SDK, which sends no `Expect`; the body is already read.
            let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let api = Api::of(&req.method, path, query);
        let fault = {
            let mut state = shared.state.lock().unwrap();
            let count = state.counts.entry(api).or_default();
            *count += 1;
            let count = *count;
            let fault = state
                .rules
                .iter()
                .find(|r| r.fires(api, count))
                .map(|r| r.fault);
            state.log.push(Request {
                method: req.method.clone(),
                path: path.to_owned(),
                query: query.to_owned(),
                api,
                fault,
            });
            fault
        };
        let keep_alive = !req
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let ok = match fault {
            None => match forward(&shared.upstream, &req) {
                Some(resp) => conn.write_all(&resp.bytes(&req.method)).is_ok(),
                None => false,
            },
            Some(Fault::Status(status)) => conn.write_all(&error_response(api, status)).is_ok(),
            Some(Fault::Reset) => false,
            Some(Fault::Stall) => {
                stall(&mut conn, shared);
                false
            }
            Some(fault @ (Fault::HalfResponse | Fault::StallMidBody)) => {
                if let Some(resp) = forward(&shared.upstream, &req) {
                    let all = resp.bytes(&req.method);
                    let cut = if resp.body.is_empty() || req.method == "HEAD" {
                        all.len() / 2
                    } else {
                        all.len() - resp.body.len() / 2 - resp.body.len() % 2
                    };
                    let _ = conn.write_all(&all[..cut]);
                    let _ = conn.flush();
                }
                if fault == Fault::StallMidBody {
                    stall(&mut conn, shared);
                }
                false
            }
            Some(Fault::Hold) => {
                {
                    let mut state = shared.state.lock().unwrap();
                    state.held += 1;
                    shared.held.notify_all();
                }
                while !shared.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                false
            }
        };
        if !ok || !keep_alive {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Waits until the client gives up (its timeout closes the connection: counted) or the proxy
/// is dropped or its deadline passes, sending nothing.
fn stall(conn: &mut TcpStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut byte = [0u8; 1];
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        if let Ok(0) = conn.read(&mut byte) {
            shared.state.lock().unwrap().stalls_given_up += 1;
            break;
        }
    }
}

/// Reads one request; `None` when the client closed the connection (or sent garbage).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Incoming> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let headers = read_headers(reader)?;
    let mut body = Vec::new();
    if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        // Kept as framed: forwarded with the same Transfer-Encoding header.
        read_chunked(reader, &mut body)?;
    } else if let Some(len) = header(&headers, "content-length") {
        body = vec![0; len.trim().parse().ok()?];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Incoming {
        method,
        target,
        headers,
        body,
    })
}

fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(headers);
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
}

/// Reads a chunked body into `out` with its framing (sizes, chunks, trailers) as sent.
fn read_chunked(reader: &mut impl BufRead, out: &mut Vec<u8>) -> Option<()> {
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line).ok()? == 0 {
            return None;
        }
        out.extend_from_slice(size_line.as_bytes());
        let hex = size_line.trim_end().split(';').next()?.trim();
        let size = usize::from_str_radix(hex, 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t).ok()? == 0 {
                    return None;
                }
                out.extend_from_slice(t.as_bytes());
                if t.trim_end().is_empty() {
                    return Some(());
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        out.extend_from_slice(&chunk);
    }
}

/// moto's answer, with the body taken out of its framing.
struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// The response for the client, framed by `Content-Length` (a HEAD answer keeps the
    /// length moto gave, and has no body).
    fn bytes(&self, method: &str) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.status_line);
        for (k, v) in &self.headers {
            let framing = ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h));
            if !framing || (method == "HEAD" && k.eq_ignore_ascii_case("content-length")) {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        if method != "HEAD" {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Sends the request to moto on a fresh connection and reads the whole answer.
fn forward(upstream: &str, req: &Incoming) -> Option<Response> {
    let mut up = TcpStream::connect(upstream).ok()?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !k.eq_ignore_ascii_case("connection") && !k.eq_ignore_ascii_case("expect") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(&req.body).ok()?;
    let mut reader = BufReader::new(up);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let headers = read_headers(&mut reader)?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = Vec::new();
    if req.method == "HEAD" || status == 204 || status == 304 {
        // No body.
    } else if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut framed = Vec::new();
        read_chunked(&mut reader, &mut framed)?;
        body = dechunk(&framed);
    } else if let Some(len) = header(&headers, "content-length") {
        body = vec![0; len.trim().parse().ok()?];
        reader.read_exact(&mut body).ok()?;
    } else {
        reader.read_to_end(&mut body).ok()?;
    }
    Some(Response {
        status_line: status_line.trim_end().to_owned(),
        headers,
        body,
    })
}

/// The data of a chunked body, without its framing.
fn dechunk(mut framed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = framed.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&framed[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&framed[eol + 2..eol + 2 + size]);
        framed = &framed[eol + 2 + size + 2..];
    }
    out
}

/// An error answer as the service writes it, so the SDK parses its code (and, for the
/// throttling codes, backs off as for throttling).
fn error_response(api: Api, status: u16) -> Vec<u8> {
    let reason = match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let (content_type, extra, body) = if api.is_lambda() {
        let kind = if status == 429 {
            "TooManyRequestsException"
        } else {
            "ServiceException"
        };
        (
            "application/json",
            format!("x-amzn-errortype: {kind}\r\nx-amzn-requestid: fault-proxy\r\n"),
            format!(r#"{{"Type":"Service","message":"injected {status} ({kind})"}}"#),
        )
    } else {
        let code = if status == 500 {
            "InternalError"
        } else {
            "SlowDown"
        };
        (
            "application/xml",
            "x-amz-request-id: fault-proxy\r\n".to_owned(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected {status} ({code})</Message><RequestId>fault-proxy</RequestId></Error>"
            ),
        )
    };
    // A HEAD answer has no body (the SDK then goes by the status alone).
    let body = if api == Api::HeadObject {
        String::new()
    } else {
        body
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
