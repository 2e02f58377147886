//! The configuration routes: the dashboard's settings (`GET /api/config`), the husky.yaml and
//! huskyd.yaml texts, and editing husky.yaml from the API (`POST /api/config/validate` and
//! `/api/config/save`, admin only). A save validates, writes atomically (a temporary file
//! renamed over the old one, which is kept as `husky.yaml.bak`) and reloads; when the reload
//! fails the configuration in force keeps running and the answer says why.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use super::Context;
use super::routes::{Answer, ApiError, Out};
use crate::config::{EnvSource, Loaded, Severity};
use crate::engine::core::Reply;

/// `GET /api/config`: what the dashboard needs to draw itself.
pub fn dashboard(ctx: &Context) -> Answer {
    let d = &ctx.daemon;
    let url = ctx.api_url.lock().ok().and_then(|u| u.clone());
    Ok(Out::Json(
        200,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "title": d.dashboard.title.clone().unwrap_or_else(|| "husky".into()),
            "accent_color": d.dashboard.accent_color,
            "enabled": d.dashboard.enabled,
            "log_backfill_lines": d.dashboard.log_backfill_lines,
            "poll_interval_ms": d.dashboard.poll_interval.whole_milliseconds(),
            "base_path": d.api.base_path,
            "auth": auth_name(d.auth.kind),
            "api_url": url,
        }),
    ))
}

fn auth_name(kind: crate::config::AuthType) -> &'static str {
    match kind {
        crate::config::AuthType::None => "none",
        crate::config::AuthType::Bearer => "bearer",
        crate::config::AuthType::Basic => "basic",
    }
}

/// `GET /api/config/file`: husky.yaml as it is on disk.
pub fn husky_file(ctx: &Context) -> Answer {
    file_text(&ctx.husky_yaml)
}

/// `GET /api/config/daemon`: huskyd.yaml as it is on disk (admin only: it may hold
/// credentials).
pub fn daemon_file(ctx: &Context, role: &str) -> Answer {
    admin_only(role, "reading huskyd.yaml")?;
    match &ctx.daemon.path {
        Some(p) => file_text(p),
        None => Err(ApiError::not_found("no huskyd.yaml found (the daemon runs on defaults)")),
    }
}

fn file_text(path: &Path) -> Answer {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ApiError::new(500, format!("cannot read {}: {e}", path.display())))?;
    Ok(Out::Json(200, json!({ "path": path.display().to_string(), "yaml": text })))
}

/// `POST /api/config/validate` with `{"yaml": "..."}`: husky.yaml's rules (and the DAG) on the
/// text, as `{"ok", "errors", "warnings"}` (each with line, column, job, field and hint).
pub fn validate(ctx: &Context, role: &str, body: &str) -> Answer {
    admin_only(role, "validating a configuration")?;
    let text = yaml_of(body)?;
    let loaded = check(ctx, &text)?;
    Ok(Out::Json(200, verdict(&loaded)))
}

/// `POST /api/config/save` with `{"yaml": "..."}`: validates, writes husky.yaml atomically
/// (the old file kept as `husky.yaml.bak`), then reloads.
pub fn save(ctx: &Context, role: &str, body: &str) -> Answer {
    admin_only(role, "saving the configuration")?;
    let text = yaml_of(body)?;
    let loaded = check(ctx, &text)?;
    if loaded.value.is_none() {
        return Ok(Out::Json(200, verdict(&loaded)));
    }
    write_atomically(&ctx.husky_yaml, &text).map_err(|e| {
        ApiError::new(500, format!("cannot save {}: {e}", ctx.husky_yaml.display()))
    })?;
    ctx.log.info(&format!("api: {} saved; reloading", ctx.husky_yaml.display()));
    let answer = ctx.reloader.reload(|cmd| ctx.ask(cmd));
    let failed = |why: String| {
        let mut v = verdict(&loaded);
        v["ok"] = json!(false);
        v["saved"] = json!(true);
        v["error"] =
            json!(format!("saved but reload failed: {why}; the configuration in force stays"));
        Ok(Out::Json(200, v))
    };
    match answer {
        Ok(Ok(Reply::Done(message))) => {
            let mut v = verdict(&loaded);
            v["saved"] = json!(true);
            v["message"] = json!(message);
            Ok(Out::Json(200, v))
        }
        Ok(Ok(Reply::Error(why) | Reply::Conflict(why))) => failed(why),
        Ok(Ok(other)) => failed(format!("unexpected answer {other:?}")),
        Ok(Err(e)) => failed(e.message),
        Err(errors) => failed(errors.join("; ")),
    }
}

fn admin_only(role: &str, what: &str) -> Result<(), ApiError> {
    if role == "admin" {
        Ok(())
    } else {
        Err(ApiError::new(403, format!("forbidden: {what} needs the admin role")))
    }
}

/// The `yaml` of a JSON body.
fn yaml_of(body: &str) -> Result<String, ApiError> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    match v.get("yaml") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ApiError::bad("the body needs \"yaml\": the husky.yaml text")),
    }
}

/// Validates `text` as the husky.yaml of the daemon (its `.env` and relative paths apply).
fn check(ctx: &Context, text: &str) -> Result<Loaded<crate::config::Config>, ApiError> {
    let dir = ctx.husky_yaml.parent().unwrap_or(Path::new("."));
    let env = EnvSource::load(dir).map_err(|e| {
        ApiError::new(500, format!("cannot read {}: {e}", dir.join(".env").display()))
    })?;
    Ok(crate::config::validate_husky(&ctx.husky_yaml, text, &env))
}

fn verdict(loaded: &Loaded<crate::config::Config>) -> Value {
    let pick = |sev: Severity| -> Vec<Value> {
        loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == sev)
            .map(crate::config::Diagnostic::json)
            .collect()
    };
    let errors: Vec<String> = loaded.errors().map(ToString::to_string).collect();
    let mut v = json!({
        "ok": loaded.value.is_some(),
        "errors": pick(Severity::Error),
        "warnings": pick(Severity::Warning),
    });
    if !errors.is_empty() {
        v["error"] = json!(errors.join("\n"));
    }
    v
}

/// Writes `text` to `path` through a temporary file in the same directory, synced and renamed
/// over it; the previous file is copied to `<name>.bak` first. The file keeps its permissions.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.saving-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
            std::fs::copy(path, path.with_file_name(format!("{name}.bak")))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
