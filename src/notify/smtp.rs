//! The `smtp` provider: one plain-text email per notification, sent with lettre's blocking SMTP
//! transport (rustls with ring for STARTTLS and implicit TLS; no pool, one connection a send).

use std::error::Error as _;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};

use crate::clock::{Clock, SystemClock};
use crate::config::Integration;

/// The port used when an integration gives none (port 0): submission with STARTTLS.
const DEFAULT_PORT: u16 = 587;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No TLS at all (a relay on this machine).
    Plain,
    /// STARTTLS, required: the send fails if the server does not offer it.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

/// Chooses: port 465 → Implicit; loopback host (localhost, 127.0.0.0/8, ::1) on another port →
/// Plain; anything else → StartTls (required: fail if the server does not offer it). Port 0
/// means 587.
pub fn security(host: &str, port: u16) -> Security {
    let port = if port == 0 { DEFAULT_PORT } else { port };
    if port == 465 {
        Security::Implicit
    } else if is_loopback(host) {
        Security::Plain
    } else {
        Security::StartTls
    }
}

/// `localhost` (with or without a final dot), or a loopback address (`[::1]` accepted).
fn is_loopback(host: &str) -> bool {
    let host = bare_host(host);
    host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case("localhost.")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host without the brackets of an IPv6 literal.
fn bare_host(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// One email.
#[derive(Debug, Clone, Copy)]
pub struct Email<'a> {
    /// The recipient's address (`a@example.com` or `Name <a@example.com>`).
    pub to: &'a str,
    /// The subject line.
    pub subject: &'a str,
    /// The plain-text body (UTF-8).
    pub body: &'a str,
}

/// Sends one email through integration `i` (a `crate::config::Integration` with provider Smtp:
/// host, port (0 → 587), username, password, from). AUTH (PLAIN/LOGIN as lettre chooses) only
/// when username or password is set. `timeout` bounds connect and each SMTP command.
/// `ca_bundle`: an optional PEM file whose certificates are trusted instead of the built-in web
/// roots. Errors are one human line, e.g. "smtp smtp.example.com:587: connection refused", and
/// never contain the password.
pub fn send(
    i: &Integration,
    mail: &Email<'_>,
    timeout: Duration,
    ca_bundle: Option<&Path>,
) -> Result<(), String> {
    let host = i.host.as_deref().map(str::trim).unwrap_or_default();
    let port = if i.port == 0 { DEFAULT_PORT } else { i.port };
    let at = format!("smtp {host}:{port}");
    let password = set(i.password.as_deref());
    // Every message goes through here: nothing the server echoes can leak the password.
    let fail = |what: String| {
        let line = format!("{at}: {what}").replace(['\r', '\n'], " ");
        match password {
            Some(p) => line.replace(p, "***"),
            None => line,
        }
    };
    if host.is_empty() {
        return Err(fail("no host configured".into()));
    }
    let message = message(i, mail).map_err(fail)?;
    let tls = match security(host, port) {
        Security::Plain => Tls::None,
        Security::StartTls => Tls::Required(tls_parameters(host, ca_bundle).map_err(fail)?),
        Security::Implicit => Tls::Wrapper(tls_parameters(host, ca_bundle).map_err(fail)?),
    };
    let mut builder = SmtpTransport::builder_dangerous(bare_host(host))
        .port(port)
        .tls(tls)
        .timeout(Some(timeout));
    let username = set(i.username.as_deref());
    if username.is_some() || password.is_some() {
        builder = builder.credentials(Credentials::new(
            username.unwrap_or_default().to_owned(),
            password.unwrap_or_default().to_owned(),
        ));
    }
    builder.build().send(&message).map(drop).map_err(|e| fail(describe(&e, timeout)))
}

/// A configured value that is not blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// The message: From, To, Subject, Date, Message-ID and a plain-text UTF-8 body.
fn message(i: &Integration, mail: &Email<'_>) -> Result<Message, String> {
    let from_text = i.from.as_deref().map(str::trim).unwrap_or_default();
    if from_text.is_empty() {
        return Err("no sender address (from) configured".into());
    }
    let from = from_text
        .parse::<Mailbox>()
        .map_err(|e| format!("invalid sender address {from_text:?}: {}", lower(&e.to_string())))?;
    let to = mail.to.trim().parse::<Mailbox>().map_err(|e| {
        format!("invalid recipient address {:?}: {}", mail.to, lower(&e.to_string()))
    })?;
    let id =
        format!("<{:016x}{:016x}@{}>", fastrand::u64(..), fastrand::u64(..), from.email.domain());
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject)
        .date(SystemTime::from(SystemClock.now_utc()))
        .message_id(Some(id))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.to_owned())
        .map_err(|e| format!("cannot build the message: {}", lower(&e.to_string())))
}

/// rustls parameters for `host`: the web roots, or only the certificates of `ca_bundle`.
fn tls_parameters(host: &str, ca_bundle: Option<&Path>) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(bare_host(host).to_owned());
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            format!("cannot read the CA bundle {}: {}", path.display(), io_reason(&e))
        })?;
        let bad = || format!("the CA bundle {} holds no PEM certificate", path.display());
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(bad());
        }
        let certs = Certificate::from_pem(&pem).map_err(|_| bad())?;
        builder = builder.certificate_store(CertificateStore::None).add_root_certificate(certs);
    } else {
        builder = builder.certificate_store(CertificateStore::WebpkiRoots);
    }
    builder.build_rustls().map_err(|e| format!("cannot set up TLS: {}", describe_chain(&e)))
}

/// One human line for a failed send: the server's reply, the network's reason, or lettre's.
fn describe(e: &lettre::transport::smtp::Error, timeout: Duration) -> String {
    if let Some(code) = e.status() {
        let text = e.source().map(ToString::to_string).unwrap_or_default();
        return format!("server replied {code} {text}").trim_end().to_owned();
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            // A socket read timeout is WouldBlock on Unix, TimedOut elsewhere.
            if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
                let t = time::Duration::try_from(timeout).unwrap_or(time::Duration::MAX);
                return format!("timed out after {}", crate::config::format_duration(t));
            }
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return format!("TLS failed: {tls}");
            }
            return io_reason(io);
        }
        source = s.source();
    }
    if e.is_client()
        && let Some(s) = e.source()
    {
        // "STARTTLS is not supported on this server", "No compatible authentication ...".
        return lower(&s.to_string());
    }
    if e.is_tls() {
        return format!("TLS failed: {}", describe_chain(e.source().unwrap_or(e)));
    }
    describe_chain(e)
}

/// An error and its sources, joined with ": ", first letter lowercased.
fn describe_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    lower(&text)
}

/// An I/O error without the "(os error N)" suffix, lowercased: "connection refused".
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    lower(text)
}

/// The first letter lowercased (messages are lowercase), unless the word is an acronym.
fn lower(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if !second.is_uppercase() => {
            first.to_lowercase().chain(text[first.len_utf8()..].chars()).collect()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread::JoinHandle;

    use crate::config::Provider;

    /// What the fake server was told.
    #[derive(Debug, Default)]
    struct Seen {
        /// `(mechanism, username, password)` of each AUTH.
        auth: Vec<(String, String, String)>,
        mail_from: String,
        rcpt_to: Vec<String>,
        /// The DATA, dot-unstuffed, CRLF line ends.
        data: String,
    }

    /// A one-connection SMTP server on 127.0.0.1: it advertises `auth` (e.g. "PLAIN LOGIN"; no
    /// STARTTLS), answers RCPT TO with `rcpt_reply`, and returns what it saw once the client
    /// quits or hangs up. Reads time out after 10 s, so a broken client fails the test.
    fn fake_server(auth: &'static str, rcpt_reply: &'static str) -> (u16, JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            serve(stream, auth, rcpt_reply)
        });
        (port, handle)
    }

    fn serve(stream: TcpStream, auth: &str, rcpt_reply: &str) -> Seen {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let unb64 = |s: &str| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim()).unwrap();
            String::from_utf8(bytes).unwrap()
        };
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines().map_while(Result::ok);
        let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).unwrap();
        let mut seen = Seen::default();
        say("220 fake ESMTP");
        while let Some(line) = lines.next() {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                say(&format!("250-fake\r\n250 AUTH {auth}"));
            } else if let Some(plain) = upper.strip_prefix("AUTH PLAIN ").map(|_| &line[11..]) {
                let decoded = unb64(plain);
                let mut parts = decoded.split('\0').skip(1);
                let (u, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                seen.auth.push(("PLAIN".into(), u.into(), p.into()));
                say("235 2.7.0 accepted");
            } else if upper == "AUTH LOGIN" {
                say(&format!("334 {}", b64("Username:")));
                let user = unb64(&lines.next().unwrap_or_default());
                say(&format!("334 {}", b64("Password:")));
                let pass = unb64(&lines.next().unwrap_or_default());
                seen.auth.push(("LOGIN".into(), user, pass));
                say("235 2.7.0 accepted");
            } else if upper.starts_with("MAIL FROM:") {
                seen.mail_from = line[10..].trim().to_owned();
                say("250 ok");
            } else if upper.starts_with("RCPT TO:") {
                seen.rcpt_to.push(line[8..].trim().to_owned());
                say(rcpt_reply);
            } else if upper == "DATA" {
                say("354 go on");
                for l in lines.by_ref().take_while(|l| l != ".") {
                    seen.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    seen.data.push_str("\r\n");
                }
                say("250 queued");
            } else if upper == "QUIT" {
                say("221 bye");
                break;
            } else {
                say(if upper == "RSET" { "250 ok" } else { "502 not implemented" });
            }
        }
        seen
    }

    fn integration(port: u16, user: Option<&str>, password: Option<&str>) -> Integration {
        Integration {
            provider: Provider::Smtp,
            webhook_url: None,
            routing_key: None,
            host: Some("127.0.0.1".into()),
            port,
            username: user.map(Into::into),
            password: password.map(Into::into),
            from: Some("Husky <husky@example.com>".into()),
            secret: None,
            url: None,
        }
    }

    const MAIL: Email<'static> = Email {
        to: "ops@example.org",
        subject: "[husky] backup failed",
        body: "Job backup failed with exit code 3.\n.dot line\n",
    };
    const T: Duration = Duration::from_secs(5);

    #[test]
    fn sends_envelope_headers_and_body_without_auth() {
        let (port, server) = fake_server("PLAIN LOGIN", "250 ok");
        send(&integration(port, None, None), &MAIL, T, None).unwrap();
        let seen = server.join().unwrap();
        assert!(seen.auth.is_empty(), "{:?}", seen.auth);
        assert_eq!(seen.mail_from, "<husky@example.com>");
        assert_eq!(seen.rcpt_to, ["<ops@example.org>"]);
        let d = &seen.data;
        assert!(d.contains("From: Husky <husky@example.com>\r\n"), "{d}");
        assert!(d.contains("To: ops@example.org\r\n"), "{d}");
        assert!(d.contains("Subject: [husky] backup failed\r\n"), "{d}");
        assert!(d.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{d}");
        assert!(d.contains("Date: "), "{d}");
        assert!(d.contains("Message-ID: <") && d.contains("@example.com>\r\n"), "{d}");
        assert!(d.contains("\r\n\r\nJob backup failed with exit code 3.\r\n.dot line\r\n"), "{d}");
    }

    #[test]
    fn authenticates_with_plain_or_login_when_a_username_is_set() {
        for (mechanism, password) in [("PLAIN", "s3cret pw"), ("LOGIN", "hunter2")] {
            let (port, server) = fake_server(mechanism, "250 ok");
            send(&integration(port, Some("husky"), Some(password)), &MAIL, T, None).unwrap();
            let seen = server.join().unwrap();
            assert_eq!(seen.auth, [(mechanism.into(), "husky".into(), password.into())]);
            assert_eq!(seen.rcpt_to, ["<ops@example.org>"]);
        }
    }

    #[test]
    fn a_refused_connection_is_one_readable_line_without_the_password() {
        // A port that was free a moment ago: nothing listens there any more.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let i = integration(port, Some("husky"), Some("hunter2"));
        let err = send(&i, &MAIL, T, None).unwrap_err();
        assert_eq!(err, format!("smtp 127.0.0.1:{port}: connection refused"));
    }

    #[test]
    fn a_silent_server_times_out() {
        // The kernel completes the connection; nobody ever says hello.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let i = integration(port, None, None);
        let err = send(&i, &MAIL, Duration::from_millis(200), None).unwrap_err();
        assert_eq!(err, format!("smtp 127.0.0.1:{port}: timed out after 200ms"));
    }

    #[test]
    fn a_rejected_recipient_names_the_reply() {
        let (port, server) = fake_server("PLAIN", "550 5.1.1 no such user here");
        let err = send(&integration(port, None, None), &MAIL, T, None).unwrap_err();
        assert_eq!(
            err,
            format!("smtp 127.0.0.1:{port}: server replied 550 5.1.1 no such user here")
        );
        server.join().unwrap();
    }

    #[test]
    fn invalid_addresses_are_named() {
        let mut i = integration(1, None, None);
        let bad = Email { to: "not an address", ..MAIL };
        let err = send(&i, &bad, T, None).unwrap_err();
        assert!(err.contains("invalid recipient address \"not an address\""), "{err}");
        i.from = Some("husky-at-example".into());
        let err = send(&i, &MAIL, T, None).unwrap_err();
        assert!(err.contains("invalid sender address \"husky-at-example\""), "{err}");
    }

    #[test]
    fn an_unreadable_ca_bundle_is_named() {
        let mut i = integration(587, None, None);
        i.host = Some("smtp.example.com".into());
        let err = send(&i, &MAIL, T, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.starts_with("smtp smtp.example.com:587: cannot read the CA bundle"), "{err}");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn security_follows_port_and_host() {
        let check = |host: &str, port: u16, want: Security| {
            assert_eq!(security(host, port), want, "{host}:{port}");
        };
        check("smtp.example.com", 465, Security::Implicit);
        check("localhost", 465, Security::Implicit);
        check("smtp.example.com", 587, Security::StartTls);
        check("smtp.example.com", 0, Security::StartTls);
        check("smtp.example.com", 25, Security::StartTls);
        check("10.0.0.5", 25, Security::StartTls);
        check("localhost", 25, Security::Plain);
        check("LocalHost", 0, Security::Plain);
        check("127.0.0.1", 1025, Security::Plain);
        check("127.8.9.10", 587, Security::Plain);
        check("::1", 25, Security::Plain);
        check("[::1]", 2525, Security::Plain);
        check("localhost.example.com", 25, Security::StartTls);
        check("128.0.0.1", 25, Security::StartTls);
    }
}
