//! The cases of Husky-Go's `auth_test.go`, with roles that really apply.

use super::*;
use crate::config::BasicUser;

fn bearer_file(lines: &str) -> (Auth, PathBuf) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("husky-tokens-{}-{n}", std::process::id()));
    std::fs::write(&path, lines).expect("write tokens");
    let cfg = AuthConfig { kind: AuthType::Bearer, ..config() };
    (Auth::new(&cfg, Some(path.clone()), None).expect("auth"), path)
}

fn config() -> AuthConfig {
    AuthConfig {
        kind: AuthType::None,
        token_file: None,
        token: None,
        users: Vec::new(),
        oidc: Default::default(),
        rbac: Vec::new(),
    }
}

fn unauthenticated(message: &'static str, challenge: &'static str) -> Result<Identity, Denied> {
    Err(Denied::Unauthenticated { message, challenge })
}

const BEARER: &str = "Bearer realm=\"husky\"";
const BASIC: &str = "Basic realm=\"husky\"";

#[test]
fn bearer_accepts_a_listed_token_by_header_or_query_and_refuses_others() {
    let (auth, path) = bearer_file("# ops\n\nsecret-1\nsecret-2 viewer\n");
    let who = auth.identify(false, Some("Bearer secret-1"), None).expect("valid");
    assert_eq!(who.role, "admin", "no role on the line: admin, as in Husky-Go");
    assert_eq!(auth.identify(false, None, Some("secret-2")).expect("query").role, "viewer");
    assert_eq!(
        auth.identify(false, Some("Bearer nope"), None),
        unauthenticated("invalid token", BEARER)
    );
    assert_eq!(auth.identify(false, None, None), unauthenticated("authorization required", BEARER));
    assert_eq!(
        auth.identify(false, Some("Basic c2VjcmV0LTE="), None),
        unauthenticated("authorization required", BEARER),
        "only the exact Bearer prefix counts"
    );
    assert_eq!(auth.identify(true, None, None).expect("socket").role, "admin");
    assert!(
        auth.check(false, "OPTIONS", "/api/jobs", None, None).is_ok(),
        "preflight bypasses auth"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn the_token_file_is_read_again_on_reload_and_a_bad_one_keeps_the_tokens_in_force() {
    let (auth, path) = bearer_file("old\n");
    std::fs::write(&path, "new operator\n").expect("rewrite");
    assert_eq!(auth.reload(), Ok(1));
    assert!(auth.identify(false, Some("Bearer old"), None).is_err());
    assert_eq!(auth.identify(false, Some("Bearer new"), None).expect("new").role, "operator");
    std::fs::write(&path, "new wizard\n").expect("rewrite");
    let err = auth.reload().expect_err("unknown role");
    assert!(err.contains(":1: unknown role \"wizard\""), "{err}");
    assert!(auth.identify(false, Some("Bearer new"), None).is_ok(), "the old tokens stay");
    std::fs::write(&path, "# nothing\n").expect("rewrite");
    assert!(auth.reload().expect_err("empty").contains("has no token"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn bearer_without_any_token_or_with_an_unreadable_file_is_a_startup_error() {
    let cfg = AuthConfig { kind: AuthType::Bearer, ..config() };
    let err = Auth::new(&cfg, None, None).expect_err("no tokens");
    assert!(err.contains("neither auth.bearer.token_file nor auth.bearer.token"), "{err}");
    let missing = std::env::temp_dir().join("husky-no-such-token-file");
    let err = Auth::new(&cfg, Some(missing), None).expect_err("unreadable");
    assert!(err.contains("cannot read auth.bearer.token_file"), "{err}");
    let inline = AuthConfig { token: Some(" inline ".into()), ..cfg };
    let auth = Auth::new(&inline, None, None).expect("inline token");
    assert_eq!(auth.identify(false, Some("Bearer inline"), None).expect("ok").role, "admin");
}

#[test]
fn basic_checks_bcrypt_hashes_and_says_why_it_refuses() {
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let cfg = AuthConfig {
        kind: AuthType::Basic,
        users: vec![
            BasicUser { username: "ann".into(), password_hash: hash.clone(), role: None },
            BasicUser { username: "vic".into(), password_hash: hash, role: Some("Viewer".into()) },
        ],
        ..config()
    };
    let auth = Auth::new(&cfg, None, None).expect("auth");
    let header = |user_pass: &str| {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    };
    let ann = auth.identify(false, Some(&header("ann:s3cret")), None).expect("valid");
    assert_eq!((ann.role.as_str(), ann.name.as_str()), ("admin", "ann"));
    // Remembered: the same header again gives the same identity.
    assert_eq!(auth.identify(false, Some(&header("ann:s3cret")), None), Ok(ann));
    assert_eq!(
        auth.identify(false, Some(&header("vic:s3cret")), None).expect("vic").role,
        "viewer"
    );
    let bad = unauthenticated("invalid credentials", BASIC);
    assert_eq!(auth.identify(false, Some(&header("ann:wrong")), None), bad);
    assert_eq!(auth.identify(false, Some(&header("bob:s3cret")), None), bad);
    assert_eq!(auth.identify(false, Some("Basic !!!"), None), bad);
    let missing = unauthenticated("authorization required", BASIC);
    assert_eq!(auth.identify(false, None, None), missing);
    assert_eq!(auth.identify(false, Some(&header(":s3cret")), None), missing);
}

#[test]
fn builtin_roles_viewer_reads_operator_acts_admin_does_all() {
    let (auth, path) = bearer_file("v viewer\no operator\na admin\n");
    let may = |token: &str, method: &str, path: &str| {
        let header = format!("Bearer {token}");
        match auth.check(false, method, path, Some(&header), None) {
            Ok(_) => 200,
            Err(Denied::Unauthenticated { .. }) => 401,
            Err(Denied::Forbidden { .. }) => 403,
        }
    };
    assert_eq!(may("v", "GET", "/api/jobs"), 200);
    assert_eq!(may("v", "POST", "/api/jobs/etl/run"), 403);
    assert_eq!(may("o", "POST", "/api/jobs/etl/run"), 200);
    assert_eq!(may("o", "POST", "/api/jobs/pause"), 200);
    assert_eq!(may("o", "POST", "/api/runs/7/cancel"), 200);
    assert_eq!(may("o", "POST", "/api/daemon/reload"), 403);
    assert_eq!(may("o", "POST", "/api/config/save"), 403);
    assert_eq!(may("o", "POST", "/api/daemon/stop"), 403);
    assert_eq!(may("a", "POST", "/api/daemon/stop"), 200);
    assert_eq!(may("a", "DELETE", "/api/anything"), 200);
    assert_eq!(may("x", "GET", "/api/jobs"), 401);
    let _ = std::fs::remove_file(path);
}

#[test]
fn rbac_rules_replace_the_builtins_and_may_name_their_own_roles() {
    let dir = std::env::temp_dir().join(format!("husky-rbac-{}", std::process::id()));
    std::fs::write(&dir, "d deployer\na admin\n").expect("write");
    let cfg = AuthConfig {
        kind: AuthType::Bearer,
        rbac: vec![
            RbacRule {
                role: "Deployer".into(),
                methods: vec!["get".into(), "POST".into()],
                paths: vec!["/api/jobs/deploy*".into(), "/api/status".into()],
            },
            RbacRule { role: "admin".into(), methods: vec!["GET".into()], paths: vec!["*".into()] },
        ],
        ..config()
    };
    let auth = Auth::new(&cfg, Some(dir.clone()), None).expect("auth");
    assert!(auth.allows("deployer", "POST", "/api/jobs/deploy-web/run"));
    assert!(auth.allows("DEPLOYER", "GET", "/api/status"));
    assert!(!auth.allows("deployer", "GET", "/api/jobs"), "not exact, not under the prefix");
    assert!(!auth.allows("admin", "POST", "/api/daemon/stop"), "rules replace the built-ins");
    assert!(!auth.allows("viewer", "GET", "/api/jobs"), "no built-in viewer any more");
    let _ = std::fs::remove_file(dir);
}

#[test]
fn none_lets_everyone_in_as_admin_and_the_local_token_is_admin_under_any_scheme() {
    let auth = Auth::new(&config(), None, Some("local-1".into())).expect("auth");
    assert_eq!(
        auth.check(false, "POST", "/api/daemon/stop", None, None).expect("ok").role,
        "admin"
    );
    let (bearer, path) = bearer_file("v viewer\n");
    let with_local = Auth::new(
        &AuthConfig { kind: AuthType::Bearer, ..config() },
        Some(path.clone()),
        Some("local-1".into()),
    )
    .expect("auth");
    let who = with_local.check(false, "POST", "/api/daemon/stop", Some("Bearer local-1"), None);
    assert_eq!(who.expect("local").name, "local token");
    assert!(bearer.check(false, "GET", "/api/status", Some("Bearer local-1"), None).is_err());
    let _ = std::fs::remove_file(path);
}

#[test]
fn an_unknown_role_of_a_basic_user_is_a_startup_error() {
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let cfg = AuthConfig {
        kind: AuthType::Basic,
        users: vec![BasicUser {
            username: "z".into(),
            password_hash: hash,
            role: Some("root".into()),
        }],
        ..config()
    };
    let err = Auth::new(&cfg, None, None).expect_err("unknown role");
    assert!(err.contains("auth.basic.users \"z\": unknown role \"root\""), "{err}");
}
