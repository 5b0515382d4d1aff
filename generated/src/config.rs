//! Where the client finds its workspace and credentials.
//!
//! Values come from three places, in falling order of precedence:
//!
//! 1. what the caller set on [`Config`] (its fields or `with_*` methods);
//! 2. the `DATABRICKS_*` environment variables, read by [`Config::from_env`];
//! 3. one profile of an INI file, `~/.databrickscfg` unless `DATABRICKS_CONFIG_FILE`
//!    names another, read when the config is resolved.
//!
//! A later source only fills what an earlier one left unset. Calling a `with_*`
//! method after [`Config::from_env`] therefore overrides the environment, and the
//! profile file never overrides either.

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::{Host, Url};

use crate::{AuthType, RetryPolicy, Secret};

const ENV_HOST: &str = "DATABRICKS_HOST";
const ENV_TOKEN: &str = "DATABRICKS_TOKEN";
const ENV_CLIENT_ID: &str = "DATABRICKS_CLIENT_ID";
const ENV_CLIENT_SECRET: &str = "DATABRICKS_CLIENT_SECRET";
const ENV_PROFILE: &str = "DATABRICKS_CONFIG_PROFILE";
const ENV_CONFIG_FILE: &str = "DATABRICKS_CONFIG_FILE";
const ENV_AUTH_TYPE: &str = "DATABRICKS_AUTH_TYPE";
const ENV_WAREHOUSE_ID: &str = "DATABRICKS_WAREHOUSE_ID";
const ENV_CLUSTER_ID: &str = "DATABRICKS_CLUSTER_ID";

/// The profile used when none is requested and the file names no default.
const DEFAULT_PROFILE: &str = "DEFAULT";
/// The reserved section whose `default_profile` key names the default profile.
const SETTINGS_SECTION: &str = "__settings__";
/// The file name looked for in the home directory.
const DEFAULT_FILE_NAME: &str = ".databrickscfg";

/// How the client reaches a Databricks workspace and proves who it is.
///
/// Build one with [`Config::from_env`] (the usual way), or with [`Config::new`] and
/// the `with_*` methods. Nothing is checked until the config is used to build a
/// [`Client`](crate::Client); that is when the profile file is read and the host
/// and credentials are validated.
///
/// Secrets are held as [`Secret`]s, so `{:?}` on a `Config` shows `***` in their place.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The workspace URL, such as `https://dbc-1234abcd-5678.cloud.databricks.com`.
    /// `https://` is assumed when no scheme is given; any path is dropped.
    /// Env: `DATABRICKS_HOST`; profile key `host`.
    pub host: Option<String>,
    /// A personal access token. Env: `DATABRICKS_TOKEN`; profile key `token`.
    pub token: Option<Secret>,
    /// An OAuth service principal's client (application) id, for machine-to-machine
    /// auth. Env: `DATABRICKS_CLIENT_ID`; profile key `client_id`.
    pub client_id: Option<String>,
    /// The OAuth client secret belonging to `client_id`.
    /// Env: `DATABRICKS_CLIENT_SECRET`; profile key `client_secret`.
    pub client_secret: Option<Secret>,
    /// The profile to read from the config file. Requesting a profile the file does
    /// not have is an error. Env: `DATABRICKS_CONFIG_PROFILE`.
    pub profile: Option<String>,
    /// The profile file; `~/.databrickscfg` when unset. Env: `DATABRICKS_CONFIG_FILE`.
    pub config_file: Option<PathBuf>,
    /// Which credentials to use when more than one kind is configured.
    /// Env: `DATABRICKS_AUTH_TYPE` (`pat` or `oauth-m2m`); profile key `auth_type`.
    pub auth_type: Option<AuthType>,
    /// A default SQL warehouse. Env: `DATABRICKS_WAREHOUSE_ID`; profile key `warehouse_id`.
    pub warehouse_id: Option<String>,
    /// A default cluster. Env: `DATABRICKS_CLUSTER_ID`; profile key `cluster_id`.
    pub cluster_id: Option<String>,
    /// Timeout of one HTTP request. Default 60 seconds.
    pub http_timeout: Duration,
    /// Overall deadline of one call, retries included. Default 5 minutes.
    pub retry_timeout: Duration,
    /// One step of retry backoff. Default 1 second; tests shrink it.
    pub retry_backoff_unit: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        Self {
            host: None,
            token: None,
            client_id: None,
            client_secret: None,
            profile: None,
            config_file: None,
            auth_type: None,
            warehouse_id: None,
            cluster_id: None,
            http_timeout: Duration::from_secs(60),
            retry_timeout: retry.timeout,
            retry_backoff_unit: retry.backoff_unit,
        }
    }
}

impl Config {
    /// An empty configuration with default timeouts. It reads no environment
    /// variables; the profile file is still consulted when the config is resolved
    /// unless a host and credentials are set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A configuration filled from the `DATABRICKS_*` environment variables:
    /// `DATABRICKS_HOST`, `DATABRICKS_TOKEN`, `DATABRICKS_CLIENT_ID`,
    /// `DATABRICKS_CLIENT_SECRET`, `DATABRICKS_CONFIG_PROFILE`, `DATABRICKS_CONFIG_FILE`,
    /// `DATABRICKS_AUTH_TYPE`, `DATABRICKS_WAREHOUSE_ID` and `DATABRICKS_CLUSTER_ID`.
    /// Empty variables count as unset.
    ///
    /// Fails only when `DATABRICKS_AUTH_TYPE` names an auth type this client does not know.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_map(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup` instead of the
    /// process environment.
    pub fn from_env_map(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let auth_type = match get(ENV_AUTH_TYPE) {
            Some(value) => {
                Some(value.parse::<AuthType>().map_err(|e| ConfigError::new(format!("{ENV_AUTH_TYPE}: {e}")))?)
            }
            None => None,
        };
        Ok(Self {
            host: get(ENV_HOST),
            token: get(ENV_TOKEN).map(Secret::new),
            client_id: get(ENV_CLIENT_ID),
            client_secret: get(ENV_CLIENT_SECRET).map(Secret::new),
            profile: get(ENV_PROFILE),
            config_file: get(ENV_CONFIG_FILE).map(PathBuf::from),
            auth_type,
            warehouse_id: get(ENV_WAREHOUSE_ID),
            cluster_id: get(ENV_CLUSTER_ID),
            ..Self::default()
        })
    }

    /// Set the workspace URL.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Set a personal access token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Set the OAuth client id of a service principal.
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Set the OAuth client secret of a service principal.
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Request a profile of the config file.
    #[must_use]
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Read profiles from this file instead of `~/.databrickscfg`.
    #[must_use]
    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Choose the kind of credentials explicitly.
    #[must_use]
    pub fn with_auth_type(mut self, auth_type: AuthType) -> Self {
        self.auth_type = Some(auth_type);
        self
    }

    /// Set the default SQL warehouse.
    #[must_use]
    pub fn with_warehouse_id(mut self, warehouse_id: impl Into<String>) -> Self {
        self.warehouse_id = Some(warehouse_id.into());
        self
    }

    /// Set the default cluster.
    #[must_use]
    pub fn with_cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.cluster_id = Some(cluster_id.into());
        self
    }

    /// Set the timeout of one HTTP request.
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Set the overall deadline of one call, retries included.
    #[must_use]
    pub fn with_retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = timeout;
        self
    }

    /// Set one step of retry backoff.
    #[must_use]
    pub fn with_retry_backoff_unit(mut self, unit: Duration) -> Self {
        self.retry_backoff_unit = unit;
        self
    }

    fn has_credentials(&self) -> bool {
        self.token.is_some() || self.client_id.is_some() || self.client_secret.is_some()
    }

    /// Read the profile file if needed, then validate: the host is normalised and
    /// exactly one kind of credentials is chosen.
    pub(crate) fn resolve(self) -> Result<ResolvedConfig, ConfigError> {
        self.resolve_with_home(home_dir().as_deref())
    }

    fn resolve_with_home(mut self, home: Option<&Path>) -> Result<ResolvedConfig, ConfigError> {
        if self.http_timeout.is_zero() {
            return Err(ConfigError::new("the HTTP timeout must be longer than zero"));
        }
        let host_given = self.host.is_some();
        // With a host and credentials in hand and no profile asked for, the file has
        // nothing to add that could be trusted to belong to the same workspace.
        let file = if self.profile.is_none() && host_given && self.has_credentials() {
            FileUse::Skipped
        } else {
            self.merge_profile(home)?
        };

        let raw_host = self.host.as_deref().ok_or_else(|| no_host_error(&file))?;
        let host = normalize_host(raw_host).map_err(|e| {
            let origin = match &file {
                FileUse::Read { profile, path, gave_host: true, .. } => {
                    format!(" (from profile [{profile}] of {})", path.display())
                }
                _ => String::new(),
            };
            ConfigError::new(format!("invalid Databricks host{origin}: {e}"))
        })?;

        let credentials = self.choose_credentials(&host, &file)?;
        Ok(ResolvedConfig {
            host,
            credentials,
            warehouse_id: self.warehouse_id,
            cluster_id: self.cluster_id,
            profile: match file {
                FileUse::Read { profile, path, .. } => Some((profile, path)),
                _ => None,
            },
            http_timeout: self.http_timeout,
            retry: RetryPolicy {
                timeout: self.retry_timeout,
                backoff_unit: self.retry_backoff_unit,
                ..RetryPolicy::default()
            },
        })
    }

    /// Fill unset values from the selected profile of the config file.
    ///
    /// Credentials are taken as a family: the profile's `token`, `client_id`,
    /// `client_secret` and `auth_type` are used only when no credentials were set
    /// before, so that two half-sets never combine. A profile's credentials are
    /// never paired with a different host set elsewhere.
    fn merge_profile(&mut self, home: Option<&Path>) -> Result<FileUse, ConfigError> {
        let explicit_file = self.config_file.is_some();
        let path = match &self.config_file {
            Some(path) => expand_home(path, home),
            None => match home {
                Some(home) => home.join(DEFAULT_FILE_NAME),
                None if self.profile.is_some() => {
                    return Err(ConfigError::new(format!(
                        "profile {:?} was requested, but the home directory is unknown, so ~/{DEFAULT_FILE_NAME} \
                         cannot be found; set {ENV_CONFIG_FILE} to the config file's path",
                        self.profile.as_deref().unwrap_or_default()
                    )));
                }
                None => return Ok(FileUse::Missing { path: PathBuf::from(format!("~/{DEFAULT_FILE_NAME}")) }),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(profile) = &self.profile {
                    return Err(ConfigError::new(format!(
                        "profile {profile:?} was requested, but the config file {} does not exist{}",
                        path.display(),
                        if explicit_file { "" } else { "; set DATABRICKS_CONFIG_FILE if it lives elsewhere" }
                    )));
                }
                return Ok(FileUse::Missing { path });
            }
            Err(e) => {
                return Err(ConfigError::new(format!("cannot read the config file {}: {e}", path.display())));
            }
        };
        // Values are taken literally, as Python's configparser does: no quotes, no escapes.
        let options = ini::ParseOption { enabled_quote: false, enabled_escape: false, ..Default::default() };
        let ini = ini::Ini::load_from_str_opt(&text, options)
            .map_err(|e| ConfigError::new(format!("cannot parse the config file {}: {e}", path.display())))?;

        let section_value = |section: &str, key: &str| -> Option<String> {
            let props = ini.section(Some(section))?;
            props
                .iter()
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case(key))
                .map(|(_, v)| v.trim().to_string())
                .next_back()
                .filter(|v| !v.is_empty())
        };
        let (profile, requested) = match &self.profile {
            Some(profile) => (profile.clone(), true),
            None => match section_value(SETTINGS_SECTION, "default_profile") {
                Some(profile) => (profile, true),
                None => (DEFAULT_PROFILE.to_string(), false),
            },
        };
        if ini.section(Some(profile.as_str())).is_none() {
            if !requested {
                return Ok(FileUse::NoProfile { profile, path });
            }
            let mut names: Vec<&str> = ini.sections().flatten().filter(|s| *s != SETTINGS_SECTION).collect();
            names.dedup();
            let how = if self.profile.is_some() {
                format!("was requested ({ENV_PROFILE} or Config::with_profile)")
            } else {
                format!("is named by [{SETTINGS_SECTION}] default_profile")
            };
            let has =
                if names.is_empty() { "no profiles".to_string() } else { format!("profiles {}", names.join(", ")) };
            return Err(ConfigError::new(format!(
                "profile {profile:?} {how} but is not in {}, which has {has}",
                path.display()
            )));
        }

        let get = |key: &str| section_value(&profile, key);
        let file_host = get("host");
        let gave_host = self.host.is_none() && file_host.is_some();
        if gave_host {
            self.host.clone_from(&file_host);
        }
        let gave_credentials = !self.has_credentials()
            && (get("token").is_some() || get("client_id").is_some() || get("client_secret").is_some());
        if gave_credentials {
            if let (Some(ours), Some(theirs)) = (self.host.as_deref().filter(|_| !gave_host), file_host.as_deref())
                && !same_host(ours, theirs)
            {
                return Err(ConfigError::new(format!(
                    "the host set directly ({ENV_HOST} or Config::with_host) is not the host of profile [{profile}] \
                     in {}, so that profile's credentials are not used for it; set {ENV_TOKEN} (or \
                     {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}) for this host, or pick a profile for it with {ENV_PROFILE}",
                    path.display()
                )));
            }
            self.token = get("token").map(Secret::new);
            self.client_id = get("client_id");
            self.client_secret = get("client_secret").map(Secret::new);
            if self.auth_type.is_none()
                && let Some(value) = get("auth_type")
            {
                let parsed = value.parse::<AuthType>().map_err(|e| {
                    ConfigError::new(format!("auth_type in profile [{profile}] of {}: {e}", path.display()))
                })?;
                self.auth_type = Some(parsed);
            }
        }
        if self.warehouse_id.is_none() {
            self.warehouse_id = get("warehouse_id");
        }
        if self.cluster_id.is_none() {
            self.cluster_id = get("cluster_id");
        }
        Ok(FileUse::Read { profile, path, gave_host, gave_credentials })
    }

    fn choose_credentials(&mut self, host: &Url, file: &FileUse) -> Result<ResolvedCredentials, ConfigError> {
        let origin = match file {
            FileUse::Read { profile, path, gave_credentials: true, .. } => {
                format!(" (from profile [{profile}] of {})", path.display())
            }
            _ => String::new(),
        };
        let has_token = self.token.is_some();
        let has_client = self.client_id.is_some() || self.client_secret.is_some();
        let auth_type = match self.auth_type {
            Some(auth_type) => auth_type,
            None if has_token && has_client => {
                return Err(ConfigError::new(format!(
                    "more than one authorization method configured: a personal access token ({ENV_TOKEN} or \
                     `token`) and an OAuth client ({ENV_CLIENT_ID}/{ENV_CLIENT_SECRET} or \
                     `client_id`/`client_secret`){origin}; set {ENV_AUTH_TYPE} to pat or oauth-m2m, or remove one"
                )));
            }
            None if has_token => AuthType::Pat,
            None if has_client => AuthType::OAuthM2m,
            None => {
                let file_hint = match file {
                    FileUse::Read { profile, path, .. } | FileUse::NoProfile { profile, path } => {
                        format!(
                            ", or add `token` (or `client_id` and `client_secret`) to profile [{profile}] of {}",
                            path.display()
                        )
                    }
                    FileUse::Missing { path } => {
                        format!(" (no config file was found at {})", path.display())
                    }
                    FileUse::Skipped => String::new(),
                };
                return Err(ConfigError::new(format!(
                    "no Databricks credentials configured for {}: set {ENV_TOKEN} to a personal access token, \
                     or {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} to an OAuth service principal's client id and \
                     secret{file_hint}",
                    host.as_str().trim_end_matches('/')
                )));
            }
        };
        match auth_type {
            AuthType::Pat => {
                let token = self.token.take().ok_or_else(|| {
                    ConfigError::new(format!(
                        "the auth type is pat, but no personal access token is configured{origin}; set {ENV_TOKEN}"
                    ))
                })?;
                Ok(ResolvedCredentials::Pat { token })
            }
            AuthType::OAuthM2m => match (self.client_id.take(), self.client_secret.take()) {
                (Some(client_id), Some(client_secret)) => {
                    Ok(ResolvedCredentials::OAuthM2m { client_id, client_secret })
                }
                (id, secret) => {
                    let missing = match (id, secret) {
                        (None, None) => format!("{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} are"),
                        (None, Some(_)) => format!("{ENV_CLIENT_ID} is"),
                        _ => format!("{ENV_CLIENT_SECRET} is"),
                    };
                    Err(ConfigError::new(format!(
                        "OAuth machine-to-machine auth needs a client id and a client secret, but {missing} not \
                         set{origin}"
                    )))
                }
            },
        }
    }
}

/// What the profile file contributed; error messages point at it.
enum FileUse {
    /// A host and credentials were given directly and no profile was requested.
    Skipped,
    /// There is no file there.
    Missing { path: PathBuf },
    /// The file exists but lacks the default profile.
    NoProfile { profile: String, path: PathBuf },
    /// The profile was read.
    Read { profile: String, path: PathBuf, gave_host: bool, gave_credentials: bool },
}

fn no_host_error(file: &FileUse) -> ConfigError {
    let hint = match file {
        FileUse::Read { profile, path, .. } | FileUse::NoProfile { profile, path } => {
            format!(", or add `host = ...` to profile [{profile}] of {}", path.display())
        }
        FileUse::Missing { path } => format!(" (no config file was found at {})", path.display()),
        FileUse::Skipped => String::new(),
    };
    ConfigError::new(format!(
        "no Databricks host configured: set {ENV_HOST} to the workspace URL, such as \
         https://dbc-1234abcd-5678.cloud.databricks.com{hint}"
    ))
}

fn same_host(a: &str, b: &str) -> bool {
    match (normalize_host(a), normalize_host(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|p| !p.as_os_str().is_empty())
}

/// Replace a leading `~` with the home directory.
fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// Turn what a user wrote as the host into the workspace's base URL.
///
/// `https://` is added when no scheme is given. The path, query and fragment are
/// dropped, so a URL copied from the browser works. Plain `http://` is accepted only
/// for `localhost` and loopback addresses (127.0.0.0/8, `::1`), because anything else
/// would send credentials unencrypted. The message of an error quotes the host,
/// unless it carries a user name or password.
pub(crate) fn normalize_host(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("the host is empty".into());
    }
    let shown = if raw.contains('@') { "the host".to_string() } else { format!("{raw:?}") };
    let with_scheme = if raw.contains("://") { raw.to_string() } else { format!("https://{raw}") };
    let mut url = Url::parse(&with_scheme).map_err(|e| format!("{shown} is not a valid URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the host must not contain a user name or password".into());
    }
    if url.host().is_none() {
        return Err(format!("{shown} has no host name"));
    }
    check_scheme(&url).map_err(|e| format!("{shown} {e}"))?;
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Ok for `https`, and for `http` on a loopback host; otherwise the reason,
/// phrased to follow the URL's name.
pub(crate) fn check_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("uses http://, which would send credentials unencrypted; use https:// (plain http is \
                       accepted only for localhost and loopback addresses)"
            .into()),
        other => Err(format!("uses the unsupported scheme {other}://; use https://")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        None => false,
    }
}

/// A configuration problem: something missing, contradictory or malformed.
///
/// The message says what to set and where; it never contains a token or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// An error with this message. Never put a credential in it.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A validated configuration: a normalised host and one kind of credentials.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedConfig {
    /// The workspace's base URL, with path `/`.
    pub(crate) host: Url,
    pub(crate) credentials: ResolvedCredentials,
    pub(crate) warehouse_id: Option<String>,
    pub(crate) cluster_id: Option<String>,
    /// The profile that was read and its file, if one was.
    pub(crate) profile: Option<(String, PathBuf)>,
    pub(crate) http_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

/// The one kind of credentials a client presents.
#[derive(Debug, Clone)]
pub(crate) enum ResolvedCredentials {
    Pat { token: Secret },
    OAuthM2m { client_id: String, client_secret: Secret },
}

#[cfg(test)]
impl ResolvedCredentials {
    fn auth_type(&self) -> AuthType {
        match self {
            Self::Pat { .. } => AuthType::Pat,
            Self::OAuthM2m { .. } => AuthType::OAuthM2m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "dapi-token-that-must-not-leak";
    const SECRET: &str = "dose-secret-that-must-not-leak";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// A temporary config file; keep the directory alive while the path is used.
    fn cfg_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("databrickscfg");
        std::fs::write(&path, contents).unwrap();
        (dir, path)
    }

    fn resolve(config: Config) -> Result<ResolvedConfig, ConfigError> {
        // Never look at the real home directory.
        config.resolve_with_home(None)
    }

    fn token_of(resolved: &ResolvedConfig) -> &str {
        match &resolved.credentials {
            ResolvedCredentials::Pat { token } => token.expose(),
            other => panic!("expected a token, got {other:?}"),
        }
    }

    fn assert_no_secrets(text: &str) {
        assert!(!text.contains(TOKEN) && !text.contains(SECRET), "secret leaked: {text}");
    }

    #[test]
    fn from_env_map_reads_every_variable_and_ignores_empty_ones() {
        let config = Config::from_env_map(env(&[
            ("DATABRICKS_HOST", " adb-1.2.azuredatabricks.net "),
            ("DATABRICKS_TOKEN", TOKEN),
            ("DATABRICKS_CLIENT_ID", "cid"),
            ("DATABRICKS_CLIENT_SECRET", SECRET),
            ("DATABRICKS_CONFIG_PROFILE", "dev"),
            ("DATABRICKS_CONFIG_FILE", "/etc/dbcfg"),
            ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
            ("DATABRICKS_WAREHOUSE_ID", "wh"),
            ("DATABRICKS_CLUSTER_ID", ""),
        ]))
        .unwrap();
        assert_eq!(config.host.as_deref(), Some("adb-1.2.azuredatabricks.net"));
        assert_eq!(config.token.as_ref().map(Secret::expose), Some(TOKEN));
        assert_eq!(config.client_id.as_deref(), Some("cid"));
        assert_eq!(config.client_secret.as_ref().map(Secret::expose), Some(SECRET));
        assert_eq!(config.profile.as_deref(), Some("dev"));
        assert_eq!(config.config_file, Some(PathBuf::from("/etc/dbcfg")));
        assert_eq!(config.auth_type, Some(AuthType::OAuthM2m));
        assert_eq!(config.warehouse_id.as_deref(), Some("wh"));
        assert_eq!(config.cluster_id, None);
        assert_eq!(config.http_timeout, Duration::from_secs(60));
        assert_eq!(config.retry_timeout, Duration::from_secs(300));
    }

    #[test]
    fn an_unknown_auth_type_in_the_environment_is_an_error() {
        let err = Config::from_env_map(env(&[("DATABRICKS_AUTH_TYPE", "azure-cli")])).unwrap_err();
        assert!(err.message().contains("DATABRICKS_AUTH_TYPE"), "{err}");
        assert!(err.message().contains("pat") && err.message().contains("oauth-m2m"), "{err}");
    }

    #[test]
    fn explicit_values_beat_env_and_env_beats_the_file() {
        let (_dir, path) = cfg_file(
            "[DEFAULT]\nhost = https://file.cloud.databricks.com\ntoken = file-token\n\
             warehouse_id = wh-file\ncluster_id = cl-file\n",
        );
        let path_str = path.to_str().unwrap().to_string();
        let config = Config::from_env_map(env(&[
            ("DATABRICKS_CONFIG_FILE", &path_str),
            ("DATABRICKS_WAREHOUSE_ID", "wh-env"),
            ("DATABRICKS_CLUSTER_ID", "cl-env"),
        ]))
        .unwrap()
        .with_cluster_id("cl-explicit");
        let resolved = resolve(config).unwrap();
        assert_eq!(resolved.host.as_str(), "https://file.cloud.databricks.com/");
        assert_eq!(token_of(&resolved), "file-token");
        assert_eq!(resolved.warehouse_id.as_deref(), Some("wh-env"));
        assert_eq!(resolved.cluster_id.as_deref(), Some("cl-explicit"));
        assert_eq!(resolved.profile, Some(("DEFAULT".to_string(), path.clone())));

        // An explicit host beats the environment's, and the environment's token the file's.
        let config = Config::from_env_map(env(&[
            ("DATABRICKS_HOST", "env.cloud.databricks.com"),
            ("DATABRICKS_TOKEN", "env-token"),
            ("DATABRICKS_CONFIG_PROFILE", "DEFAULT"),
            ("DATABRICKS_CONFIG_FILE", &path_str),
        ]))
        .unwrap()
        .with_host("https://file.cloud.databricks.com");
        let resolved = resolve(config).unwrap();
        assert_eq!(resolved.host.as_str(), "https://file.cloud.databricks.com/");
        assert_eq!(token_of(&resolved), "env-token");
        assert_eq!(resolved.warehouse_id.as_deref(), Some("wh-file"));
    }

    #[test]
    fn credentials_from_the_file_are_taken_whole_or_not_at_all() {
        let (_dir, path) = cfg_file(
            "[DEFAULT]\nhost = https://w.cloud.databricks.com\nclient_id = file-id\nclient_secret = file-secret\n\
             auth_type = oauth-m2m\n",
        );
        // A token set directly keeps the profile's OAuth client (and its auth_type) out.
        let resolved = resolve(Config::new().with_config_file(&path).with_token(TOKEN)).unwrap();
        assert_eq!(token_of(&resolved), TOKEN);
        // Without one, the profile's client and auth_type are used.
        let resolved = resolve(Config::new().with_config_file(&path)).unwrap();
        match resolved.credentials {
            ResolvedCredentials::OAuthM2m { client_id, client_secret } => {
                assert_eq!(client_id, "file-id");
                assert_eq!(client_secret.expose(), "file-secret");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn profile_selection() {
        let text = "[__settings__]\ndefault_profile = team\n\n\
                    [DEFAULT]\nhost = default.cloud.databricks.com\ntoken = t-default\n\n\
                    [team]\nhost = team.cloud.databricks.com\ntoken = t-team\n\n\
                    [dev]\nhost = dev.cloud.databricks.com\ntoken = t-dev\n";
        let (_dir, path) = cfg_file(text);
        let base = Config::new().with_config_file(&path);

        // An explicit profile wins.
        let resolved = resolve(base.clone().with_profile("dev")).unwrap();
        assert_eq!(resolved.host.as_str(), "https://dev.cloud.databricks.com/");
        assert_eq!(token_of(&resolved), "t-dev");

        // Then [__settings__] default_profile.
        let resolved = resolve(base.clone()).unwrap();
        assert_eq!(resolved.host.as_str(), "https://team.cloud.databricks.com/");
        assert_eq!(resolved.profile.as_ref().map(|p| p.0.as_str()), Some("team"));

        // Then [DEFAULT].
        let (_dir2, path2) = cfg_file("[DEFAULT]\nhost = default.cloud.databricks.com\ntoken = t-default\n");
        let resolved = resolve(Config::new().with_config_file(&path2)).unwrap();
        assert_eq!(token_of(&resolved), "t-default");

        // A requested profile that is missing is an error naming the file and its profiles.
        let err = resolve(base.clone().with_profile("prod")).unwrap_err().to_string();
        assert!(err.contains("\"prod\""), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("DEFAULT, team, dev"), "{err}");
        assert!(!err.contains("__settings__ ") && !err.contains("t-dev"), "{err}");

        // So is a default_profile that names a missing profile.
        let (_dir3, path3) = cfg_file("[__settings__]\ndefault_profile = gone\n[DEFAULT]\nhost = h\n");
        let err = resolve(Config::new().with_config_file(&path3)).unwrap_err().to_string();
        assert!(err.contains("\"gone\"") && err.contains("default_profile"), "{err}");
    }

    #[test]
    fn a_missing_default_profile_or_file_is_silent() {
        let (_dir, path) = cfg_file("[dev]\nhost = dev.cloud.databricks.com\ntoken = t-dev\n");
        let resolved =
            resolve(Config::new().with_config_file(&path).with_host("h.cloud.databricks.com").with_token(TOKEN))
                .unwrap();
        assert_eq!(token_of(&resolved), TOKEN);
        // Missing DEFAULT: the error is about what is missing, not about the profile.
        let err =
            resolve(Config::new().with_config_file(&path).with_host("h.cloud.databricks.com")).unwrap_err().to_string();
        assert!(err.starts_with("no Databricks credentials"), "{err}");
        assert!(err.contains("[DEFAULT]"), "{err}");

        // A missing file is silent too, and the error says where it looked.
        let dir = tempfile::tempdir().unwrap();
        let nowhere = dir.path().join("absent.cfg");
        let err = resolve(Config::new().with_config_file(&nowhere)).unwrap_err().to_string();
        assert!(err.starts_with("no Databricks host configured"), "{err}");
        assert!(err.contains("DATABRICKS_HOST") && err.contains("absent.cfg"), "{err}");
        // ... unless a profile was requested from it.
        let err = resolve(Config::new().with_config_file(&nowhere).with_profile("dev")).unwrap_err().to_string();
        assert!(err.contains("\"dev\"") && err.contains("does not exist"), "{err}");
    }

    #[test]
    fn the_file_is_skipped_when_host_and_credentials_are_given_and_no_profile_is_requested() {
        // Not INI at all: reading it would fail.
        let (_dir, path) = cfg_file("this is [not an INI file\n");
        let config = Config::new().with_config_file(&path).with_host("h.cloud.databricks.com").with_token(TOKEN);
        let resolved = resolve(config.clone()).unwrap();
        assert_eq!(resolved.profile, None);
        // Requesting a profile makes it read.
        let err = resolve(config.with_profile("dev")).unwrap_err().to_string();
        assert!(err.contains("cannot parse the config file"), "{err}");

        // A host alone is not enough to skip it: the warehouse comes from the file.
        let (_dir, path) = cfg_file("[DEFAULT]\nhost = h.cloud.databricks.com\ntoken = t\nwarehouse_id = wh\n");
        let resolved =
            resolve(Config::new().with_config_file(&path).with_host("https://h.cloud.databricks.com/")).unwrap();
        assert_eq!(resolved.warehouse_id.as_deref(), Some("wh"));
        assert_eq!(token_of(&resolved), "t");
        // With host and credentials given, it is not read.
        let resolved =
            resolve(Config::new().with_config_file(&path).with_host("h.cloud.databricks.com").with_token(TOKEN))
                .unwrap();
        assert_eq!(resolved.warehouse_id, None);
    }

    #[test]
    fn a_profiles_credentials_are_not_sent_to_another_host() {
        let (_dir, path) = cfg_file("[DEFAULT]\nhost = a.cloud.databricks.com\ntoken = t-a\n");
        let err =
            resolve(Config::new().with_config_file(&path).with_host("b.cloud.databricks.com")).unwrap_err().to_string();
        assert!(err.contains("not the host of profile [DEFAULT]"), "{err}");
        assert!(err.contains("DATABRICKS_TOKEN") && !err.contains("t-a"), "{err}");
    }

    #[test]
    fn profile_values_are_literal_and_keys_are_case_insensitive() {
        let (_dir, path) =
            cfg_file("; a comment\n# another\n[DEFAULT]\nHost: h.cloud.databricks.com\nTOKEN = \"quoted\\value\"\n");
        let resolved = resolve(Config::new().with_config_file(&path)).unwrap();
        assert_eq!(token_of(&resolved), "\"quoted\\value\"");
    }

    #[test]
    fn host_normalisation() {
        let ok = [
            ("adb-123.4.azuredatabricks.net", "https://adb-123.4.azuredatabricks.net/"),
            ("https://dbc-1.cloud.databricks.com/", "https://dbc-1.cloud.databricks.com/"),
            ("https://dbc-1.cloud.databricks.com///", "https://dbc-1.cloud.databricks.com/"),
            ("https://dbc-1.cloud.databricks.com/?o=123#job/1", "https://dbc-1.cloud.databricks.com/"),
            ("https://dbc-1.cloud.databricks.com/browse/folders/42", "https://dbc-1.cloud.databricks.com/"),
            ("  HTTPS://DBC-1.Cloud.Databricks.com:443  ", "https://dbc-1.cloud.databricks.com/"),
            ("https://dbc-1.cloud.databricks.com:8443/x", "https://dbc-1.cloud.databricks.com:8443/"),
            ("http://localhost:8080/", "http://localhost:8080/"),
            ("http://127.0.0.1:1234", "http://127.0.0.1:1234/"),
            ("http://127.8.9.10", "http://127.8.9.10/"),
            ("http://[::1]:9000/api", "http://[::1]:9000/"),
            ("localhost:8080", "https://localhost:8080/"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize_host(input).map(String::from).as_deref(), Ok(want), "{input}");
        }
        let refused = [
            ("http://dbc-1.cloud.databricks.com", "use https://"),
            ("http://10.0.0.1", "use https://"),
            ("http://[::2]", "use https://"),
            ("ftp://dbc-1.cloud.databricks.com", "unsupported scheme"),
            ("", "empty"),
            ("https://", "not a valid URL"),
            ("https://user:pw@dbc-1.cloud.databricks.com", "user name or password"),
        ];
        for (input, want) in refused {
            let err = normalize_host(input).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
        // Through resolve, the error says what was wrong and where the host came from.
        let (_dir, path) = cfg_file("[DEFAULT]\nhost = http://dbc-1.cloud.databricks.com\ntoken = t\n");
        let err = resolve(Config::new().with_config_file(&path)).unwrap_err().to_string();
        assert!(err.contains("use https://") && err.contains("profile [DEFAULT]"), "{err}");
    }

    #[test]
    fn conflicting_credentials_need_an_auth_type() {
        let base = Config::new()
            .with_config_file("/nonexistent/databrickscfg")
            .with_host("h.cloud.databricks.com")
            .with_token(TOKEN)
            .with_client_id("cid")
            .with_client_secret(SECRET);
        let err = resolve(base.clone()).unwrap_err().to_string();
        assert!(err.contains("more than one authorization method configured"), "{err}");
        assert!(err.contains("DATABRICKS_TOKEN") && err.contains("DATABRICKS_CLIENT_ID"), "{err}");
        assert!(err.contains("DATABRICKS_AUTH_TYPE"), "{err}");
        assert_no_secrets(&err);

        let resolved = resolve(base.clone().with_auth_type(AuthType::Pat)).unwrap();
        assert_eq!(resolved.credentials.auth_type(), AuthType::Pat);
        let resolved = resolve(base.with_auth_type(AuthType::OAuthM2m)).unwrap();
        assert_eq!(resolved.credentials.auth_type(), AuthType::OAuthM2m);
    }

    #[test]
    fn missing_or_partial_credentials_are_clear_errors() {
        let base = Config::new().with_config_file("/nonexistent/databrickscfg").with_host("h.cloud.databricks.com");
        let err = resolve(base.clone()).unwrap_err().to_string();
        assert!(err.starts_with("no Databricks credentials configured for https://h.cloud.databricks.com"), "{err}");
        assert!(err.contains("DATABRICKS_TOKEN"), "{err}");
        assert!(err.contains("DATABRICKS_CLIENT_ID") && err.contains("DATABRICKS_CLIENT_SECRET"), "{err}");

        let err = resolve(base.clone().with_client_id("cid")).unwrap_err().to_string();
        assert!(err.contains("DATABRICKS_CLIENT_SECRET is not set"), "{err}");
        let err = resolve(base.clone().with_client_secret(SECRET)).unwrap_err().to_string();
        assert!(err.contains("DATABRICKS_CLIENT_ID is not set"), "{err}");
        assert_no_secrets(&err);
        let err = resolve(base.clone().with_client_id("cid").with_auth_type(AuthType::Pat)).unwrap_err().to_string();
        assert!(err.contains("auth type is pat") && err.contains("DATABRICKS_TOKEN"), "{err}");

        let err = resolve(Config::new().with_config_file("/nonexistent/databrickscfg").with_token(TOKEN))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no Databricks host configured") && err.contains("DATABRICKS_HOST"), "{err}");

        let err = resolve(base.with_token(TOKEN).with_http_timeout(Duration::ZERO)).unwrap_err().to_string();
        assert!(err.contains("HTTP timeout"), "{err}");
    }

    #[test]
    fn timeouts_reach_the_retry_policy() {
        let resolved = resolve(
            Config::new()
                .with_host("h.cloud.databricks.com")
                .with_token(TOKEN)
                .with_http_timeout(Duration::from_secs(5))
                .with_retry_timeout(Duration::from_secs(7))
                .with_retry_backoff_unit(Duration::from_millis(3)),
        )
        .unwrap();
        assert_eq!(resolved.http_timeout, Duration::from_secs(5));
        assert_eq!(resolved.retry.timeout, Duration::from_secs(7));
        assert_eq!(resolved.retry.backoff_unit, Duration::from_millis(3));
    }

    #[test]
    fn debug_output_never_contains_a_secret() {
        let config = Config::new()
            .with_host("h.cloud.databricks.com")
            .with_token(TOKEN)
            .with_client_id("cid")
            .with_client_secret(SECRET)
            .with_auth_type(AuthType::Pat);
        let text = format!("{config:?}");
        assert_no_secrets(&text);
        assert!(text.contains("***"), "{text}");
        let resolved = resolve(config.clone()).unwrap();
        assert_no_secrets(&format!("{resolved:?} {resolved:#?}"));
        let resolved = resolve(config.with_auth_type(AuthType::OAuthM2m)).unwrap();
        let text = format!("{resolved:?}");
        assert_no_secrets(&text);
        assert!(text.contains("cid") && text.contains("***"), "{text}");
    }

    #[test]
    fn a_tilde_config_path_means_the_home_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("my.cfg"), "[DEFAULT]\nhost = h.cloud.databricks.com\ntoken = t\n").unwrap();
        let resolved = Config::new().with_config_file("~/my.cfg").resolve_with_home(Some(dir.path())).unwrap();
        assert_eq!(token_of(&resolved), "t");
        std::fs::write(dir.path().join(".databrickscfg"), "[DEFAULT]\nhost = h.cloud.databricks.com\ntoken = t2\n")
            .unwrap();
        let resolved = Config::new().resolve_with_home(Some(dir.path())).unwrap();
        assert_eq!(token_of(&resolved), "t2");
    }
}
