//! The SDK's HTTP client: hyper 1 with rustls on ring, whose TLS setup (reading the system's
//! ~300 root certificates, about 4 ms) happens only when a request goes to an `https://` URL.
//!
//! The SDK's own HTTPS client builds its rustls config, certificates included, for the first
//! request whatever its scheme: a run against a plain `http://` endpoint (moto, LocalStack, a
//! proxy on localhost) paid for TLS it never used. Here each request picks its connector by
//! its URL's scheme: `http://` goes through a connector without TLS, `https://` through the
//! SDK's HTTPS one, created (and its certificates loaded) on the first such request. Both are
//! the SDK's own connectors, so timeouts, pooling and certificate verification are the SDK's;
//! nothing here turns verification off. Credential providers (web identity's STS, SSO,
//! container and instance metadata) share this client, so an `https://` call among them still
//! gets TLS even when the service endpoint is `http://`.

use aws_sdk_s3::config::http::HttpRequest;
use aws_sdk_s3::config::{HttpClient, SharedHttpClient};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Whether a request to `uri` needs TLS: anything but a plain `http://` URL. Unknown or
/// missing schemes go to the HTTPS connector, which verifies or refuses them.
pub(crate) fn needs_tls(uri: &str) -> bool {
    !uri.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// The client the SDK is given ([`super::clients`]).
pub(crate) fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(BySchemeClient {
        plain: aws_smithy_http_client::Builder::new().build_http(),
        https: aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https(),
    })
}

/// Two SDK clients, one per scheme. Each caches its connectors per settings; the HTTPS one
/// creates its connector (and its TLS config) only when [`ByScheme::call`] first needs it.
#[derive(Debug)]
struct BySchemeClient {
    plain: SharedHttpClient,
    https: SharedHttpClient,
}

impl HttpClient for BySchemeClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ByScheme {
            plain: self.plain.http_connector(settings, components),
            https: self.https.clone(),
            settings: settings.clone(),
            components: components.clone(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.https.connector_metadata()
    }
}

/// One request's connector: the plain one at hand, the HTTPS one asked for when needed.
#[derive(Debug)]
struct ByScheme {
    plain: SharedHttpConnector,
    https: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

impl HttpConnector for ByScheme {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if needs_tls(request.uri()) {
            self.https
                .http_connector(&self.settings, &self.components)
                .call(request)
        } else {
            self.plain.call(request)
        }
    }
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
        // Not http: the HTTPS connector verifies it or refuses it; never a plain connection.
        assert!(needs_tls("httpx://example.com/"));
        assert!(needs_tls("http:/x"));
        assert!(needs_tls(""));
    }
}
