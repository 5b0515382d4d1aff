//! Credentials: turning a resolved configuration into `Authorization` headers.
//!
//! A personal access token is sent as it is. OAuth machine-to-machine credentials
//! are exchanged for short-lived access tokens at the workspace's token endpoint,
//! which is found through OAuth authorization-server discovery; the token is cached
//! and refreshed before it expires.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use url::Url;

use crate::Secret;
use crate::config::{ConfigError, ResolvedConfig, ResolvedCredentials, check_scheme};
use crate::error::describe_reqwest;

/// The kind of credentials a client presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthType {
    /// A personal access token (`pat`).
    Pat,
    /// OAuth machine-to-machine: a service principal's client id and secret (`oauth-m2m`).
    OAuthM2m,
}

impl AuthType {
    /// The name used in `DATABRICKS_AUTH_TYPE` and the profile key `auth_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Pat => "pat",
            AuthType::OAuthM2m => "oauth-m2m",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthType {
    type Err = ConfigError;

    /// Parse `pat` or `oauth-m2m`, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        [AuthType::Pat, AuthType::OAuthM2m].into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            ConfigError::new(format!(
                "unknown auth type {s:?}; this client supports pat (personal access token) and oauth-m2m \
                 (OAuth service principal)"
            ))
        })
    }
}

/// The path, below the host, of the OAuth authorization-server metadata.
const DISCOVERY_PATH: &str = "oidc/.well-known/oauth-authorization-server";
/// The token endpoint of a workspace, used when discovery answers 404.
const FALLBACK_TOKEN_PATH: &str = "oidc/v1/token";
/// The scope requested for every token.
const SCOPE: &str = "all-apis";
/// The lifetime assumed for a token whose response gives none.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// What a client sends to prove who it is.
pub(crate) struct Credentials {
    kind: Kind,
}

enum Kind {
    /// The ready `Bearer` header of a personal access token.
    Pat(HeaderValue),
    M2m(Box<M2m>),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Pat(_) => f.debug_struct("Credentials").field("auth_type", &AuthType::Pat).finish_non_exhaustive(),
            Kind::M2m(m2m) => f
                .debug_struct("Credentials")
                .field("auth_type", &AuthType::OAuthM2m)
                .field("client_id", &m2m.client_id)
                .field("client_secret", &m2m.client_secret)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// Prepare the credentials of a resolved configuration. Nothing is sent yet:
    /// an OAuth token is first fetched by the first call that needs one.
    pub(crate) fn new(resolved: &ResolvedConfig, http: reqwest::Client) -> Result<Self, crate::Error> {
        let kind = match &resolved.credentials {
            ResolvedCredentials::Pat { token } => Kind::Pat(bearer(token.expose()).ok_or_else(|| {
                ConfigError::new(
                    "the personal access token contains characters that cannot be sent in an HTTP header; \
                     check DATABRICKS_TOKEN (or `token` in the profile) for stray quotes or line breaks",
                )
            })?),
            ResolvedCredentials::OAuthM2m { client_id, client_secret } => Kind::M2m(Box::new(M2m {
                host: resolved.host.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                http,
                state: tokio::sync::Mutex::new(TokenState::default()),
            })),
        };
        Ok(Self { kind })
    }

    pub(crate) fn auth_type(&self) -> AuthType {
        match self.kind {
            Kind::Pat(_) => AuthType::Pat,
            Kind::M2m(_) => AuthType::OAuthM2m,
        }
    }

    /// The `Authorization` header for the next request, marked sensitive.
    ///
    /// The error is a message for the user; it never contains a credential.
    pub(crate) async fn authorization(&self) -> Result<HeaderValue, String> {
        match &self.kind {
            Kind::Pat(header) => Ok(header.clone()),
            Kind::M2m(m2m) => m2m.authorization().await,
        }
    }
}

/// `Bearer <token>`, marked sensitive; `None` when the token cannot be a header value.
fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// OAuth machine-to-machine credentials and their cached access token.
struct M2m {
    host: Url,
    client_id: String,
    client_secret: Secret,
    http: reqwest::Client,
    /// Held across a refresh, so that concurrent callers wait for one fetch.
    state: tokio::sync::Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    /// Found by discovery on first use.
    token_endpoint: Option<Url>,
    current: Option<CachedToken>,
}

struct CachedToken {
    header: HeaderValue,
    /// From here on the next caller fetches a new token.
    refresh_at: Instant,
    /// After this the token is not sent any more.
    expires_at: Instant,
}

/// How long before its expiry a token is replaced: the larger of 60 seconds and a
/// tenth of its lifetime, but never more than half its lifetime, so that a
/// short-lived token is still used for the first half of its life. A one-hour token
/// is used for 54 minutes, a ten-minute token for 9, a one-second token for half a second.
fn refresh_margin(lifetime: Duration) -> Duration {
    Duration::from_secs(60).max(lifetime / 10).min(lifetime / 2)
}

impl M2m {
    /// The cached token while it is fresh (see [`refresh_margin`]); otherwise a new one.
    /// If fetching fails while the cached token has not yet expired, the cached token
    /// is used and the next caller tries again.
    async fn authorization(&self) -> Result<HeaderValue, String> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.current
            && Instant::now() < token.refresh_at
        {
            return Ok(token.header.clone());
        }
        match self.refresh(&mut state).await {
            Ok(header) => Ok(header),
            Err(message) => match &state.current {
                Some(token) if Instant::now() < token.expires_at => {
                    tracing::warn!(
                        "could not refresh the OAuth token, using the current one until it expires: {message}"
                    );
                    Ok(token.header.clone())
                }
                _ => Err(message),
            },
        }
    }

    async fn refresh(&self, state: &mut TokenState) -> Result<HeaderValue, String> {
        let endpoint = match &state.token_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => {
                let endpoint = self.discover().await?;
                state.token_endpoint = Some(endpoint.clone());
                endpoint
            }
        };
        let requested = Instant::now();
        let (header, lifetime) = self.request_token(&endpoint).await?;
        let lifetime = lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let expires_at = requested + lifetime;
        state.current =
            Some(CachedToken { header: header.clone(), refresh_at: expires_at - refresh_margin(lifetime), expires_at });
        tracing::debug!(?lifetime, "fetched an OAuth access token");
        Ok(header)
    }

    /// Find the token endpoint in the workspace's authorization-server metadata,
    /// falling back to the usual workspace endpoint when there is none (404).
    async fn discover(&self) -> Result<Url, String> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            token_endpoint: Option<String>,
        }
        let url = self.host.join(DISCOVERY_PATH).map_err(|e| format!("cannot build the OAuth discovery URL: {e}"))?;
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("OAuth discovery at {url} failed: {}", describe_reqwest(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return self.host.join(FALLBACK_TOKEN_PATH).map_err(|e| format!("cannot build the OAuth token URL: {e}"));
        }
        if !status.is_success() {
            return Err(format!("OAuth discovery at {url} answered HTTP {status}"));
        }
        let metadata: Metadata = response.json().await.map_err(|e| {
            format!("OAuth discovery at {url} answered with unreadable metadata: {}", describe_reqwest(&e))
        })?;
        let endpoint =
            metadata.token_endpoint.ok_or_else(|| format!("the OAuth metadata at {url} has no token_endpoint"))?;
        let endpoint = Url::parse(&endpoint)
            .map_err(|e| format!("the OAuth metadata at {url} has an invalid token_endpoint {endpoint:?}: {e}"))?;
        check_scheme(&endpoint).map_err(|e| format!("the OAuth token endpoint {endpoint} {e}"))?;
        Ok(endpoint)
    }

    /// Ask the token endpoint for an access token with the client-credentials grant,
    /// authenticating with HTTP Basic. Returns the `Bearer` header and the lifetime.
    async fn request_token(&self, endpoint: &Url) -> Result<(HeaderValue, Option<Duration>), String> {
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_string()))
            .set_auth_type(oauth2::AuthType::BasicAuth)
            .set_token_uri(TokenUrl::from_url(endpoint.clone()));

        // oauth2 builds the request and reads the answer; reqwest carries it. The
        // status is noted on the side because oauth2's errors do not keep it. The
        // adapter owns what it uses, so its futures borrow nothing.
        let status = Arc::new(AtomicU16::new(0));
        let send = {
            let http = self.http.clone();
            let status = Arc::clone(&status);
            move |request: oauth2::HttpRequest| {
                let http = http.clone();
                let status = Arc::clone(&status);
                async move {
                    let (mut parts, body) = request.into_parts();
                    if let Some(value) = parts.headers.get_mut(AUTHORIZATION) {
                        value.set_sensitive(true);
                    }
                    let request = reqwest::Request::try_from(oauth2::HttpRequest::from_parts(parts, body))?;
                    let response = http.execute(request).await?;
                    status.store(response.status().as_u16(), Ordering::Relaxed);
                    let mut answer = oauth2::HttpResponse::new(Vec::new());
                    *answer.status_mut() = response.status();
                    *answer.headers_mut() = response.headers().clone();
                    *answer.body_mut() = response.bytes().await?.to_vec();
                    Ok::<_, reqwest::Error>(answer)
                }
            }
        };
        let result =
            client.exchange_client_credentials().add_scope(Scope::new(SCOPE.to_string())).request_async(&send).await;
        let status = match status.load(Ordering::Relaxed) {
            0 => String::new(),
            code => format!(" HTTP {code}"),
        };
        let token = result.map_err(|e| token_error(endpoint, &status, e))?;
        let header = bearer(token.access_token().secret()).ok_or_else(|| {
            format!(
                "the OAuth token endpoint {endpoint} returned an access token that cannot be sent in an HTTP header"
            )
        })?;
        Ok((header, token.expires_in()))
    }
}

/// Describe a failed token request from the endpoint's status and its OAuth
/// `error`/`error_description`. Response bodies are never quoted: a successful
/// one holds a token.
fn token_error(endpoint: &Url, status: &str, error: RequestTokenError<reqwest::Error, BasicErrorResponse>) -> String {
    let prefix = format!("the OAuth token endpoint {endpoint} answered{status}");
    match error {
        RequestTokenError::ServerResponse(response) => {
            let mut text = format!("{prefix}: {}", response.error());
            if let Some(description) = response.error_description().filter(|d| !d.is_empty()) {
                text.push_str(&format!(" ({description})"));
            }
            text.push_str("; check the client id and secret (DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET)");
            text
        }
        RequestTokenError::Request(e) => {
            format!("could not reach the OAuth token endpoint {endpoint}: {}", describe_reqwest(&e))
        }
        RequestTokenError::Parse(e, _body) => {
            format!("{prefix} with a body that is not a valid OAuth token response (at `{}`)", e.path())
        }
        RequestTokenError::Other(message) => format!("{prefix}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use base64::Engine as _;
    use serde_json::json;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const CLIENT_ID: &str = "sp-client-id";
    const SECRET: &str = "dose-client-secret-never-shown";
    const TOKEN: &str = "dapi-personal-token-never-shown";

    fn m2m_credentials(host: &str) -> Credentials {
        let resolved =
            Config::new().with_host(host).with_client_id(CLIENT_ID).with_client_secret(SECRET).resolve().unwrap();
        Credentials::new(&resolved, reqwest::Client::new()).unwrap()
    }

    fn token_body(token: &str, expires_in: u64) -> serde_json::Value {
        json!({ "access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "all-apis" })
    }

    async fn discovery(server: &MockServer) {
        Mock::given(method("GET"))
            .and(path("/oidc/.well-known/oauth-authorization-server"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": format!("{}/oidc", server.uri()),
                "token_endpoint": format!("{}/oidc/v1/token", server.uri()),
            })))
            .expect(1)
            .mount(server)
            .await;
    }

    #[test]
    fn auth_type_names() {
        assert_eq!(AuthType::Pat.to_string(), "pat");
        assert_eq!(AuthType::OAuthM2m.to_string(), "oauth-m2m");
        assert_eq!(" OAuth-M2M ".parse::<AuthType>().unwrap(), AuthType::OAuthM2m);
        assert_eq!("pat".parse::<AuthType>().unwrap(), AuthType::Pat);
        assert!("basic".parse::<AuthType>().unwrap_err().to_string().contains("\"basic\""));
    }

    #[test]
    fn credentials_and_their_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let resolved = Config::new().with_host("h.cloud.databricks.com").with_token(TOKEN).resolve().unwrap();
        let credentials = Credentials::new(&resolved, reqwest::Client::new()).unwrap();
        send_sync(&credentials);
        send(credentials.authorization());
    }

    #[tokio::test]
    async fn a_personal_access_token_is_sent_as_a_sensitive_bearer_header() {
        let resolved = Config::new().with_host("h.cloud.databricks.com").with_token(TOKEN).resolve().unwrap();
        let credentials = Credentials::new(&resolved, reqwest::Client::new()).unwrap();
        assert_eq!(credentials.auth_type(), AuthType::Pat);
        let value = credentials.authorization().await.unwrap();
        assert_eq!(value.to_str().unwrap(), format!("Bearer {TOKEN}"));
        assert!(value.is_sensitive());
        assert!(!format!("{credentials:?}").contains(TOKEN));

        let resolved = Config::new().with_host("h.cloud.databricks.com").with_token("bad\ntoken").resolve().unwrap();
        let err = Credentials::new(&resolved, reqwest::Client::new()).unwrap_err().to_string();
        assert!(err.contains("DATABRICKS_TOKEN") && !err.contains("bad"), "{err}");
    }

    #[tokio::test]
    async fn m2m_discovers_the_endpoint_and_sends_basic_auth_and_the_form() {
        let server = MockServer::start().await;
        discovery(&server).await;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .and(header("authorization", format!("Basic {basic}").as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string("grant_type=client_credentials&scope=all-apis"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("access-1", 3600)))
            .expect(1)
            .mount(&server)
            .await;

        let credentials = m2m_credentials(&server.uri());
        assert_eq!(credentials.auth_type(), AuthType::OAuthM2m);
        let value = credentials.authorization().await.unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer access-1");
        assert!(value.is_sensitive());
        let debug = format!("{credentials:?}");
        assert!(debug.contains(CLIENT_ID) && !debug.contains(SECRET) && !debug.contains("access-1"), "{debug}");
    }

    #[tokio::test]
    async fn m2m_caches_the_token_and_concurrent_callers_share_one_fetch() {
        let server = MockServer::start().await;
        discovery(&server).await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(token_body("access-1", 3600))
                    .set_delay(Duration::from_millis(100)),
            )
            .expect(1)
            .mount(&server)
            .await;

        let credentials = m2m_credentials(&server.uri());
        let (a, b, c) =
            tokio::join!(credentials.authorization(), credentials.authorization(), credentials.authorization());
        for value in [a, b, c] {
            assert_eq!(value.unwrap().to_str().unwrap(), "Bearer access-1");
        }
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-1");
    }

    #[tokio::test]
    async fn m2m_refreshes_an_expired_token_and_falls_back_to_the_standard_endpoint() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/oidc/.well-known/oauth-authorization-server"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("access-1", 1)))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("access-2", 3600)))
            .expect(1)
            .mount(&server)
            .await;

        let credentials = m2m_credentials(&server.uri());
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-1");
        // Fresh for the first half of its one-second life.
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-1");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-2");
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-2");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_using_an_unexpired_token() {
        let server = MockServer::start().await;
        discovery(&server).await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("access-1", 2)))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;

        let credentials = m2m_credentials(&server.uri());
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-1");
        // Past the refresh point (1 s), before expiry (2 s): the refresh fails, the old token serves.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(credentials.authorization().await.unwrap().to_str().unwrap(), "Bearer access-1");
        // After expiry the failure shows.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let err = credentials.authorization().await.unwrap_err();
        assert!(err.contains("HTTP 503"), "{err}");
    }

    #[tokio::test]
    async fn a_refused_client_gives_the_status_and_oauth_error_without_the_secret() {
        let server = MockServer::start().await;
        discovery(&server).await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": "Client authentication failed",
            })))
            .expect(2)
            .mount(&server)
            .await;

        let credentials = m2m_credentials(&server.uri());
        let err = credentials.authorization().await.unwrap_err();
        assert!(err.contains("HTTP 401"), "{err}");
        assert!(err.contains("invalid_client") && err.contains("Client authentication failed"), "{err}");
        assert!(err.contains("/oidc/v1/token"), "{err}");
        assert!(!err.contains(SECRET), "{err}");
        // Failures are not cached: the next call asks again (discovery is kept).
        assert!(credentials.authorization().await.is_err());
    }

    #[tokio::test]
    async fn unreadable_token_responses_never_quote_the_body() {
        let server = MockServer::start().await;
        discovery(&server).await;
        Mock::given(method("POST"))
            .and(path("/oidc/v1/token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "access_token": "leaky-token", "token_type": 7 })),
            )
            .mount(&server)
            .await;
        let err = m2m_credentials(&server.uri()).authorization().await.unwrap_err();
        assert!(err.contains("HTTP 200") && err.contains("token_type"), "{err}");
        assert!(!err.contains("leaky-token"), "{err}");
    }

    #[tokio::test]
    async fn a_discovered_plain_http_token_endpoint_on_another_host_is_refused() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/oidc/.well-known/oauth-authorization-server"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "token_endpoint": "http://login.example.com/token" })),
            )
            .mount(&server)
            .await;
        let err = m2m_credentials(&server.uri()).authorization().await.unwrap_err();
        assert!(err.contains("http://login.example.com/token") && err.contains("use https://"), "{err}");

        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/oidc/.well-known/oauth-authorization-server"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let err = m2m_credentials(&server.uri()).authorization().await.unwrap_err();
        assert!(err.contains("OAuth discovery") && err.contains("500"), "{err}");
    }
}
