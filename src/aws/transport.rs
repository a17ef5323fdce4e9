//! The SDK's HTTP client: hyper-util's pooled HTTP/1.1 client, the one `ci::rest` talks to
//! GitHub and GitLab with, over rustls on ring. TLS is set up (the system's ~300 root
//! certificates read, about 4 ms) only when a request goes to an `https://` URL.
//!
//! The SDK's own client (aws-smithy-http-client) was this plus HTTP/2 (h2), which no AWS call
//! here uses, and its own copy of the connector stack: 310 KiB of the binary
//! (docs/benchmarks.md, "Binary size"). What it did for the SDK is done here the same way:
//! the connect timeout and read timeout (time to the response's head) of the connector
//! settings the SDK asks for, and transport errors sorted into the kinds its retry strategy
//! reads (timeout, I/O: retried; a response cut short: transient, retried; the rest: not).
//! Credential providers (web identity's STS, SSO, container and instance metadata) share this
//! client, so an `https://` call among them gets TLS even when the service endpoint is
//! `http://`. `https://` calls go through the proxy of `HTTPS_PROXY` (a CONNECT tunnel, so
//! TLS is still end to end and verified), except to hosts in `NO_PROXY` ([`Proxy`]).

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::config::http::{HttpRequest, HttpResponse};
use aws_sdk_s3::config::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::config::env::Env;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The proxy for `https://` calls: `HTTPS_PROXY` (or `https_proxy`), with the hosts of
/// `NO_PROXY` (or `no_proxy`) reached directly. Plain `http://` calls (an emulator) always go
/// directly.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Proxy {
    https: Option<String>,
    no: Option<String>,
}

impl std::fmt::Debug for Proxy {
    /// Never the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("https", &self.https.is_some())
            .field("no", &self.no)
            .finish()
    }
}

impl Proxy {
    pub fn from_env(env: &Env) -> Proxy {
        let first = |names: [&str; 2]| names.iter().find_map(|n| env.get(n)).map(str::to_owned);
        Proxy {
            https: first(["HTTPS_PROXY", "https_proxy"]),
            no: first(["NO_PROXY", "no_proxy"]),
        }
    }

    /// The proxy URL must be `http://host[:port]` (user and password allowed); an error names
    /// the variable, never its value.
    pub fn check(&self) -> Result<(), String> {
        let Some(url) = &self.https else {
            return Ok(());
        };
        let ok = url
            .parse::<http::Uri>()
            .is_ok_and(|u| u.scheme_str() == Some("http") && u.host().is_some());
        if ok {
            Ok(())
        } else {
            Err(
                "HTTPS_PROXY: not an http://host:port URL (a proxy reached over plain HTTP, \
                 as most are); fix it or unset it"
                    .to_owned(),
            )
        }
    }

    fn matcher(&self) -> Matcher {
        let mut b = Matcher::builder();
        if let Some(https) = &self.https {
            b = b.https(https.clone());
        }
        if let Some(no) = &self.no {
            b = b.no(no.clone());
        }
        b.build()
    }
}

/// Connects directly, or through the proxy's CONNECT tunnel for an `https://` destination the
/// proxy settings send there. Either way the result is a TCP stream TLS then runs over.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    tcp: TcpConnector,
    proxies: Arc<Matcher>,
    /// Also the bound on the proxy's answer to CONNECT: a proxy that accepts the connection
    /// and never answers must fail like an endpoint that cannot be reached, not wait for the
    /// read timeout.
    connect_timeout: Option<Duration>,
}

impl ProxyConnector {
    pub(crate) fn new(connect_timeout: Option<Duration>, proxy: &Proxy) -> ProxyConnector {
        ProxyConnector {
            tcp: tcp_connector(connect_timeout),
            proxies: Arc::new(proxy.matcher()),
            connect_timeout,
        }
    }
}

impl Service<http::Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let through = (dst.scheme_str() == Some("https"))
            .then(|| self.proxies.intercept(&dst))
            .flatten();
        match through {
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.tcp.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let limit = self.connect_timeout;
                Box::pin(async move {
                    let opened = tunnel.call(dst);
                    let opened = match limit {
                        Some(t) => tokio::time::timeout(t, opened).await.map_err(|_| {
                            BoxError::from(format!("the proxy opened no tunnel within {t:?}"))
                        })?,
                        None => opened.await,
                    };
                    opened.map_err(BoxError::from)
                })
            }
            None => {
                let mut tcp = self.tcp.clone();
                Box::pin(async move { tcp.call(dst).await.map_err(BoxError::from) })
            }
        }
    }
}

/// Whether a request to `uri` needs TLS: anything but a plain `http://` URL. Unknown or
/// missing schemes go to the HTTPS client, which verifies or refuses them.
pub(crate) fn needs_tls(uri: &str) -> bool {
    !uri.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// The system's root certificates, for verifying `what`; an error says how to get some.
pub(crate) fn native_roots(what: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(format!(
            "no root certificates found on this machine to verify {what}; install the \
             ca-certificates package or set SSL_CERT_FILE"
        ));
    }
    Ok(roots)
}

/// HTTP/1.1 over rustls on ring, verifying against `roots`. With `plain_too`, plain
/// `http://` URLs pass through without TLS; without, they are refused.
pub(crate) fn https_connector(
    roots: rustls::RootCertStore,
    tcp: ProxyConnector,
    plain_too: bool,
) -> Result<HttpsConnector<ProxyConnector>, String> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup failed: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let builder = if plain_too {
        builder.https_or_http()
    } else {
        builder.https_only()
    };
    Ok(builder.enable_http1().wrap_connector(tcp))
}

/// A TCP connector giving up on a connection after `timeout`.
fn tcp_connector(timeout: Option<Duration>) -> TcpConnector {
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(timeout);
    tcp
}

/// `scheme://host[:port]` of a URL, without its path or any `user:password@`: what a
/// certificate verifies, and what an error about it names.
fn origin(uri: &str) -> String {
    let start = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[start..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |i| start + i);
    let host = uri[start..end]
        .rfind('@')
        .map_or(start, |at| start + at + 1);
    format!("{}{}", &uri[..start], &uri[host..end])
}

/// The client the SDK is given ([`super::clients`]; the tests build their own clients with it).
pub fn http_client(proxy: Proxy) -> SharedHttpClient {
    SharedHttpClient::new(Transport {
        proxy,
        pools: Mutex::default(),
    })
}

type PlainClient = Client<TcpConnector, SdkBody>;
type TlsClient = Client<HttpsConnector<ProxyConnector>, SdkBody>;

/// One pooled client per connect timeout the SDK asks for (the services' 10 s, the instance
/// metadata's 1 s), each with its TLS side made on first use.
#[derive(Debug)]
struct Transport {
    proxy: Proxy,
    pools: Mutex<Vec<(Option<Duration>, Arc<Pools>)>>,
}

struct Pools {
    connect_timeout: Option<Duration>,
    proxy: Proxy,
    plain: PlainClient,
    tls: OnceLock<Result<TlsClient, String>>,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools")
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Pools {
    fn new(connect_timeout: Option<Duration>, proxy: Proxy) -> Pools {
        Pools {
            connect_timeout,
            proxy,
            plain: Client::builder(TokioExecutor::new()).build(tcp_connector(connect_timeout)),
            tls: OnceLock::new(),
        }
    }

    fn tls(&self, uri: &str) -> Result<TlsClient, String> {
        self.tls
            .get_or_init(|| {
                let roots = native_roots(&origin(uri))?;
                let tcp = ProxyConnector::new(self.connect_timeout, &self.proxy);
                let https = https_connector(roots, tcp, false)?;
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .clone()
    }
}

impl HttpClient for Transport {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeout = settings.connect_timeout();
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let found = pools
            .iter()
            .find(|(t, _)| *t == timeout)
            .map(|(_, p)| p.clone());
        let pools = found.unwrap_or_else(|| {
            let made = Arc::new(Pools::new(timeout, self.proxy.clone()));
            pools.push((timeout, made.clone()));
            made
        });
        SharedHttpConnector::new(Connector {
            pools,
            read_timeout: settings.read_timeout(),
        })
    }
}

/// The connector for one set of settings.
#[derive(Debug)]
struct Connector {
    pools: Arc<Pools>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let tls = needs_tls(request.uri());
        let client = if tls {
            match self.pools.tls(request.uri()) {
                Ok(c) => Some(c),
                Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
            }
        } else {
            None
        };
        let request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let sent = match client {
            Some(c) => c.request(request),
            None => self.pools.plain.request(request),
        };
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answer = match read_timeout {
                Some(t) => match tokio::time::timeout(t, sent).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        return Err(ConnectorError::timeout(
                            format!("no response within the read timeout of {t:?}").into(),
                        ));
                    }
                },
                None => sent.await,
            };
            match answer {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(connector_error(e)),
            }
        })
    }
}

/// The kind of a transport error, as the SDK's retry strategy reads it: a connection that
/// could not be made, was closed or failed with an I/O error is I/O (retried); a response cut
/// short is transient (retried, as S3 sometimes does it); a timeout is a timeout; a request
/// hyper refused is the caller's; anything else is not retried.
fn connector_error(e: hyper_util::client::legacy::Error) -> ConnectorError {
    let kind = if e.is_connect() {
        Kind::Io
    } else {
        match source::<hyper::Error>(&e) {
            Some(h) if h.is_timeout() => Kind::Timeout,
            Some(h) if h.is_user() => Kind::User,
            Some(h) if h.is_incomplete_message() => Kind::Transient,
            Some(h) if h.is_closed() || h.is_canceled() => Kind::Io,
            _ if source::<std::io::Error>(&e).is_some() => Kind::Io,
            _ => Kind::Other,
        }
    };
    let e = e.into();
    match kind {
        Kind::Io => ConnectorError::io(e),
        Kind::Timeout => ConnectorError::timeout(e),
        Kind::User => ConnectorError::user(e),
        Kind::Transient => ConnectorError::other(e, Some(ErrorKind::TransientError)),
        Kind::Other => ConnectorError::other(e, None),
    }
}

enum Kind {
    Io,
    Timeout,
    User,
    Transient,
    Other,
}

/// The first error of type `E` in `e`'s chain of sources, `e` included.
fn source<'a, E: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_skip_tls() {
        assert!(!needs_tls("http://127.0.0.1:5000/2018-10-31/layers"));
        assert!(!needs_tls("HTTP://localhost:4566/"));
        assert!(needs_tls("https://lambda.us-east-1.amazonaws.com/"));
        assert!(needs_tls("https://sts.amazonaws.com/"));
        // Not http: the HTTPS client verifies it or refuses it; never a plain connection.
        assert!(needs_tls("httpx://example.com/"));
        assert!(needs_tls("http:/x"));
        assert!(needs_tls(""));
    }

    #[test]
    fn an_origin_has_no_path_and_no_credentials() {
        assert_eq!(
            origin("https://lambda.us-east-1.amazonaws.com/2018-10-31/layers?x=1"),
            "https://lambda.us-east-1.amazonaws.com"
        );
        assert_eq!(origin("https://127.0.0.1:4566"), "https://127.0.0.1:4566");
        assert_eq!(origin("https://user:secret@host:1/p"), "https://host:1");
        assert_eq!(origin("weird"), "weird");
    }

    /// A proxy that takes the connection and never answers CONNECT fails the connection within
    /// the connect timeout (an I/O error, retried), instead of waiting for the read timeout.
    #[tokio::test]
    async fn a_silent_proxy_fails_within_the_connect_timeout() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            https: Some(format!("http://{}", silent.local_addr().unwrap())),
            no: None,
        };
        let mut c = ProxyConnector::new(Some(Duration::from_millis(300)), &proxy);
        let started = std::time::Instant::now();
        let dst: http::Uri = "https://lambda.us-east-1.amazonaws.com/".parse().unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), c.call(dst))
            .await
            .expect("the connector gave up on its own")
            .expect_err("no tunnel");
        assert!(err.to_string().contains("opened no tunnel"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(silent);
    }

    #[test]
    fn the_proxy_is_never_shown_and_must_be_an_http_url() {
        let secret = Proxy {
            https: Some("http://u:pa55@proxy:3128".into()),
            no: Some("localhost".into()),
        };
        assert!(secret.check().is_ok());
        assert!(!format!("{secret:?}").contains("pa55"));
        for bad in [
            "socks5://proxy:1080",
            "proxy:3128",
            "http:///x",
            "https://proxy:3128",
        ] {
            let p = Proxy {
                https: Some(bad.into()),
                no: None,
            };
            let e = p.check().unwrap_err();
            assert!(e.starts_with("HTTPS_PROXY: "), "{bad}: {e}");
            assert!(!e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn an_error_is_found_among_the_sources() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let outer = std::io::Error::other(io);
        assert!(source::<std::io::Error>(&outer).is_some());
        assert!(source::<std::fmt::Error>(&outer).is_none());
    }
}
