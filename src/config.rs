//! Configuration, parsed once from the environment (API.md "Configuration").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::payments::DarajaConfig;
pub use crate::payments::Secret;

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    None,
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `None`: the embedded default (local server, database `tillroll`, created if missing).
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    /// `None`: `http://<the address actually bound>`.
    pub public_url: Option<String>,
    pub jwt_secret: Option<Secret>,
    pub admin: Option<(String, Secret)>,
    pub reservation_ttl: Duration,
    /// `None`: no Daraja credentials, the built-in simulator answers.
    pub mpesa: Option<DarajaConfig>,
    /// `None`: no B2C initiator configured, refunds and payouts go to the simulator.
    pub mpesa_b2c: Option<crate::payments::B2cConfig>,
    /// The platform's share of each delivered line, in basis points
    /// (`TILLROLL_PLATFORM_FEE_BPS`, default 0).
    pub platform_fee_bps: u32,
    /// How often each seller's balance is paid out (`TILLROLL_PAYOUT_EVERY`, default `1h`).
    pub payout_every: Duration,
    pub callback_token: Option<Secret>,
    pub cors: CorsOrigins,
    /// Where a private Postgres cluster lives when no server answers (`TILLROLL_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// How long a payment attempt may wait for its callback before the reconciler asks.
    pub reconcile_after: Duration,
    pub access_token_ttl: Duration,
    /// How often the sealer signs a tree head when the log grew
    /// (`TILLROLL_AUDIT_TREE_HEAD_EVERY`).
    pub audit_tree_head_every: Duration,
    /// The Ed25519 private key that signs tree heads (`TILLROLL_AUDIT_SIGNING_KEY`, base64 of
    /// 32 bytes); `None`: generated on first start and kept in the database.
    pub audit_signing_key: Option<Secret>,
    /// Connections of the request pool (`TILLROLL_DB_POOL_SIZE`); a node opens this many plus
    /// [`crate::app::BACKGROUND_CONNECTIONS`].
    pub db_pool_size: u32,
    /// How long a worker lease lives without renewal (`TILLROLL_LEASE_TTL`): the bound on a
    /// takeover after a node dies or hangs.
    pub lease_ttl: Duration,
    /// The HTTP server's timeouts and connection cap (`TILLROLL_HTTP_*`).
    pub http: crate::http::server::HttpLimits,
    /// `None` (no `TILLROLL_NATS_URL`): nothing is published.
    pub nats: Option<NatsConfig>,
    /// `TILLROLL_READ_DATABASE_URL`: a read replica the queries read the read models from.
    pub read_database_url: Option<String>,
    /// The key webhook secrets are sealed under (`TILLROLL_WEBHOOKS_KEY`, 32 bytes base64);
    /// `None`: generated and kept in the database.
    pub webhooks_key: Option<Secret>,
    /// `TILLROLL_WEBHOOKS_ALLOW_PRIVATE`: webhook URLs may reach loopback and private
    /// addresses (tests, private networks). Off by default (server-side request forgery).
    pub webhooks_allow_private: bool,
    /// The wait after a webhook's first failed attempt (`TILLROLL_WEBHOOKS_FIRST_RETRY`,
    /// default `5s`), doubling after each, at most an hour.
    pub webhooks_first_retry: Duration,
}

/// Where the log is published: a JetStream stream on a NATS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `TILLROLL_NATS_URL`, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// `TILLROLL_NATS_STREAM` (default `TILLROLL_EVENTS`).
    pub stream: String,
    /// `TILLROLL_NATS_SUBJECT_PREFIX` (default `tillroll`): subjects `<prefix>.events.…`.
    pub subject_prefix: String,
}

/// A JetStream stream name: printable, no whitespace, `.`, `*`, `>`, `/` or `\\`.
fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '.' | '*' | '>' | '/' | '\\'))
}

/// Subject tokens separated by dots, none empty or a wildcard.
fn valid_subject_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '*' | '>'))
        })
}

/// The request pool's default size: with the background connections, 14 per node, so six
/// nodes fit in a default Postgres (`max_connections` 100, 3 reserved).
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// `15m`, `30s`, `2h`, `1d`, `250ms`, or plain seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let err = |variable, message: &str| ConfigError {
            variable,
            message: message.into(),
        };
        let listen: SocketAddr = get("TILLROLL_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| err("TILLROLL_LISTEN", "expected host:port, e.g. 127.0.0.1:8080"))?;
        let public_url = get("TILLROLL_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
        let duration = |variable: &'static str, default: &str| {
            parse_duration(&get(variable).unwrap_or_else(|| default.into()))
                .filter(|d| !d.is_zero())
                .ok_or_else(|| err(variable, "expected a duration such as 15m, 30s or 2h"))
        };
        let admin = match (get("TILLROLL_ADMIN_EMAIL"), get("TILLROLL_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) => Some((email, Secret::new(password))),
            _ => None,
        };
        let mpesa = daraja_config(&get)?;
        let mpesa_b2c = b2c_config(&get, mpesa.is_some())?;
        let platform_fee_bps = match get("TILLROLL_PLATFORM_FEE_BPS") {
            None => 0,
            Some(n) => n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= 10_000)
                .ok_or_else(|| err("TILLROLL_PLATFORM_FEE_BPS", "expected 0 to 10000"))?,
        };
        let cors = match get("TILLROLL_CORS_ORIGINS").as_deref() {
            None => CorsOrigins::None,
            Some("*") => CorsOrigins::Any,
            Some(list) => CorsOrigins::List(
                list.split(',')
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
        };
        let data_dir = get("TILLROLL_DATA_DIR").map(PathBuf::from);
        Ok(Self {
            database_url: get("DATABASE_URL"),
            listen,
            public_url,
            jwt_secret: get("TILLROLL_JWT_SECRET").map(Secret::new),
            admin,
            reservation_ttl: duration("TILLROLL_RESERVATION_TTL", "15m")?,
            mpesa,
            mpesa_b2c,
            platform_fee_bps,
            payout_every: duration("TILLROLL_PAYOUT_EVERY", "1h")?,
            callback_token: get("TILLROLL_MPESA_CALLBACK_TOKEN").map(Secret::new),
            cors,
            data_dir,
            reconcile_after: duration("TILLROLL_RECONCILE_AFTER", "2m")?,
            access_token_ttl: duration("TILLROLL_ACCESS_TOKEN_TTL", "15m")?,
            audit_tree_head_every: duration("TILLROLL_AUDIT_TREE_HEAD_EVERY", "1s")?,
            audit_signing_key: get("TILLROLL_AUDIT_SIGNING_KEY").map(Secret::new),
            db_pool_size: match get("TILLROLL_DB_POOL_SIZE") {
                None => DEFAULT_POOL_SIZE,
                Some(n) => n
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (2..=500).contains(n))
                    .ok_or_else(|| {
                        err("TILLROLL_DB_POOL_SIZE", "expected a number from 2 to 500")
                    })?,
            },
            lease_ttl: duration("TILLROLL_LEASE_TTL", "5s")?,
            http: crate::http::server::HttpLimits {
                header_timeout: duration("TILLROLL_HTTP_HEADER_TIMEOUT", "10s")?,
                body_timeout: duration("TILLROLL_HTTP_BODY_TIMEOUT", "30s")?,
                max_connections: match get("TILLROLL_HTTP_MAX_CONNECTIONS") {
                    None => 1024,
                    Some(n) => n
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                        .ok_or_else(|| {
                            err(
                                "TILLROLL_HTTP_MAX_CONNECTIONS",
                                "expected a number from 1 to 1000000",
                            )
                        })?,
                },
            },
            nats: nats_config(&get)?,
            read_database_url: get("TILLROLL_READ_DATABASE_URL"),
            webhooks_key: get("TILLROLL_WEBHOOKS_KEY").map(Secret::new),
            webhooks_allow_private: match get("TILLROLL_WEBHOOKS_ALLOW_PRIVATE").as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(_) => {
                    return Err(err(
                        "TILLROLL_WEBHOOKS_ALLOW_PRIVATE",
                        "expected true or false",
                    ));
                }
            },
            webhooks_first_retry: duration("TILLROLL_WEBHOOKS_FIRST_RETRY", "5s")?,
        })
    }
}

fn nats_config(get: &impl Fn(&str) -> Option<String>) -> Result<Option<NatsConfig>, ConfigError> {
    let Some(url) = get("TILLROLL_NATS_URL") else {
        return Ok(None);
    };
    let stream = get("TILLROLL_NATS_STREAM").unwrap_or_else(|| "TILLROLL_EVENTS".to_owned());
    if !valid_stream_name(&stream) {
        return Err(ConfigError {
            variable: "TILLROLL_NATS_STREAM",
            message: "a JetStream stream name: no whitespace, '.', '*', '>', '/' or '\\'".into(),
        });
    }
    let subject_prefix =
        get("TILLROLL_NATS_SUBJECT_PREFIX").unwrap_or_else(|| "tillroll".to_owned());
    if !valid_subject_prefix(&subject_prefix) {
        return Err(ConfigError {
            variable: "TILLROLL_NATS_SUBJECT_PREFIX",
            message: "subject tokens separated by '.', none empty or a wildcard".into(),
        });
    }
    Ok(Some(NatsConfig {
        url,
        stream,
        subject_prefix,
    }))
}

/// The B2C initiator: all three of shortcode, initiator name and security credential, or none
/// (simulator). B2C calls authenticate with the STK credentials' OAuth app, so those are needed.
fn b2c_config(
    get: &impl Fn(&str) -> Option<String>,
    have_daraja: bool,
) -> Result<Option<crate::payments::B2cConfig>, ConfigError> {
    let shortcode = get("TILLROLL_MPESA_B2C_SHORTCODE");
    let initiator = get("TILLROLL_MPESA_B2C_INITIATOR_NAME");
    let credential = get("TILLROLL_MPESA_B2C_SECURITY_CREDENTIAL");
    let (shortcode, initiator_name, credential) = match (shortcode, initiator, credential) {
        (None, None, None) => return Ok(None),
        (Some(s), Some(i), Some(c)) if have_daraja => (s, i, c),
        _ => {
            return Err(ConfigError {
                variable: "TILLROLL_MPESA_B2C_SHORTCODE",
                message: "set all of TILLROLL_MPESA_B2C_SHORTCODE, _INITIATOR_NAME and \
                          _SECURITY_CREDENTIAL (with the TILLROLL_MPESA_* credentials), or \
                          none of them for the simulator"
                    .into(),
            });
        }
    };
    let shortcode = shortcode.trim().parse::<u64>().map_err(|_| ConfigError {
        variable: "TILLROLL_MPESA_B2C_SHORTCODE",
        message: "expected a number".into(),
    })?;
    Ok(Some(crate::payments::B2cConfig {
        shortcode,
        initiator_name,
        security_credential: Secret::new(credential),
    }))
}

/// Daraja credentials: all four of key, secret, shortcode and passkey, or none (simulator).
fn daraja_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<DarajaConfig>, ConfigError> {
    let key = get("TILLROLL_MPESA_CONSUMER_KEY");
    let secret = get("TILLROLL_MPESA_CONSUMER_SECRET");
    let shortcode = get("TILLROLL_MPESA_SHORTCODE");
    let passkey = get("TILLROLL_MPESA_PASSKEY");
    let (key, secret, shortcode, passkey) = match (key, secret, shortcode, passkey) {
        (None, None, None, None) => return Ok(None),
        (Some(k), Some(s), Some(c), Some(p)) => (k, s, c, p),
        _ => {
            return Err(ConfigError {
                variable: "TILLROLL_MPESA_CONSUMER_KEY",
                message: "set all of TILLROLL_MPESA_CONSUMER_KEY, _CONSUMER_SECRET, _SHORTCODE \
                          and _PASSKEY, or none of them for the simulator"
                    .into(),
            });
        }
    };
    let number = |variable: &'static str, text: &str| {
        text.trim().parse::<u64>().map_err(|_| ConfigError {
            variable,
            message: "expected a number".into(),
        })
    };
    let shortcode = number("TILLROLL_MPESA_SHORTCODE", &shortcode)?;
    let party_b = match get("TILLROLL_MPESA_PARTY_B") {
        Some(p) => number("TILLROLL_MPESA_PARTY_B", &p)?,
        None => shortcode,
    };
    let transaction_type = get("TILLROLL_MPESA_TRANSACTION_TYPE")
        .map(|t| t.parse())
        .transpose()
        .map_err(|e: crate::payments::UnknownTransactionType| ConfigError {
            variable: "TILLROLL_MPESA_TRANSACTION_TYPE",
            message: e.to_string(),
        })?
        .unwrap_or_default();
    Ok(Some(DarajaConfig {
        base_url: get("TILLROLL_MPESA_BASE_URL")
            .unwrap_or_else(|| "https://sandbox.safaricom.co.ke".into()),
        consumer_key: key,
        consumer_secret: Secret::new(secret),
        shortcode,
        passkey: Secret::new(passkey),
        transaction_type,
        party_b,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("900"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("15 minutes"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn defaults_need_no_environment() {
        let config = Config::from_lookup(|_| None).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, None);
        assert_eq!(config.reservation_ttl, Duration::from_secs(900));
        assert!(config.mpesa.is_none());
        assert_eq!(config.cors, CorsOrigins::None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            Config::from_lookup(|n| (n == "TILLROLL_LISTEN").then(|| "nope".into())).unwrap_err();
        assert_eq!(e.variable, "TILLROLL_LISTEN");
    }
}
