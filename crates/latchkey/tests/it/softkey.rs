//! A software authenticator for the WebAuthn tests: a P-256 key that
//! answers registration and sign-in options as a browser's
//! `PublicKeyCredential.toJSON()` would, with "none" attestation, user
//! presence and verification, and a signature counter. Each part of an
//! answer can be spoiled to prove the server checks it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ORIGIN: &str = "http://localhost:8000";

#[derive(Clone)]
pub struct SoftKey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The user handle the credential was created for (a discoverable credential keeps it).
    pub user_handle: Vec<u8>,
    pub counter: u32,
    pub rp_id: String,
    pub origin: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A CBOR major-type header (only the sizes these structures need).
fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=255 => out.extend([m | 24, len as u8]),
        _ => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
    }
}

fn cbor_text(s: &str, out: &mut Vec<u8>) {
    cbor_head(3, s.len(), out);
    out.extend(s.as_bytes());
}

fn cbor_bytes(b: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, b.len(), out);
    out.extend(b);
}

impl SoftKey {
    pub fn new() -> Self {
        let mut secret = [0u8; 32];
        let mut id = vec![0u8; 32];
        getrandom::fill(&mut secret).unwrap();
        getrandom::fill(&mut id).unwrap();
        SoftKey {
            key: SigningKey::from_slice(&secret).expect("a random scalar is a key"),
            credential_id: id,
            user_handle: Vec::new(),
            counter: 0,
            rp_id: "localhost".into(),
            origin: ORIGIN.into(),
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let (x, y) = (&bytes[1..33], &bytes[33..65]);
        // {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(x, &mut out);
        out.push(0x22);
        cbor_bytes(y, &mut out);
        out
    }

    fn auth_data(&self, flags: u8, attested: bool) -> Vec<u8> {
        let mut out = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        out.push(flags);
        out.extend(self.counter.to_be_bytes());
        if attested {
            out.extend([0u8; 16]);
            out.extend((self.credential_id.len() as u16).to_be_bytes());
            out.extend(&self.credential_id);
            out.extend(self.cose_key());
        }
        out
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create()` for these creation options.
    pub fn create(&mut self, options: &Value) -> Value {
        let challenge = options["challenge"].as_str().expect("a challenge");
        self.user_handle = URL_SAFE_NO_PAD.decode(options["user"]["id"].as_str().expect("a user id")).unwrap();
        let client_data = self.client_data("webauthn.create", challenge);
        // UP | UV | AT
        let auth_data = self.auth_data(0x45, true);
        let mut att = vec![0xa3];
        cbor_text("fmt", &mut att);
        cbor_text("none", &mut att);
        cbor_text("attStmt", &mut att);
        att.push(0xa0);
        cbor_text("authData", &mut att);
        cbor_bytes(&auth_data, &mut att);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&att),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get()` for these request options; the counter moves on.
    pub fn get(&mut self, options: &Value) -> Value {
        self.counter += 1;
        self.assert_with(options, 0x05)
    }

    /// An assertion with the given flags (0x05: UP | UV) and the current counter.
    pub fn assert_with(&self, options: &Value, flags: u8) -> Value {
        let challenge = options["challenge"].as_str().expect("a challenge");
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data(flags, false);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: DerSignature = self.key.sign(&signed);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_bytes()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
