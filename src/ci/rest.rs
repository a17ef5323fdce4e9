//! The forges' HTTP client: the few JSON REST calls of GitHub's sticky comment and GitLab's
//! merge-request note, one small client for both (release-plz keeps one client under its
//! `GitForge`). What each forge's answers mean (which status is a refusal, what to fix) stays in
//! `github` and `gitlab`; here are the request, the retries, the timeouts, the size limit, the
//! `Link` header, and TLS.
//!
//! HTTP/1.1 through hyper-util's client over hyper-rustls with the ring provider: the crates
//! the AWS SDK's HTTP stack is built from, so the forges add no crate to the build (octocrab,
//! GitHub's client before, brought tower, url and its own retry layer for five calls). The
//! system's root certificates are read only for an `https://` API URL, and only when a
//! comment is written: a plain `http://` URL (a local server, the tests' wiremock) gets no TLS.
//! The token travels in one header, marked sensitive, and is never part of a message.

use std::time::Duration;

use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::aws::transport;
use crate::domain::error::Cause;

/// Connecting, and the whole exchange including the body, per attempt.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A page of 100 comments is far below this; a larger answer is not the forge's.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

type HttpClient = Client<HttpsConnector<transport::ProxyConnector>, Full<Bytes>>;

/// One forge's API: its root URL, the token's header, and the pauses between attempts.
pub(crate) struct Rest {
    /// The API root without a trailing `/` (a path prefix such as `/api/v4` kept).
    api_url: String,
    client: HttpClient,
    auth: (HeaderName, HeaderValue),
    accept: &'static str,
    /// The pause before each repeated attempt: its length is the number of retries.
    retry_delays: &'static [Duration],
    /// `GitHub` or `GitLab`, for the log.
    forge: &'static str,
}

/// A finished exchange, whatever its status: the forge decides what the status means.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as `T`; `Err` is serde's message.
    pub(crate) fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The forge's explanation in an error body (`{"message": …}` or `{"error": …}`), shortened:
    /// both forges answer so, and neither puts the token there.
    pub(crate) fn message(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let m = v.get("message").or_else(|| v.get("error"))?;
        let text = match m {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(text.chars().take(300).collect())
    }

    /// The URL of the `Link` header's `rel="next"`, if any.
    pub(crate) fn next_link(&self) -> Option<&str> {
        let link = self.headers.get("link")?.to_str().ok()?;
        next_link(link.trim())
    }
}

/// Why an HTTP exchange did not finish. `Display` is the one line a message quotes (for a
/// failed send, hyper's top-level error with its causes, which alone says little); the error
/// underneath is the source.
#[derive(Debug, thiserror::Error)]
pub enum Exchange {
    #[error("{0}")]
    Request(#[source] Cause),
    #[error("{}", error_chain(.0.as_ref()))]
    Send(#[source] Cause),
    #[error("reading the answer: {0}")]
    Read(#[source] Cause),
    #[error("no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
}

/// A forge's answer with a status that is not success, as the source of the error that
/// reports it: `403 Resource not accessible by integration`.
#[derive(Debug, thiserror::Error)]
#[error("{status}{}", message.as_deref().map(|m| format!(" {m}")).unwrap_or_default())]
pub struct Refused {
    pub status: u16,
    /// The forge's own words (`message` in its JSON body).
    pub message: Option<String>,
}

impl Refused {
    pub(crate) fn of(reply: &Reply) -> Refused {
        Refused {
            status: reply.status.as_u16(),
            message: reply.message(),
        }
    }
}

impl Rest {
    /// The client for `api_url`, sending `auth` on every request. For an `https://` URL the
    /// system's root certificates are read here; without any, that is an error saying what to
    /// install (`Err` is the message).
    pub(crate) fn new(
        forge: &'static str,
        api_url: &str,
        auth: (HeaderName, HeaderValue),
        accept: &'static str,
        retry_delays: &'static [Duration],
        proxy: &transport::Proxy,
    ) -> Result<Rest, String> {
        let (name, mut value) = auth;
        value.set_sensitive(true);
        Ok(Rest {
            api_url: api_url.trim_end_matches('/').to_owned(),
            client: http_client(api_url, proxy)?,
            auth: (name, value),
            accept,
            retry_delays,
            forge,
        })
    }

    pub(crate) fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Sends `method path` (`path` below the API URL, with its query), repeating what may be
    /// repeated: a 429 for any method; a 502, 503 or 504 and a failed exchange for GET, PUT
    /// and PATCH only (a POST may have created the comment). The last reply is returned
    /// whatever its status; `Err` only when no answer came.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Reply, Exchange> {
        let forge = self.forge;
        let mut attempt = 0;
        loop {
            let result = self.exchange(&method, path, json).await;
            let delay = self.retry_delays.get(attempt).copied();
            match (result, delay) {
                (Ok(reply), Some(delay)) if retryable_status(&method, reply.status) => {
                    tracing::debug!(
                        "{forge} answered {} to {method} {path}; retrying",
                        reply.status
                    );
                    tokio::time::sleep(delay).await;
                }
                (Err(e), Some(delay)) if idempotent(&method) => {
                    tracing::debug!("{method} {path} failed ({e}); retrying");
                    tokio::time::sleep(delay).await;
                }
                (result, _) => {
                    if let Ok(reply) = &result {
                        tracing::debug!("{forge} answered {} to {method} {path}", reply.status);
                    }
                    return result;
                }
            }
            attempt += 1;
        }
    }

    /// One HTTP exchange, within [`REQUEST_TIMEOUT`].
    async fn exchange(
        &self,
        method: &Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Reply, Exchange> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.api_url))
            .header(ACCEPT, self.accept)
            .header(USER_AGENT, concat!("layerpub/", env!("CARGO_PKG_VERSION")))
            .header(&self.auth.0, self.auth.1.clone());
        let body = match json {
            Some(v) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| Exchange::Request(Box::new(e)))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Exchange::Send(Box::new(e)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(Exchange::Read)?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| Exchange::Timeout)?
    }
}

/// GET, PUT and PATCH may be sent again after a dropped connection; a POST may have created
/// the comment.
pub(crate) fn idempotent(method: &Method) -> bool {
    *method == Method::GET || *method == Method::PUT || *method == Method::PATCH
}

/// 429 means the request was not handled, so any method may repeat it; a gateway error only
/// an idempotent one.
pub(crate) fn retryable_status(method: &Method, status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (idempotent(method)
            && matches!(
                status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ))
}

/// The URL of `rel="next"` in a `Link` header (RFC 8288).
pub(crate) fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then_some(url)
    })
}

/// An error and its causes on one line (hyper's top-level message alone says little).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

/// Whether talking to `api_url` needs TLS, and so the system's root certificates: only
/// `https://` does. Every request goes below the API URL (a `Link` elsewhere is refused), so
/// its scheme is every request's.
pub(crate) fn needs_tls(api_url: &str) -> bool {
    api_url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// HTTP/1.1 over rustls (ring). The roots are the system's for an `https://` API URL; for a
/// plain `http://` one the trust store stays empty, nothing is read, and an `https://` request
/// (which cannot happen: see [`needs_tls`]) would fail verification rather than skip it.
fn http_client(api_url: &str, proxy: &transport::Proxy) -> Result<HttpClient, String> {
    proxy.check()?;
    let roots = if needs_tls(api_url) {
        transport::native_roots(api_url)?
    } else {
        rustls::RootCertStore::empty()
    };
    let tcp = transport::ProxyConnector::new(Some(CONNECT_TIMEOUT), proxy);
    let https = transport::https_connector(roots, tcp, true)?;
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_https_api_url_reads_root_certificates() {
        assert!(needs_tls("https://api.github.com"));
        assert!(needs_tls("HTTPS://gitlab.example.com/api/v4"));
        assert!(!needs_tls("http://127.0.0.1:8080"));
        assert!(!needs_tls("http://gitlab.internal/api/v4"));
    }

    #[test]
    fn only_reads_puts_and_patches_are_retried_after_a_gateway_error() {
        assert!(retryable_status(&Method::GET, StatusCode::BAD_GATEWAY));
        assert!(retryable_status(
            &Method::PUT,
            StatusCode::SERVICE_UNAVAILABLE
        ));
        assert!(retryable_status(
            &Method::PATCH,
            StatusCode::GATEWAY_TIMEOUT
        ));
        assert!(!retryable_status(&Method::POST, StatusCode::BAD_GATEWAY));
        assert!(retryable_status(
            &Method::POST,
            StatusCode::TOO_MANY_REQUESTS
        ));
        assert!(!retryable_status(&Method::GET, StatusCode::NOT_FOUND));
    }

    #[test]
    fn link_rel_next_is_found_among_others() {
        assert_eq!(
            next_link("<https://a/x?page=1>; rel=\"prev\", <https://a/x?page=3>; rel=\"next\""),
            Some("https://a/x?page=3")
        );
        assert_eq!(
            next_link("<https://a/x?page=3>; rel=next"),
            Some("https://a/x?page=3")
        );
        assert_eq!(next_link("<https://a/x?page=1>; rel=\"prev\""), None);
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn a_refusal_reads_as_the_status_and_the_forge_s_words() {
        let reply = |body: &'static [u8]| Reply {
            status: StatusCode::FORBIDDEN,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        };
        assert_eq!(
            Refused::of(&reply(
                br#"{"message":"Resource not accessible by integration"}"#
            ))
            .to_string(),
            "403 Resource not accessible by integration"
        );
        assert_eq!(
            reply(br#"{"message":{"note":["is too long"]}}"#)
                .message()
                .as_deref(),
            Some(r#"{"note":["is too long"]}"#)
        );
        assert_eq!(
            reply(br#"{"message":"403 Forbidden"}"#)
                .message()
                .as_deref(),
            Some("403 Forbidden")
        );
        assert_eq!(reply(b"<html>").message(), None);
        assert_eq!(Refused::of(&reply(b"<html>")).to_string(), "403");
    }
}
