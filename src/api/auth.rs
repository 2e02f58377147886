//! Who may call the API (`auth.*` of huskyd.yaml), and what their role may do.
//!
//! - `none`: every caller is admin, no RBAC (as Husky-Go).
//! - `bearer`: `Authorization: Bearer <token>` (or `?token=`, for browsers' EventSource and
//!   WebSocket). Tokens come from `bearer.token_file`, one per line, each optionally followed by
//!   a role (`<token> viewer`; default admin), and from the inline `bearer.token` (admin). The
//!   file is read again on every reload (SIGHUP, `husky reload`, the API).
//! - `basic`: HTTP Basic against `basic.users` (bcrypt hashes; a `role` per user, default admin).
//!   A verified header is remembered (bcrypt costs tens of milliseconds per check).
//!
//! Then RBAC: `auth.rbac` rules when given (they replace the built-ins), else the built-in roles:
//! `viewer` reads, `operator` also runs, retries, cancels, skips, pauses and resumes jobs, sends
//! alerts again and tests integrations, and
//! `admin` may do everything (reload, config, prune, stop). Tokens are compared in constant time.
//!
//! The dashboard's static files (`/` and `/assets/*`, see [`super::assets`]) are served before
//! this gate and need no credentials: they hold no secrets, and the page asks for a token (or
//! the browser for Basic credentials) when an API call answers 401.
//!
//! Two callers are trusted as admin without credentials: the unix socket (its file permissions
//! are its auth) and the daemon's local token (`api.token` in the data directory, mode 0600),
//! which is how the local CLI reaches the daemon over TCP where there are no unix sockets.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use subtle::ConstantTimeEq;

use crate::config::{AuthConfig, AuthType, RbacRule};

/// The built-in roles.
pub const ROLES: [&str; 3] = ["admin", "operator", "viewer"];

/// Verified Basic credentials remembered (cleared on reload).
const BASIC_CACHE: usize = 32;

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The role its grants come from.
    pub role: String,
    /// For the log: `socket`, `local token`, `token 2 of <file>`, a user name, or `anonymous`.
    pub name: String,
}

/// Why a request is turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401: no or wrong credentials; `challenge` goes into `WWW-Authenticate`.
    Unauthenticated {
        /// The error message.
        message: &'static str,
        /// The `WWW-Authenticate` value.
        challenge: &'static str,
    },
    /// 403: the role lacks the grant.
    Forbidden {
        /// The role that was refused.
        role: String,
    },
}

/// One accepted token.
#[derive(Debug, Clone)]
struct Token {
    secret: Vec<u8>,
    role: String,
    name: String,
}

/// One RBAC rule, with lower-cased role and upper-cased methods.
#[derive(Debug, Clone)]
struct Rule {
    role: String,
    methods: Vec<String>,
    paths: Vec<String>,
}

/// The authenticator and authoriser, shared by the HTTP threads.
#[derive(Debug)]
pub struct Auth {
    kind: AuthType,
    token_file: Option<PathBuf>,
    inline: Option<String>,
    tokens: RwLock<Arc<Vec<Token>>>,
    users: Vec<crate::config::BasicUser>,
    rules: Vec<Rule>,
    local: Option<Vec<u8>>,
    basic_cache: Mutex<Vec<(Vec<u8>, Identity)>>,
}

impl Auth {
    /// The authenticator of `cfg`; `token_file` is resolved already. `local` is the daemon's
    /// local token. Fails when bearer auth has no token, the file cannot be read, or a role
    /// is unknown.
    pub fn new(
        cfg: &AuthConfig,
        token_file: Option<PathBuf>,
        local: Option<String>,
    ) -> Result<Auth, String> {
        let rules = if cfg.rbac.is_empty() {
            builtin_rules()
        } else {
            cfg.rbac.iter().map(Rule::of).collect()
        };
        let auth = Auth {
            kind: cfg.kind,
            token_file,
            inline: cfg.token.clone(),
            tokens: RwLock::new(Arc::default()),
            users: cfg.users.clone(),
            rules,
            local: local.map(String::into_bytes),
            basic_cache: Mutex::new(Vec::new()),
        };
        for u in &auth.users {
            auth.known_role(u.role.as_deref().unwrap_or("admin"))
                .map_err(|e| format!("auth.basic.users {:?}: {e}", u.username))?;
        }
        if auth.kind == AuthType::Bearer {
            auth.reload()?;
        }
        Ok(auth)
    }

    /// Without authentication (tests, and `auth.type: none`).
    pub fn none() -> Auth {
        Auth {
            kind: AuthType::None,
            token_file: None,
            inline: None,
            tokens: RwLock::new(Arc::default()),
            users: Vec::new(),
            rules: builtin_rules(),
            local: None,
            basic_cache: Mutex::new(Vec::new()),
        }
    }

    /// Whether callers must authenticate.
    pub fn required(&self) -> bool {
        self.kind != AuthType::None
    }

    /// Reads the bearer tokens again (and forgets remembered Basic credentials). On an error
    /// the tokens in force stay. Returns how many tokens are accepted.
    pub fn reload(&self) -> Result<usize, String> {
        if let Ok(mut cache) = self.basic_cache.lock() {
            cache.clear();
        }
        if self.kind != AuthType::Bearer {
            return Ok(0);
        }
        let mut tokens = Vec::new();
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read auth.bearer.token_file {}: {e}", path.display())
            })?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let mut words = line.split_whitespace();
                let secret = words.next().unwrap_or_default();
                let role = words.next().unwrap_or("admin").to_ascii_lowercase();
                let at = format!("{}:{}", path.display(), i + 1);
                if words.next().is_some() {
                    return Err(format!("{at}: expected `TOKEN [ROLE]`, found more words"));
                }
                self.known_role(&role).map_err(|e| format!("{at}: {e}"))?;
                tokens.push(Token {
                    secret: secret.as_bytes().to_vec(),
                    role,
                    name: format!("token of line {} of {}", i + 1, path.display()),
                });
            }
        }
        if let Some(t) = &self.inline {
            tokens.push(Token {
                secret: t.trim().as_bytes().to_vec(),
                role: "admin".into(),
                name: "auth.bearer.token".into(),
            });
        }
        if tokens.is_empty() {
            return Err(match &self.token_file {
                Some(p) => format!(
                    "auth.type is bearer but {} has no token (one per line: TOKEN [ROLE])",
                    p.display()
                ),
                None => "auth.type is bearer but neither auth.bearer.token_file nor \
                         auth.bearer.token is set"
                    .into(),
            });
        }
        let n = tokens.len();
        if let Ok(mut held) = self.tokens.write() {
            *held = Arc::new(tokens);
        }
        Ok(n)
    }

    /// Who sent a request with these credentials: the `Authorization` header and the `token`
    /// query parameter. `trusted`: it came over the unix socket.
    pub fn identify(
        &self,
        trusted: bool,
        authorization: Option<&str>,
        query_token: Option<&str>,
    ) -> Result<Identity, Denied> {
        let admin = |name: &str| Identity { role: "admin".into(), name: name.into() };
        if trusted {
            return Ok(admin("socket"));
        }
        let bearer = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .or(query_token)
            .filter(|t| !t.is_empty());
        if let (Some(local), Some(t)) = (&self.local, bearer)
            && bool::from(local.as_slice().ct_eq(t.as_bytes()))
        {
            return Ok(admin("local token"));
        }
        match self.kind {
            AuthType::None => Ok(admin("anonymous")),
            AuthType::Bearer => {
                const CHALLENGE: &str = "Bearer realm=\"husky\"";
                let Some(t) = bearer else {
                    return Err(Denied::Unauthenticated {
                        message: "authorization required",
                        challenge: CHALLENGE,
                    });
                };
                let tokens = self.tokens.read().map(|t| t.clone()).unwrap_or_default();
                // Every token is compared, so the time does not tell which one matched.
                let mut found = None;
                for tok in tokens.iter() {
                    if bool::from(tok.secret.as_slice().ct_eq(t.as_bytes())) {
                        found = Some(tok);
                    }
                }
                found.map(|tok| Identity { role: tok.role.clone(), name: tok.name.clone() }).ok_or(
                    Denied::Unauthenticated { message: "invalid token", challenge: CHALLENGE },
                )
            }
            AuthType::Basic => self.basic(authorization),
        }
    }

    fn basic(&self, authorization: Option<&str>) -> Result<Identity, Denied> {
        const CHALLENGE: &str = "Basic realm=\"husky\"";
        let missing =
            Denied::Unauthenticated { message: "authorization required", challenge: CHALLENGE };
        let invalid =
            Denied::Unauthenticated { message: "invalid credentials", challenge: CHALLENGE };
        let Some(encoded) = authorization.and_then(|h| h.strip_prefix("Basic ")).map(str::trim)
        else {
            return Err(missing);
        };
        let key = encoded.as_bytes();
        if let Ok(cache) = self.basic_cache.lock()
            && let Some((_, who)) = cache.iter().find(|(k, _)| bool::from(k.as_slice().ct_eq(key)))
        {
            return Ok(who.clone());
        }
        let decoded = base64_decode(encoded).ok_or_else(|| invalid.clone())?;
        let text = String::from_utf8(decoded).map_err(|_| invalid.clone())?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        if user.is_empty() {
            return Err(missing);
        }
        let Some(u) = self.users.iter().find(|u| u.username == user) else {
            return Err(invalid);
        };
        if !bcrypt::verify(password, &u.password_hash).unwrap_or(false) {
            return Err(invalid);
        }
        let who = Identity {
            role: u.role.as_deref().unwrap_or("admin").to_ascii_lowercase(),
            name: u.username.clone(),
        };
        if let Ok(mut cache) = self.basic_cache.lock() {
            if cache.len() >= BASIC_CACHE {
                cache.remove(0);
            }
            cache.push((key.to_vec(), who.clone()));
        }
        Ok(who)
    }

    /// Whether `role` may use `method` on `path` (after the base path).
    pub fn allows(&self, role: &str, method: &str, path: &str) -> bool {
        if self.kind == AuthType::None || method == "OPTIONS" {
            return true;
        }
        self.rules.iter().any(|r| {
            r.role.eq_ignore_ascii_case(role)
                && r.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
                && r.paths.iter().any(|p| path_matches(p, path))
        })
    }

    /// Identifies the caller and checks its grant.
    pub fn check(
        &self,
        trusted: bool,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        query_token: Option<&str>,
    ) -> Result<Identity, Denied> {
        if method == "OPTIONS" {
            return Ok(Identity { role: "anonymous".into(), name: "preflight".into() });
        }
        let who = self.identify(trusted, authorization, query_token)?;
        if self.allows(&who.role, method, path) {
            Ok(who)
        } else {
            Err(Denied::Forbidden { role: who.role })
        }
    }

    /// A role is a built-in one or named by an `auth.rbac` rule.
    fn known_role(&self, role: &str) -> Result<(), String> {
        let lower = role.to_ascii_lowercase();
        if ROLES.contains(&lower.as_str()) || self.rules.iter().any(|r| r.role == lower) {
            Ok(())
        } else {
            Err(format!(
                "unknown role {role:?} (built-in roles: admin, operator, viewer; others need an auth.rbac rule)"
            ))
        }
    }
}

impl Rule {
    fn of(r: &RbacRule) -> Rule {
        Rule {
            role: r.role.to_ascii_lowercase(),
            methods: r.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            paths: r.paths.clone(),
        }
    }
}

/// The built-in roles: viewer reads; operator also acts on jobs and runs; admin does all.
fn builtin_rules() -> Vec<Rule> {
    let rule = |role: &str, methods: &[&str], paths: &[&str]| Rule {
        role: role.into(),
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    };
    let read = ["GET", "HEAD", "OPTIONS"];
    vec![
        rule("admin", &["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"], &["*"]),
        rule("operator", &read, &["*"]),
        rule(
            "operator",
            &["POST"],
            &["/api/jobs/*", "/api/runs/*", "/api/alerts/*", "/api/integrations/*"],
        ),
        rule("viewer", &read, &["*"]),
    ]
}

/// `*`, the exact path, or a prefix ending in `*`.
fn path_matches(pattern: &str, path: &str) -> bool {
    pattern == "*"
        || pattern == path
        || pattern.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
}

/// Standard base64 (with or without padding); `None` when it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .ok()
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
