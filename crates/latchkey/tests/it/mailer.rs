//! The SMTP transport against a real SMTP server (the test sink, which
//! offers no STARTTLS): mail goes out without credentials, and credentials
//! are never sent without TLS.

use std::time::Duration;

use latchkey::{
    mail::Mail,
    mailer::transport_for,
    settings::RawEmail,
    testing::{SmtpSink, smtp::header},
};

fn smtp(url: &str, username: Option<&str>) -> latchkey::settings::EmailSettings {
    let email = RawEmail {
        backend: Some("smtp".into()),
        smtp_url: Some(url.into()),
        smtp_username: username.map(Into::into),
        smtp_password: username.map(|_| "a-secret".into()),
        timeout: Some(2),
        ..RawEmail::default()
    };
    crate::helpers::settings_for(latchkey::settings::Preset::Embedded, |raw| raw.email = email).email
}

fn mail() -> Mail {
    Mail { to: "someone@example.com".into(), subject: "Hello".into(), body: "Text.".into() }
}

#[tokio::test]
async fn without_credentials_mail_goes_over_plain_smtp_to_a_server_without_starttls() {
    let sink = SmtpSink::start().await;
    transport_for(&smtp(&sink.url(), None)).unwrap().send(&mail()).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (got[0].to.as_slice(), header(&got[0].data, "Subject")),
        (&["someone@example.com".to_owned()][..], Some("Hello"))
    );
}

#[tokio::test]
async fn credentials_are_never_sent_without_tls() {
    let sink = SmtpSink::start().await;
    for url in [sink.url(), format!("{}?tls=required", sink.url())] {
        let err = transport_for(&smtp(&url, Some("user"))).unwrap().send(&mail()).await.unwrap_err();
        assert!(err.0.contains("SMTP"), "{url}: {err}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let commands = sink.commands();
    assert!(commands.contains(&"EHLO".to_owned()), "the client did connect: {commands:?}");
    assert!(!commands.contains(&"AUTH".to_owned()), "credentials went out in the clear: {commands:?}");
    assert!(sink.received().is_empty(), "nothing was delivered");
}
