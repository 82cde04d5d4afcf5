//! Connection tokens: short-lived EdDSA (Ed25519) JWTs minted by the desktop.
//!
//! Every connection to an agent presents one in `Authorization: Bearer <token>`. The agent knows
//! the installation's public key (from its configuration) and accepts a token only if:
//! - the header is exactly an EdDSA JWT (`alg: EdDSA`; `typ`, if present, `JWT`; no other fields
//!   but `kid`) — `none`, HMAC and every other algorithm are refused;
//! - the signature verifies under the installation key (strict Ed25519 verification);
//! - `aud` is the audience of the endpoint being opened and `workspace` is the agent's workspace;
//! - the lifetime `exp - iat` is at most [`MAX_LIFETIME_SECS`], `iat` is not in the future and
//!   `exp` (and `nbf`, if present) hold, each with [`LEEWAY_SECS`] of clock skew allowed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest a token may live.
pub const MAX_LIFETIME_SECS: i64 = 300;

/// The clock skew tolerated in each time check.
pub const LEEWAY_SECS: i64 = 30;

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a token may be used for. Each endpoint demands its own audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The enrollment endpoint.
    Enroll,
    /// A session.
    Session,
}

impl Audience {
    /// The `aud` claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enroll => "sam-agent:enroll",
            Self::Session => "sam-agent:session",
        }
    }
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The audience.
    pub aud: String,
    /// The workspace this token is for.
    pub workspace: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// Why a token was refused. The agent logs it; the client only ever sees a bare 401.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Not three base64url parts of valid JSON, or over [`MAX_TOKEN_LEN`].
    #[error("malformed token")]
    Malformed,
    /// Any algorithm but EdDSA, or an unexpected header field.
    #[error("unacceptable token header")]
    Header,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// Wrong `aud`.
    #[error("wrong audience {0:?}")]
    Audience(String),
    /// Wrong `workspace`.
    #[error("token is for workspace {0:?}")]
    Workspace(String),
    /// `exp` has passed.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `iat` or `nbf` is in the future.
    #[error("token not yet valid (now {now})")]
    NotYetValid {
        /// The verifier's clock.
        now: i64,
    },
    /// `exp - iat` exceeds [`MAX_LIFETIME_SECS`].
    #[error("token lifetime of {0} s exceeds the limit")]
    LifetimeTooLong(i64),
}

/// Signs a token for `audience` and `workspace`, valid from `now` for `lifetime_secs`.
pub fn mint(
    key: &SigningKey,
    audience: Audience,
    workspace: &str,
    now: i64,
    lifetime_secs: i64,
) -> String {
    let claims = Claims {
        aud: audience.as_str().to_owned(),
        workspace: workspace.to_owned(),
        iat: now,
        exp: now + lifetime_secs,
        nbf: None,
    };
    sign_parts(
        key,
        &Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: None,
        },
        &claims,
    )
}

fn sign_parts(key: &SigningKey, header: &Header, claims: &Claims) -> String {
    let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

fn b64_json(value: &impl Serialize) -> String {
    // Plain structs of strings and integers always serialize.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// Checks a token as described in the module docs and returns its claims.
pub fn verify(
    key: &VerifyingKey,
    token: &str,
    audience: Audience,
    workspace: &str,
    now: i64,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };

    let header: Header =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| TokenError::Header)?;
    if header.alg != "EdDSA" || header.typ.as_deref().is_some_and(|typ| typ != "JWT") {
        return Err(TokenError::Header);
    }

    let signature_bytes: [u8; 64] = decode(signature_b64)?
        .try_into()
        .map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    key.verify_strict(
        signing_input.as_bytes(),
        &Signature::from_bytes(&signature_bytes),
    )
    .map_err(|_| TokenError::Signature)?;

    let claims: Claims =
        serde_json::from_slice(&decode(claims_b64)?).map_err(|_| TokenError::Malformed)?;
    if claims.aud != audience.as_str() {
        return Err(TokenError::Audience(claims.aud));
    }
    if claims.workspace != workspace {
        return Err(TokenError::Workspace(claims.workspace));
    }
    let lifetime = claims.exp.saturating_sub(claims.iat);
    if lifetime > MAX_LIFETIME_SECS {
        return Err(TokenError::LifetimeTooLong(lifetime));
    }
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    let starts = claims.nbf.map_or(claims.iat, |nbf| nbf.max(claims.iat));
    if starts > now.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::NotYetValid { now });
    }
    Ok(claims)
}

/// Encodes a public key as the configuration and user_data carry it: base64url of the 32 raw
/// bytes, without padding.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Parses a public key encoded by [`encode_public_key`].
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|err| format!("not base64url: {err}"))?
        .try_into()
        .map_err(|bytes: Vec<u8>| format!("{} bytes instead of 32", bytes.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|err| format!("not an Ed25519 public key: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use sha2::Sha256;

    const NOW: i64 = 1_800_000_000;
    const WS: &str = "abcdefghijkm";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> Claims {
        Claims {
            aud: Audience::Session.as_str().into(),
            workspace: WS.into(),
            iat: NOW,
            exp: NOW + 60,
            nbf: None,
        }
    }

    fn check(token: &str) -> Result<Claims, TokenError> {
        verify(&key(1).verifying_key(), token, Audience::Session, WS, NOW)
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn a_fresh_token_verifies() {
        let token = mint(&key(1), Audience::Session, WS, NOW, 120);
        assert_eq!(check(&token).expect("valid").workspace, WS);
    }

    #[test]
    fn alg_none_is_refused() {
        let token = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(&serde_json::to_vec(&claims()).expect("json"))
        );
        assert_eq!(check(&token), Err(TokenError::Header));
    }

    #[test]
    fn hmac_signed_with_the_public_key_is_refused() {
        // The classic confusion attack: HS256 keyed with the (public) verification key.
        let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64(&serde_json::to_vec(&claims()).expect("json"));
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key(1).verifying_key().as_bytes()).expect("key");
        mac.update(format!("{header}.{body}").as_bytes());
        let token = format!("{header}.{body}.{}", b64(&mac.finalize().into_bytes()));
        assert_eq!(check(&token), Err(TokenError::Header));
    }

    #[test]
    fn unexpected_header_fields_are_refused() {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: None,
        };
        let mut json: serde_json::Value = serde_json::to_value(&header).expect("json");
        json["jku"] = "https://evil.example/keys".into();
        let token = format!(
            "{}.{}.{}",
            b64(json.to_string().as_bytes()),
            b64(b"{}"),
            b64(&[0; 64])
        );
        assert_eq!(check(&token), Err(TokenError::Header));
    }

    #[test]
    fn another_key_is_refused() {
        assert_eq!(
            check(&mint(&key(2), Audience::Session, WS, NOW, 60)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn tampered_claims_are_refused() {
        let token = mint(&key(1), Audience::Session, WS, NOW, 60);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(&serde_json::to_vec(&Claims {
            workspace: "zzzzzzzzzzzz".into(),
            ..claims()
        })
        .expect("json"));
        parts[1] = &forged;
        assert_eq!(check(&parts.join(".")), Err(TokenError::Signature));
    }

    #[test]
    fn wrong_audience_and_workspace_are_refused() {
        let enroll = mint(&key(1), Audience::Enroll, WS, NOW, 60);
        assert!(matches!(check(&enroll), Err(TokenError::Audience(_))));
        let other = mint(&key(1), Audience::Session, "zzzzzzzzzzzz", NOW, 60);
        assert!(matches!(check(&other), Err(TokenError::Workspace(_))));
    }

    #[test]
    fn time_rules() {
        let at = |iat: i64, lifetime: i64| mint(&key(1), Audience::Session, WS, iat, lifetime);
        // Expired beyond the leeway.
        assert!(matches!(
            check(&at(NOW - 200, 100)),
            Err(TokenError::Expired { .. })
        ));
        // Expired within the leeway: accepted.
        assert!(check(&at(NOW - 120, 100)).is_ok());
        // Issued in the future beyond the leeway.
        assert!(matches!(
            check(&at(NOW + 60, 60)),
            Err(TokenError::NotYetValid { .. })
        ));
        // Too long a lifetime.
        assert_eq!(check(&at(NOW, 301)), Err(TokenError::LifetimeTooLong(301)));
        // nbf in the future.
        let token = sign_parts(
            &key(1),
            &Header {
                alg: "EdDSA".into(),
                typ: None,
                kid: None,
            },
            &Claims {
                nbf: Some(NOW + 100),
                ..claims()
            },
        );
        assert!(matches!(check(&token), Err(TokenError::NotYetValid { .. })));
    }

    #[test]
    fn structural_garbage_is_malformed() {
        for token in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(check(token).is_err(), "{token}");
        }
    }

    #[test]
    fn public_keys_round_trip_and_bad_ones_are_explained() {
        let public = key(3).verifying_key();
        assert_eq!(decode_public_key(&encode_public_key(&public)), Ok(public));
        assert!(
            decode_public_key("abc")
                .expect_err("short")
                .contains("instead of 32")
        );
        assert!(
            decode_public_key("***")
                .expect_err("junk")
                .contains("base64url")
        );
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(token in "[A-Za-z0-9_.-]{0,300}") {
            let _ = check(&token);
        }
    }
}
