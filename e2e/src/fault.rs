//! A fault proxy on loopback between the operator and moto: it passes requests through, or
//! refuses connections (an outage), answers a share of them with each service's own throttling
//! error, delays them, or holds them without answering (a hang). One connection per request, so
//! every request meets the fault in force when it arrives. The proxies run on the test's tokio
//! runtime: tests that use them need a multi-threaded one, as starting an operator blocks a thread.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What the proxy does to the requests that reach it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    None,
    /// Connections are closed as soon as they are accepted, before any answer.
    Outage,
    /// This share (0.0..=1.0) of requests gets the service's throttling error.
    Throttle(f64),
    /// Every request waits this long before it is passed on.
    Latency(Duration),
    /// Requests are read and never answered.
    Hang,
}

/// A service that accepts a write and does not keep it: requests for `operation` whose body
/// holds `containing` are answered with success (an empty JSON document) and never forwarded.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub operation: String,
    pub containing: String,
}

/// A running proxy; dropped, it stops accepting.
pub struct FaultProxy {
    pub url: String,
    fault: Arc<Mutex<Fault>>,
    ignored: Arc<Mutex<Option<Ignored>>>,
    swallowed: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    throttled: Arc<AtomicU64>,
    /// When each request was read, and for which service.
    arrivals: Arrivals,
    task: tokio::task::JoinHandle<()>,
}

/// When a request was read, its service and its operation.
type Arrivals = Arc<Mutex<Vec<(Instant, String, String)>>>;

/// Records a request; returns how many came for its service before (its sequence number).
fn arrive(arrivals: &Mutex<Vec<(Instant, String, String)>>, request: &[u8]) -> u64 {
    let service = service_of(request);
    let mut arrivals = arrivals.lock().unwrap();
    let before = arrivals.iter().filter(|(_, s, _)| *s == service).count();
    arrivals.push((Instant::now(), service, operation_of(request)));
    before as u64
}

/// The operation a request calls: its `X-Amz-Target` (JSON protocols), its `Action` (query
/// protocols), else its HTTP method (S3's REST).
pub fn operation_of(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let head_end = text.find("\r\n\r\n").unwrap_or(text.len());
    let (head, body) = text.split_at(head_end);
    if let Some(target) = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .map(|(_, v)| v.trim().to_owned())
    }) {
        return target.rsplit('.').next().unwrap_or_default().to_owned();
    }
    if let Some(action) = body
        .trim()
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
    {
        return action.to_owned();
    }
    head.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fault = Arc::new(Mutex::new(Fault::None));
        let ignored = Arc::new(Mutex::new(None));
        let (requests, throttled) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let swallowed = Arc::new(AtomicU64::new(0));
        let arrivals = Arrivals::default();
        let task = tokio::spawn({
            let (fault, ignored, requests, throttled, swallowed, arrivals) = (
                fault.clone(),
                ignored.clone(),
                requests.clone(),
                throttled.clone(),
                swallowed.clone(),
                arrivals.clone(),
            );
            async move {
                while let Ok((conn, _)) = listener.accept().await {
                    let now = *fault.lock().unwrap();
                    let ignoring = ignored.lock().unwrap().clone();
                    requests.fetch_add(1, Ordering::Relaxed);
                    let (upstream, throttled, swallowed, arrivals) = (
                        upstream.clone(),
                        throttled.clone(),
                        swallowed.clone(),
                        arrivals.clone(),
                    );
                    tokio::spawn(async move {
                        let counters = Counters {
                            throttled: &throttled,
                            swallowed: &swallowed,
                            arrivals: &arrivals,
                        };
                        let _ = serve(conn, &upstream, now, ignoring.as_ref(), counters).await;
                    });
                }
            }
        });
        Self {
            url,
            fault,
            ignored,
            swallowed,
            requests,
            throttled,
            arrivals,
            task,
        }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// From now on, answers writes matching `ignored` with success and drops them (`None`:
    /// forwards everything again).
    pub fn ignore(&self, ignored: Option<Ignored>) {
        *self.ignored.lock().unwrap() = ignored;
    }

    /// Writes answered and dropped so far.
    pub fn swallowed(&self) -> u64 {
        self.swallowed.load(Ordering::Relaxed)
    }

    /// The operations of every request read so far, in order.
    pub fn operations(&self) -> Vec<String> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.iter().map(|(_, _, o)| o.clone()).collect()
    }

    /// Connections accepted so far (one per request).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with a throttling error so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Requests for `service` (`sqs`, `sns`, ...) read so far.
    pub fn requests_for(&self, service: &str) -> usize {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.iter().filter(|(_, s, _)| s == service).count()
    }

    /// The most requests for `service` that arrived within any one second (a sliding window).
    pub fn max_per_second(&self, service: &str) -> usize {
        let arrivals = self.arrivals.lock().unwrap();
        let times: Vec<Instant> = arrivals
            .iter()
            .filter(|(_, s, _)| s == service)
            .map(|(t, _, _)| *t)
            .collect();
        let mut start = 0;
        let mut most = 0;
        for (end, t) in times.iter().enumerate() {
            while *t - times[start] >= Duration::from_secs(1) {
                start += 1;
            }
            most = most.max(end + 1 - start);
        }
        most
    }
}

struct Counters<'a> {
    throttled: &'a AtomicU64,
    swallowed: &'a AtomicU64,
    arrivals: &'a Mutex<Vec<(Instant, String, String)>>,
}

async fn serve(
    mut conn: TcpStream,
    upstream: &str,
    fault: Fault,
    ignored: Option<&Ignored>,
    counters: Counters<'_>,
) -> std::io::Result<()> {
    if fault == Fault::Outage {
        // Closed before any answer, as by a dead endpoint or a load balancer with no target.
        drop(conn);
        return Ok(());
    }
    let request = read_request(&mut conn).await?;
    let seq = arrive(counters.arrivals, &request);
    if let Some(ignored) = ignored
        && operation_of(&request) == ignored.operation
        && String::from_utf8_lossy(&request).contains(&ignored.containing)
    {
        counters.swallowed.fetch_add(1, Ordering::Relaxed);
        let body = "{}";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(answer.as_bytes()).await?;
        return conn.shutdown().await;
    }
    match fault {
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        Fault::Latency(d) => tokio::time::sleep(d).await,
        // Spread evenly by each service's own sequence number, starting with its first call:
        // reproducible, no burst passes untouched, and a service that makes only a few calls
        // is throttled too.
        Fault::Throttle(share) if ((seq * 7919) % 1000) as f64 / 1000.0 < share => {
            counters.throttled.fetch_add(1, Ordering::Relaxed);
            conn.write_all(&throttling_response(&request)).await?;
            return conn.shutdown().await;
        }
        _ => {}
    }
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(&with_connection_close(&request)).await?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await?;
    conn.write_all(&response).await?;
    conn.shutdown().await
}

/// The request head and its body (by Content-Length).
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(buf);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The request with `Connection: close`, so the upstream ends the response by closing.
fn with_connection_close(request: &[u8]) -> Vec<u8> {
    let Some(end) = find(request, b"\r\n\r\n") else {
        return request.to_vec();
    };
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_owned)
        .collect();
    out.push("Connection: close".into());
    let mut bytes = (out.join("\r\n") + "\r\n\r\n").into_bytes();
    bytes.extend_from_slice(&request[end + 4..]);
    bytes
}

/// The service a signed request is for, from its credential scope
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
/// moto's endpoint, from the env `just up` prints.
pub fn moto_url() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: source the env `just up` prints")
}

pub fn service_of(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    text.split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("")
        .to_owned()
}

/// What each service answers when it throttles, in its own protocol.
pub fn throttling_response(request: &[u8]) -> Vec<u8> {
    let xml = |code: &str| {
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
        )
    };
    let (status, content_type, extra, body) = match service_of(request).as_str() {
        "sqs" => (
            "400 Bad Request",
            "application/x-amz-json-1.0",
            "x-amzn-query-error: AWS.SimpleQueueService.RequestThrottled;Sender\r\n",
            r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}"#.to_owned(),
        ),
        "dynamodb" => (
            "400 Bad Request",
            "application/x-amz-json-1.0",
            "",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#.to_owned(),
        ),
        "ecr" => (
            "400 Bad Request",
            "application/x-amz-json-1.1",
            "",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
        ),
        "s3" => (
            "503 Slow Down",
            "application/xml",
            "",
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_owned(),
        ),
        "sns" => ("400 Bad Request", "text/xml", "", xml("Throttled")),
        _ => ("400 Bad Request", "text/xml", "", xml("Throttling")),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_comes_from_the_credential_scope() {
        let req = b"POST / HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/sns/aws4_request, SignedHeaders=host\r\n\r\n";
        assert_eq!(service_of(req), "sns");
        let resp = String::from_utf8(throttling_response(req)).unwrap();
        assert!(resp.contains("<Code>Throttled</Code>"), "{resp}");
    }

    #[test]
    fn operations_come_from_the_target_the_action_or_the_method() {
        let json = b"POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.SetQueueAttributes\r\n\r\n{}";
        assert_eq!(operation_of(json), "SetQueueAttributes");
        let query =
            b"POST / HTTP/1.1\r\nContent-Type: x\r\n\r\nAction=ListTopics&Version=2010-03-31";
        assert_eq!(operation_of(query), "ListTopics");
        assert_eq!(operation_of(b"GET /bucket?tagging HTTP/1.1\r\n\r\n"), "GET");
    }
}

/// A TCP proxy on loopback (TLS passes through untouched) that can cut every connection and
/// refuse new ones, as a dropped API server connection or a network partition would.
pub struct TcpCut {
    pub addr: std::net::SocketAddr,
    cut: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.task.abort();
        self.sever();
    }
}

impl TcpCut {
    pub async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let task = tokio::spawn({
            let (cut, open) = (cut.clone(), open.clone());
            async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(conn);
                        continue;
                    }
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut up) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                        }
                    });
                    let mut open = open.lock().unwrap();
                    open.retain(|h| !h.is_finished());
                    open.push(pipe.abort_handle());
                }
            }
        });
        Self {
            addr,
            cut,
            open,
            task,
        }
    }

    /// Closes every open connection; with `refuse`, new ones are closed on arrival until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.sever();
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    fn sever(&self) {
        for h in self.open.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

#[cfg(test)]
mod cut_tests {
    use super::*;

    async fn echo() -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = c.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(addr: std::net::SocketAddr) -> bool {
        let Ok(mut c) = TcpStream::connect(addr).await else {
            return false;
        };
        if c.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut buf)).await,
            Ok(Ok(_))
        ) && &buf == b"ping"
    }

    #[tokio::test]
    async fn a_cut_closes_and_refuses_until_restored() {
        let proxy = TcpCut::start(echo().await).await;
        assert!(round_trip(proxy.addr).await);
        let mut open = TcpStream::connect(proxy.addr).await.unwrap();
        open.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.cut();
        assert!(!round_trip(proxy.addr).await, "passed while cut");
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(2), open.read(&mut buf)).await;
        assert!(matches!(n, Ok(Ok(1)) | Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
        proxy.restore();
        for _ in 0..3 {
            assert!(round_trip(proxy.addr).await, "refused after restore");
        }
    }
}
