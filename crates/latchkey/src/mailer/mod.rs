//! The mail transports behind `email.backend`: console (printed), file
//! (one `.eml` per message), SMTP (lettre, with STARTTLS or implicit TLS),
//! and memory (kept in the process, for tests). Each turns a
//! [`Mail`] into a real RFC 5322 message with lettre's builder.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::header::ContentType,
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use secrecy::ExposeSecret;

use crate::{
    mail::{DeliveryError, Mail, MailTransport},
    settings::{EmailBackend, EmailSettings, SmtpSettings, SmtpTls},
};

/// The transport `settings` ask for.
///
/// # Errors
/// When the SMTP TLS parameters cannot be built.
pub fn transport_for(settings: &EmailSettings) -> Result<Arc<dyn MailTransport>, DeliveryError> {
    Ok(match &settings.backend {
        EmailBackend::Console => Arc::new(ConsoleTransport { from: settings.from.clone() }),
        EmailBackend::File(dir) => Arc::new(FileTransport { from: settings.from.clone(), dir: dir.clone() }),
        EmailBackend::Smtp(smtp) => Arc::new(SmtpTransport::new(smtp, settings)?),
    })
}

/// The message as it goes on the wire.
///
/// # Errors
/// When an address does not parse (the outbox records it and gives up).
pub fn build_message(from: &str, mail: &Mail) -> Result<Message, DeliveryError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| DeliveryError(format!("{what}: {e}"));
    Message::builder()
        .from(from.parse().map_err(|e| bad("email.from", &e))?)
        .to(mail.to.parse().map_err(|e| bad("recipient", &e))?)
        .subject(&mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| bad("message", &e))
}

/// Prints each message to standard output (development).
#[derive(Debug)]
pub struct ConsoleTransport {
    from: String,
}

#[async_trait::async_trait]
impl MailTransport for ConsoleTransport {
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, mail)?;
        let text = String::from_utf8_lossy(&message.formatted()).into_owned();
        println!(
            "---------- mail (email.backend = console) ----------\n{text}\n----------------------------------------------------"
        );
        Ok(())
    }
}

/// Writes each message to `<dir>/<time>-<random>.eml`.
#[derive(Debug)]
pub struct FileTransport {
    from: String,
    dir: PathBuf,
}

#[async_trait::async_trait]
impl MailTransport for FileTransport {
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, mail)?;
        let io = |e: std::io::Error| DeliveryError(format!("{}: {e}", self.dir.display()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let name = format!(
            "{}-{}.eml",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
            crate::crypto::random_string(8, crate::crypto::SESSION_KEY_CHARS)
        );
        // Written under a temporary name, then renamed: a reader never sees half a message.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, message.formatted()).await.map_err(io)?;
        tokio::fs::rename(&tmp, self.dir.join(name)).await.map_err(io)
    }
}

/// Sends over SMTP with lettre.
pub struct SmtpTransport {
    from: String,
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport").field("from", &self.from).finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// A transport for `smtp`. Credentials are only ever sent over TLS:
    /// with a login configured, `smtp://` requires STARTTLS.
    ///
    /// # Errors
    /// When the TLS parameters cannot be built.
    pub fn new(smtp: &SmtpSettings, settings: &EmailSettings) -> Result<Self, DeliveryError> {
        let params = || TlsParameters::new(smtp.host.clone()).map_err(|e| DeliveryError(format!("TLS: {e}")));
        let tls = match (smtp.tls, smtp.username.is_some()) {
            (SmtpTls::Implicit, _) => Tls::Wrapper(params()?),
            (SmtpTls::Required, _) | (SmtpTls::Opportunistic, true) => Tls::Required(params()?),
            (SmtpTls::Opportunistic, false) => Tls::Opportunistic(params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose_secret().to_owned()));
        }
        Ok(Self { from: settings.from.clone(), inner: builder.build() })
    }
}

#[async_trait::async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, mail)?;
        self.inner.send(message).await.map(|_| ()).map_err(|e| DeliveryError(format!("SMTP: {e}")))
    }
}

/// Keeps each message in memory: for tests and examples.
#[derive(Debug, Default, Clone)]
pub struct MemoryTransport {
    sent: Arc<Mutex<Vec<Mail>>>,
}

impl MemoryTransport {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait::async_trait]
impl MailTransport for MemoryTransport {
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError> {
        build_message("Latchkey <noreply@localhost>", mail)?;
        self.sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(mail.clone());
        Ok(())
    }
}
