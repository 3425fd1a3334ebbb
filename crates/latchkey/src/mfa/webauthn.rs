//! WebAuthn rules: the relying party built from the settings, the options
//! as browsers' `PublicKeyCredential.parse*OptionsFromJSON` take them, user
//! handles and credential names. The ceremonies' cryptography is
//! webauthn-rs's (origin, RP id hash, challenge, user verification,
//! signature and counter checks); the flows are `state/webauthn.rs`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;
pub use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Uuid, Webauthn,
};
use webauthn_rs::prelude::{Url, WebauthnBuilder};

use crate::settings::WebauthnSettings;

/// How long a ceremony (its challenge) may take, from options to answer.
pub const CEREMONY_TTL: time::Duration = time::Duration::minutes(5);
/// The relying party of `settings`, or `None` when no origin may use it
/// (an `rp_id` that neither `public_url` nor any allowed origin is on).
pub fn relying_party(settings: &WebauthnSettings) -> Option<Webauthn> {
    let mut origins: Vec<Url> = settings.origins.iter().filter_map(|o| Url::parse(&o.to_string()).ok()).collect();
    if settings.any_localhost_port {
        for o in ["http://localhost", "https://localhost"] {
            origins.extend(Url::parse(o).ok());
        }
    }
    let (first, rest) = origins.split_first()?;
    let mut builder = WebauthnBuilder::new(&settings.rp_id, first)
        .ok()?
        .rp_name(&settings.rp_name)
        .allow_any_port(settings.any_localhost_port);
    for o in rest {
        builder = builder.append_allowed_origin(o);
    }
    builder.build().ok()
}

/// The `publicKey` member of registration options, asking for a
/// discoverable credential where the authenticator can keep one (a passkey
/// then signs in without a username) and taking a security key that cannot.
pub fn creation_options(ccr: &CreationChallengeResponse) -> Value {
    let mut options = serde_json::to_value(ccr).map(|mut v| v["publicKey"].take()).unwrap_or(Value::Null);
    if let Some(sel) = options.get_mut("authenticatorSelection").and_then(Value::as_object_mut) {
        sel.insert("residentKey".into(), "preferred".into());
        sel.insert("requireResidentKey".into(), false.into());
    }
    options
}

/// The `publicKey` member of authentication options.
pub fn request_options(rcr: &RequestChallengeResponse) -> Value {
    serde_json::to_value(rcr).map(|mut v| v["publicKey"].take()).unwrap_or(Value::Null)
}

/// A new user handle: random, so an authenticator (or whoever reads it)
/// learns nothing about the account from it.
pub fn new_user_handle() -> Uuid {
    let mut bytes = [0u8; 16];
    crate::crypto::os_random(&mut bytes);
    Uuid::from_bytes(bytes)
}

/// A credential id as stored: base64url without padding.
pub fn encode_credential_id(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{origin::Origin, settings::RawWebauthn};

    fn settings(public_url: Option<&str>, allowed: &[&str]) -> WebauthnSettings {
        let allowed: Vec<Origin> = allowed.iter().map(|o| Origin::parse(o).unwrap()).collect();
        let public_url = public_url.map(|u| Origin::parse(u).unwrap());
        RawWebauthn::default().validate(public_url.as_ref(), &allowed).unwrap()
    }

    #[test]
    fn registration_options_ask_for_a_discoverable_credential_and_user_verification() {
        let rp = relying_party(&settings(Some("https://app.example.com"), &[])).unwrap();
        let (ccr, _) = rp.start_passkey_registration(new_user_handle(), "ada", "Ada", None).unwrap();
        let o = creation_options(&ccr);
        assert_eq!(o["rp"]["id"], "app.example.com");
        assert_eq!(o["authenticatorSelection"]["residentKey"], "preferred");
        assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
        let challenge = o["challenge"].as_str().unwrap();
        assert!(URL_SAFE_NO_PAD.decode(challenge).unwrap().len() >= 16, "a base64url challenge: {challenge}");
        assert!(o.get("publicKey").is_none(), "the inner object, as parseCreationOptionsFromJSON takes it");
    }

    #[test]
    fn without_any_usable_origin_there_is_no_relying_party() {
        let s = RawWebauthn { rp_id: Some("example.com".into()), rp_name: None }.validate(None, &[]).unwrap();
        assert!(relying_party(&s).is_none());
        assert!(relying_party(&settings(None, &[])).is_some(), "localhost, any port");
    }

    #[test]
    fn user_handles_are_random() {
        assert_ne!(new_user_handle(), new_user_handle());
    }
}
