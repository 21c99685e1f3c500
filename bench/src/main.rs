//! `keyward-bench dpop <base-url> <path> <connections> <warmup-s> <seconds>`: signs up a user
//! with a device key, then keeps `connections` HTTP/1.1 keep-alive connections busy (closed
//! loop, like wrk) with `GET <path>` carrying the DPoP-bound access token and a fresh DPoP
//! proof per request (what a browser client sends), and prints wrk's `RESULT {…}` line.
//!
//! wrk cannot sign ES256 proofs; everything else in `cargo xtask bench` uses wrk. The proofs of
//! the measured window are signed before it (each with its own `jti` and `iat`, well within the
//! server's 300 s), as wrk prepares its requests before it sends them: signing is the browser's
//! work, on the user's device, and signing here during the window took a fifth of the two cores
//! the server is measured on. The warm-up signs as it goes.
//!
//! `keyward-bench ws <base-url> <path> <connections> <warmup-s> <seconds>`: signs up the same
//! way, then keeps `connections` sync clients connecting in a closed loop: each asks for a
//! connect ticket for `ws://…<path>` (with its DPoP proof, signed ahead as above), opens a new
//! WebSocket with `?ticket=…` and waits for the server's first message. `rps` counts those
//! authenticated connections per second.
//!
//! `keyward-bench ws-connect <base-url> <path> <connections> <warmup-s> <seconds>`: warms up as
//! `ws` does, then asks for the window's tickets over `connections` keep-alive connections (for
//! at most 25 s: a ticket lives 30 s), then keeps `connections` sync clients opening a new
//! WebSocket with the next ticket, oldest first, and waiting for the server's first message.
//! `rps` counts those connections per second; the tickets are asked for ahead as the proofs are
//! signed ahead.
//!
//! `keyward-bench ws-bare <base-url> <path> <connections> <warmup-s> <seconds>`: the same
//! connections without a ticket, to a WebSocket that needs none: the baseline `ws-connect` is
//! set against, as the bare route is for the protected one.
//!
//! `keyward-bench probe <seconds>`: a fixed piece of CPU work (ES256 signature checks, the
//! server's hottest operation, on one thread) for `seconds`, printing `PROBE {"ops_per_s":…}`.
//! The bench runs it at the start of each phase, so the report shows how fast the machine was
//! while each system was measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::HeaderValue;
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

type Result<T> = std::result::Result<T, String>;

struct Device {
    pair: EcdsaKeyPair,
    header: String,
    counter: AtomicU64,
}

impl Device {
    fn new() -> Result<Self> {
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|e| e.to_string())?;
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (
            point.get(1..33).ok_or("short key")?,
            point.get(33..65).ok_or("short key")?,
        );
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": { "kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) },
        });
        Ok(Self {
            pair,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            counter: AtomicU64::new(0),
        })
    }

    /// A fresh proof for `GET`/`POST` `url`; `ath` is the access token's hash, if any (computed
    /// once per run, as a client would once per token). The claims are written by hand rather
    /// than through serde_json: the generator shares the server's two cores, so what it spends
    /// per request is taken from the server.
    fn proof(&self, method: &str, url: &str, ath: Option<&str>) -> Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let ath = ath
            .map(|ath| format!(r#","ath":"{ath}""#))
            .unwrap_or_default();
        let claims = format!(
            r#"{{"jti":"{}-{n}","htm":"{method}","htu":"{url}","iat":{}{ath}}}"#,
            now.as_nanos(),
            now.as_secs()
        );
        let input = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(claims));
        let signature = self
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// The `ath` claim for `token`: its SHA-256, base64url.
fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

async fn connect(addr: SocketAddr) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// The server's address, looked up once, as wrk does: looked up for every connection, the name
/// cost the generator a thread of tokio's blocking pool and a read of `/etc/hosts` each time, on
/// the cores the server is measured on (a tenth of them in `ws-bare`).
async fn reach(authority: &str) -> Result<SocketAddr> {
    let found = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    for addr in found {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(addr);
        }
    }
    Err(format!("nothing answers at {authority}"))
}

/// Signs up a fresh user with the device key; returns its DPoP-bound access token.
async fn bound_token(
    base: &str,
    authority: &str,
    addr: SocketAddr,
    device: &Device,
) -> Result<String> {
    let mut sender = connect(addr).await?;
    let url = format!("{base}/auth/sign-up");
    let email = format!(
        "dpop-{}@bench.test",
        device.counter.load(Ordering::Relaxed) ^ std::process::id() as u64
    );
    let body = serde_json::json!({ "email": email, "password": "bench-password-123" }).to_string();
    let request = Request::post(&url)
        .header("host", authority)
        .header("content-type", "application/json")
        .header("dpop", device.proof("POST", &url, None)?)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    json["data"]["tokens"]["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("sign-up failed: {json}"))
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    errors: u64,
}

impl Stats {
    /// One request or connection begun at `began`, done now.
    fn record(&mut self, began: Instant, ok: bool) {
        self.latencies_us
            .push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
        if !ok {
            self.errors += 1;
        }
    }
}

/// The measured window: what runs before `start` is warm-up; nothing runs past `stop`.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    stop: Instant,
}

/// An upper bound on the measured rate, to size the pool of proofs signed in advance; a faster
/// run signs the rest as it goes and says so (`late_proofs` in its result).
const PRESIGNED_PER_SECOND: u64 = 30_000;

/// Proofs for `GET url` signed before the measured window, one taken per request in it.
struct Proofs {
    signed: Vec<HeaderValue>,
    next: AtomicUsize,
    late: AtomicU64,
}

impl Proofs {
    /// Signs `count` proofs, on two threads (the machine's cores, idle before the window).
    fn sign(device: &Device, method: &str, url: &str, ath: &str, count: usize) -> Result<Self> {
        let sign_some = |n: usize| -> Result<Vec<HeaderValue>> {
            (0..n)
                .map(|_| Self::fresh(device, method, url, ath))
                .collect()
        };
        let (a, b) = std::thread::scope(|scope| {
            let other = scope.spawn(|| sign_some(count / 2));
            let mine = sign_some(count - count / 2);
            (other.join(), mine)
        });
        let mut signed = a.map_err(|_| "a signing thread panicked")??;
        signed.extend(b?);
        Ok(Self {
            signed,
            next: AtomicUsize::new(0),
            late: AtomicU64::new(0),
        })
    }

    /// The next signed proof; a fresh one if they are all taken.
    fn take(&self, device: &Device, method: &str, url: &str, ath: &str) -> Result<HeaderValue> {
        match self.signed.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            Some(proof) => Ok(proof.clone()),
            None => {
                self.late.fetch_add(1, Ordering::Relaxed);
                Self::fresh(device, method, url, ath)
            }
        }
    }

    /// A proof signed now, as a header value.
    fn fresh(device: &Device, method: &str, url: &str, ath: &str) -> Result<HeaderValue> {
        HeaderValue::from_maybe_shared(Bytes::from(device.proof(method, url, Some(ath))?))
            .map_err(|e| e.to_string())
    }
}

async fn worker(
    authority: String,
    addr: SocketAddr,
    url: Arc<str>,
    token: Arc<str>,
    device: Arc<Device>,
    proofs: Arc<Proofs>,
    window: Window,
) -> Result<Stats> {
    let mut sender = connect(addr).await?;
    let (authorization, ath) = (format!("DPoP {token}"), ath(&token));
    let mut stats = Stats::default();
    while Instant::now() < window.stop {
        let began = Instant::now();
        let proof = if began >= window.start {
            proofs.take(&device, "GET", &url, &ath)?
        } else {
            Proofs::fresh(&device, "GET", &url, &ath)?
        };
        let request = Request::get(&*url)
            .header("host", &authority)
            .header("authorization", &authorization)
            .header("dpop", proof)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        if began >= window.start {
            stats.record(began, ok);
        }
    }
    Ok(stats)
}

/// ES256 verifications per second on this thread, over `seconds`.
fn probe(seconds: u64) -> Result<f64> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|e| e.to_string())?;
    let message = b"keyward-bench probe: one fixed message, verified over and over";
    let signature = pair
        .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
        .map_err(|e| e.to_string())?;
    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref());
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut done = 0u64;
    while Instant::now() < until {
        for _ in 0..100 {
            key.verify(message, signature.as_ref())
                .map_err(|_| "the probe's own signature did not verify")?;
        }
        done += 100;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// A sync client's connection, in a closed loop: a connect ticket for `ws_url` (`POST
/// /auth/connect-ticket` with the DPoP-bound token and a proof, on a keep-alive connection),
/// then a new TCP connection and WebSocket handshake with `?ticket=…`, redeemed by the server
/// before it upgrades; done when the server's first message (who the connection is) arrives, and
/// closed. One such round is one authenticated connection.
async fn ws_worker(asker: TicketAsker, proofs: Arc<Proofs>, window: Window) -> Result<Stats> {
    let mut sender = connect(asker.addr).await?;
    let mut stats = Stats::default();
    while Instant::now() < window.stop {
        let began = Instant::now();
        let proof = if began >= window.start {
            proofs.take(&asker.device, "POST", &asker.url, &asker.ath)?
        } else {
            Proofs::fresh(&asker.device, "POST", &asker.url, &asker.ath)?
        };
        let greeted = match asker.ask(&mut sender, proof).await? {
            Some(ticket) => open(asker.addr, &asker.ws_url, Some(&ticket)).await?,
            None => false,
        };
        if began >= window.start {
            stats.record(began, greeted);
        }
    }
    Ok(stats)
}

/// A connection authenticated with a ticket asked for before the window (`ws-connect`), or
/// without one (`tickets` `None`, `ws-bare`): a new TCP connection and WebSocket handshake with
/// `?ticket=…`, redeemed by the server before it upgrades, until the server's first message.
/// When the tickets run out, it asks for one first and says so (`late_tickets`).
async fn connect_worker(
    asker: TicketAsker,
    tickets: Option<Arc<Tickets>>,
    window: Window,
) -> Result<Stats> {
    let mut sender = None;
    let mut stats = Stats::default();
    while Instant::now() < window.stop {
        let began = Instant::now();
        let greeted = match &tickets {
            None => open(asker.addr, &asker.ws_url, None).await?,
            Some(tickets) => {
                let ticket = match tickets.take(began) {
                    Some(ticket) => Some(ticket),
                    None => {
                        tickets.late.fetch_add(1, Ordering::Relaxed);
                        let sender = match &mut sender {
                            Some(sender) => sender,
                            None => sender.insert(connect(asker.addr).await?),
                        };
                        let proof = Proofs::fresh(&asker.device, "POST", &asker.url, &asker.ath)?;
                        asker.ask(sender, proof).await?
                    }
                };
                match ticket {
                    Some(ticket) => open(asker.addr, &asker.ws_url, Some(&ticket)).await?,
                    None => false,
                }
            }
        };
        if began >= window.start {
            stats.record(began, greeted);
        }
    }
    Ok(stats)
}

/// What asks for connect tickets: the ticket URL, the WebSocket URL it is for, and the session.
#[derive(Clone)]
struct TicketAsker {
    authority: String,
    addr: SocketAddr,
    url: Arc<str>,
    ws_url: Arc<str>,
    authorization: Arc<str>,
    ath: Arc<str>,
    device: Arc<Device>,
    body: Bytes,
}

impl TicketAsker {
    /// A ticket for the WebSocket URL, asked with `proof`; `None` if refused.
    async fn ask(
        &self,
        sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        proof: HeaderValue,
    ) -> Result<Option<String>> {
        let request = Request::post(&*self.url)
            .header("host", &self.authority)
            .header("authorization", &*self.authorization)
            .header("dpop", proof)
            .header("content-type", "application/json")
            .body(Full::new(self.body.clone()))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let issued = response.status().is_success();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|json| json["data"]["ticket"].as_str().map(str::to_owned))
            .filter(|_| issued))
    }
}

/// Opens a WebSocket at `ws_url` with `ticket`, if any, on a new TCP connection; whether the
/// server's first message says who the connection is.
async fn open(addr: SocketAddr, ws_url: &str, ticket: Option<&str>) -> Result<bool> {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let url = match ticket {
        Some(ticket) => format!("{ws_url}?ticket={ticket}"),
        None => ws_url.to_owned(),
    };
    Ok(match tokio_tungstenite::client_async(url, stream).await {
        Ok((mut socket, _)) => {
            let hello = socket.next().await;
            let _ = socket.close(None).await;
            matches!(hello, Some(Ok(Message::Text(text))) if text.contains("user_id"))
        }
        Err(_) => false,
    })
}

/// An upper bound on the rate of `ws-connect`, to size the tickets asked for ahead (measured:
/// 13,300 a second; the server keeps the tickets it has issued until they are used or 30 s old,
/// so asking for many more than the window uses would hold memory the later scenarios' figures
/// would carry).
const TICKETS_PER_SECOND: u64 = 15_000;

/// How long a ticket lives (the server's `TICKET_TTL`), less a margin for the clock's sake.
const TICKETS_LIVE: Duration = Duration::from_secs(27);

/// How long `ws-connect` asks for tickets before its window, at most. The window uses them in
/// the order they were asked for, so the first one, used as the window opens, is at most this
/// old; the later ones are younger as long as the window uses them faster than they were asked
/// for (measured: on PostgreSQL 5,500 asked for a second and 8,700 used; on SQLite the tickets
/// wanted are all asked for within 13 s). A ticket too old to use is skipped ([`Tickets::take`]).
/// Asked for 16 s at most and used in no order, PostgreSQL's tickets ran out a second or two
/// before the end of the window, and its last connections each asked for a ticket first:
/// measured, a tenth of a pass's connections, at a third of the rate.
const ASKING_AHEAD: Duration = Duration::from_secs(25);

/// Tickets asked for before the measured window, one redeemed per connection in it, in the
/// order they were asked for.
struct Tickets {
    /// Each ticket with when it was asked for, earliest first.
    asked: Vec<(Instant, String)>,
    next: AtomicUsize,
    /// Asked for inside the window, when those asked for ahead ran out.
    late: AtomicU64,
    /// Asked for ahead but skipped: too near the end of their life to be used.
    stale: AtomicU64,
}

impl Tickets {
    /// Up to `count` tickets, asked for over `connections` keep-alive connections for at most
    /// [`ASKING_AHEAD`].
    async fn ask(asker: &TicketAsker, connections: u64, count: usize) -> Result<Self> {
        let until = Instant::now() + ASKING_AHEAD;
        let taken = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (asker, taken) = (asker.clone(), Arc::clone(&taken));
                tokio::spawn(async move {
                    let mut sender = connect(asker.addr).await?;
                    let mut asked = Vec::new();
                    while Instant::now() < until && taken.fetch_add(1, Ordering::Relaxed) < count {
                        let proof = Proofs::fresh(&asker.device, "POST", &asker.url, &asker.ath)?;
                        // Before the request: the server starts the ticket's 30 s no earlier.
                        let at = Instant::now();
                        if let Some(ticket) = asker.ask(&mut sender, proof).await? {
                            asked.push((at, ticket));
                        }
                    }
                    Ok::<_, String>(asked)
                })
            })
            .collect();
        let mut asked = Vec::new();
        for task in tasks {
            asked.extend(task.await.map_err(|e| e.to_string())??);
        }
        Ok(Self::in_order(asked))
    }

    /// `asked`, to be used earliest first.
    fn in_order(mut asked: Vec<(Instant, String)>) -> Self {
        asked.sort_unstable_by_key(|(at, _)| *at);
        Self {
            asked,
            next: AtomicUsize::new(0),
            late: AtomicU64::new(0),
            stale: AtomicU64::new(0),
        }
    }

    /// The earliest ticket not yet used that is still good at `now`; `None` once they are all
    /// used.
    fn take(&self, now: Instant) -> Option<String> {
        loop {
            let (at, ticket) = self.asked.get(self.next.fetch_add(1, Ordering::Relaxed))?;
            if now.duration_since(*at) < TICKETS_LIVE {
                return Some(ticket.clone());
            }
            self.stale.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a run prepared before its window and ran out of: proofs, or tickets (none for `ws-bare`).
enum Late {
    Proofs(Arc<Proofs>),
    Tickets(Option<Arc<Tickets>>),
}

impl Late {
    /// The result's fields saying how many were made inside the window (and, for tickets, how
    /// many asked for ahead were too old to use), as JSON members.
    fn fields(&self) -> String {
        match self {
            Self::Proofs(proofs) => {
                format!("\"late_proofs\":{}", proofs.late.load(Ordering::Relaxed))
            }
            Self::Tickets(tickets) => {
                let (late, stale) = tickets.as_ref().map_or((0, 0), |t| {
                    (
                        t.late.load(Ordering::Relaxed),
                        t.stale.load(Ordering::Relaxed),
                    )
                });
                format!("\"late_tickets\":{late},\"stale_tickets\":{stale}")
            }
        }
    }
}

async fn run(args: &[String]) -> Result<()> {
    if let [mode, seconds] = args
        && mode == "probe"
    {
        let seconds = seconds
            .parse::<u64>()
            .map_err(|e| format!("{seconds}: {e}"))?;
        println!("PROBE {{\"ops_per_s\":{:.1}}}", probe(seconds)?);
        return Ok(());
    }
    let [mode, base, path, connections, warmup, seconds] = args else {
        return Err(
            "usage: keyward-bench dpop|ws|ws-connect|ws-bare <base-url> <path> <connections> <warmup-s> <seconds> | keyward-bench probe <seconds>".into(),
        );
    };
    let parse = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
    let (connections, warmup, seconds) = (parse(connections)?, parse(warmup)?, parse(seconds)?);
    let authority = base
        .strip_prefix("http://")
        .ok_or("the base URL must be http://")?
        .trim_end_matches('/')
        .to_owned();
    let device = Arc::new(Device::new()?);
    let addr = reach(&authority).await?;
    let token: Arc<str> = bound_token(base, &authority, addr, &device).await?.into();
    let count = usize::try_from(PRESIGNED_PER_SECOND * seconds).map_err(|e| e.to_string())?;
    let asker = TicketAsker {
        authority: authority.clone(),
        addr,
        url: format!("{base}/auth/connect-ticket").into(),
        ws_url: format!("ws://{authority}{path}").into(),
        authorization: format!("DPoP {token}").into(),
        ath: ath(&token).into(),
        device: Arc::clone(&device),
        body: Bytes::from(
            serde_json::json!({ "url": format!("ws://{authority}{path}") }).to_string(),
        ),
    };
    let window = |warmup: u64| {
        let start = Instant::now() + Duration::from_secs(warmup);
        Window {
            start,
            stop: start + Duration::from_secs(seconds),
        }
    };
    // Proofs for the measured window, signed before it; none for `ws-connect`, whose window asks
    // for nothing.
    let (tasks, late): (Vec<_>, Late) = match mode.as_str() {
        "dpop" => {
            let url: Arc<str> = format!("{base}{path}").into();
            let proofs = Arc::new(Proofs::sign(&device, "GET", &url, &asker.ath, count)?);
            let window = window(warmup);
            let tasks = (0..connections)
                .map(|_| {
                    let (token, device) = (Arc::clone(&token), Arc::clone(&device));
                    let (url, proofs) = (Arc::clone(&url), Arc::clone(&proofs));
                    tokio::spawn(worker(
                        authority.clone(),
                        addr,
                        url,
                        token,
                        device,
                        proofs,
                        window,
                    ))
                })
                .collect();
            (tasks, Late::Proofs(proofs))
        }
        "ws" => {
            let proofs = Arc::new(Proofs::sign(
                &device, "POST", &asker.url, &asker.ath, count,
            )?);
            let window = window(warmup);
            let tasks = (0..connections)
                .map(|_| tokio::spawn(ws_worker(asker.clone(), Arc::clone(&proofs), window)))
                .collect();
            (tasks, Late::Proofs(proofs))
        }
        "ws-connect" => {
            // Warm up with whole rounds, then ask for the window's tickets, then connect.
            let none = Arc::new(Proofs::sign(&device, "POST", &asker.url, &asker.ath, 0)?);
            let warming = window(warmup);
            let warming = Window {
                start: warming.start,
                stop: warming.start,
            };
            for task in (0..connections)
                .map(|_| tokio::spawn(ws_worker(asker.clone(), Arc::clone(&none), warming)))
                .collect::<Vec<_>>()
            {
                task.await.map_err(|e| e.to_string())??;
            }
            let wanted =
                usize::try_from(TICKETS_PER_SECOND * seconds).map_err(|e| e.to_string())?;
            let tickets = Arc::new(Tickets::ask(&asker, connections, wanted).await?);
            let window = window(0);
            let tasks = (0..connections)
                .map(|_| {
                    let tickets = Some(Arc::clone(&tickets));
                    tokio::spawn(connect_worker(asker.clone(), tickets, window))
                })
                .collect();
            (tasks, Late::Tickets(Some(tickets)))
        }
        "ws-bare" => {
            let window = window(warmup);
            let tasks = (0..connections)
                .map(|_| tokio::spawn(connect_worker(asker.clone(), None, window)))
                .collect();
            (tasks, Late::Tickets(None))
        }
        _ => return Err(format!("unknown mode {mode}")),
    };
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let stats = task.await.map_err(|e| e.to_string())??;
        latencies.extend(stats.latencies_us);
        errors += stats.errors;
    }
    let late = late.fields();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(index).copied().unwrap_or(0) as f64 / 1000.0
    };
    let requests = latencies.len();
    println!(
        "RESULT {{\"requests\":{requests},\"seconds\":{seconds}.000,\"rps\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"err_status\":{errors},{late}}}",
        requests as f64 / seconds as f64,
        pct(0.50),
        pct(0.99),
    );
    Ok(())
}

/// Two threads, one per core: on one, the generator was what limited the WebSocket scenarios
/// (each connection's TCP handshake and teardown cost it as much CPU as the server its own),
/// and the machine stood idle a sixth of the time.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_asked_ahead_are_used_earliest_first_and_an_old_one_is_skipped() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        // As the asking tasks hand them back: each task's own tickets, one task after another.
        let tickets = Tickets::in_order(vec![
            (at(2), "two".into()),
            (at(20), "twenty".into()),
            (at(0), "zero".into()),
            (at(5), "five".into()),
        ]);
        let now = at(28);
        assert_eq!(tickets.take(now).as_deref(), Some("two"), "zero is too old");
        assert_eq!(tickets.take(now).as_deref(), Some("five"));
        assert_eq!(tickets.take(now).as_deref(), Some("twenty"));
        assert_eq!(tickets.take(now), None);
        assert_eq!(tickets.stale.load(Ordering::Relaxed), 1);
    }
}
