//! Real receivers a test starts on 127.0.0.1 (port 0): an SMTP sink and an HTTP receiver, both
//! capturing what they are sent, for the delivery adapters' tests and the notifications' end to
//! end.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- SMTP

/// One message as the SMTP sink received it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// Everything between DATA's 354 and the final `.`, CRLF line ends kept.
    pub data: String,
}

impl Mail {
    /// A header's value, unfolded; the name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.data.split_once("\r\n\r\n")?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }

    pub fn body(&self) -> String {
        self.data.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
    }
}

/// What the SMTP sink answers to DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    Accept,
    /// 451 to DATA: try again later.
    DeferData,
    /// 550 to RCPT: no such mailbox.
    RejectRecipient,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
}

/// Speaks just enough SMTP for lettre: greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
pub async fn smtp_sink(mode: SmtpMode) -> SmtpSink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let captured = Arc::clone(&mails);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let captured = Arc::clone(&captured);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                let mut mail = Mail::default();
                write.write_all(b"220 sink.test ESMTP ready\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let command = line.trim_end().to_owned();
                    let verb = command.split([' ', ':']).next().unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink.test\r\n250 8BITMIME\r\n",
                        "HELO" | "NOOP" => b"250 OK\r\n",
                        "RSET" => {
                            mail = Mail::default();
                            b"250 OK\r\n"
                        }
                        "MAIL" => {
                            mail.mail_from = command.to_owned();
                            b"250 OK\r\n"
                        }
                        "RCPT" if mode == SmtpMode::RejectRecipient => b"550 5.1.1 no such mailbox\r\n",
                        "RCPT" => {
                            mail.rcpt_to.push(command.to_owned());
                            b"250 OK\r\n"
                        }
                        "DATA" if mode == SmtpMode::DeferData => b"451 4.3.0 try again later\r\n",
                        "DATA" => {
                            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.unwrap();
                            loop {
                                line.clear();
                                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                mail.data.push_str(&line);
                            }
                            captured.lock().unwrap().push(std::mem::take(&mut mail));
                            b"250 OK queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"502 command not implemented\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    SmtpSink { addr, mails }
}

// ---------------------------------------------------------------- HTTP

/// One request as the HTTP receiver got it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: String,
    /// When the whole request had arrived.
    pub at: std::time::Instant,
}

impl Captured {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers)).to_str().unwrap()
    }
}

#[derive(Clone)]
struct Reply {
    /// Answered first, one per request, before `status`.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
    status: StatusCode,
    location: Option<String>,
    delay: Duration,
    requests: Arc<Mutex<Vec<Captured>>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Captured>>>,
}

impl Receiver {
    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

/// An HTTP receiver on `bind` (port 0) answering every request with `status`.
pub async fn receiver_on(bind: &str, status: StatusCode) -> Receiver {
    start_receiver(bind, status, None, Duration::ZERO).await
}

pub async fn receiver(status: StatusCode) -> Receiver {
    receiver_on("127.0.0.1:0", status).await
}

/// Answers every request with a redirect to `location`.
pub async fn redirecting_receiver(location: &str) -> Receiver {
    start_receiver("127.0.0.1:0", StatusCode::FOUND, Some(location.to_owned()), Duration::ZERO).await
}

/// Answers 200, but only after `delay`.
pub async fn slow_receiver(delay: Duration) -> Receiver {
    start_receiver("127.0.0.1:0", StatusCode::OK, None, delay).await
}

/// Answers the requests in turn with `first` (e.g. two 503s), then every later one with `then`.
pub async fn scripted_receiver(first: &[StatusCode], then: StatusCode) -> Receiver {
    start(Reply { script: Arc::new(Mutex::new(first.iter().copied().collect())), ..reply(then, None, Duration::ZERO) })
        .await
}

fn reply(status: StatusCode, location: Option<String>, delay: Duration) -> Reply {
    Reply { script: Arc::default(), status, location, delay, requests: Arc::default() }
}

async fn start_receiver(bind: &str, status: StatusCode, location: Option<String>, delay: Duration) -> Receiver {
    start_on(bind, reply(status, location, delay)).await
}

async fn start(reply: Reply) -> Receiver {
    start_on("127.0.0.1:0", reply).await
}

async fn start_on(bind: &str, reply: Reply) -> Receiver {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::clone(&reply.requests);
    let app = axum::Router::new().fallback(capture).with_state(reply);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { addr, requests }
}

async fn capture(State(reply): State<Reply>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    reply.requests.lock().unwrap().push(Captured {
        method: parts.method,
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        at: std::time::Instant::now(),
    });
    tokio::time::sleep(reply.delay).await;
    let status = reply.script.lock().unwrap().pop_front().unwrap_or(reply.status);
    let mut response = Response::builder().status(status);
    if let Some(location) = &reply.location {
        response = response.header("Location", location);
    }
    response.body(Body::empty()).unwrap()
}
