//! Sticky ids the routing endpoint can trust: with `DAYLIGHT_ROUTE_SECRET`
//! set, the sticky cookie reads `ID.SIG`, where `SIG` is the lowercase hex
//! HMAC-SHA256 of `ID` under the secret. Daylight signs the ids it mints, and
//! the site signs a signed-in user's id the same way (PHP:
//! `hash_hmac('sha256', $id, $secret)`); a cookie whose signature does not
//! verify counts as absent, so a visitor cannot pick a staff id. Several
//! secrets (comma-separated) let a secret be replaced: the first signs, any
//! verifies.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 32;

/// The secrets sticky ids are signed with; none: ids are taken as sent.
#[derive(Debug, Default)]
pub struct RouteIds {
    secrets: Vec<Box<[u8]>>,
}

impl RouteIds {
    /// Checks each secret's length; the error names the setting.
    pub fn new(secrets: &[String]) -> Result<RouteIds, String> {
        let secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
        if let Some(short) = secrets.iter().position(|s| s.len() < MIN_SECRET_LEN) {
            return Err(format!(
                "DAYLIGHT_ROUTE_SECRET: secret {} is shorter than {MIN_SECRET_LEN} characters",
                short + 1
            ));
        }
        Ok(RouteIds {
            secrets: secrets.into_iter().map(|s| s.as_bytes().into()).collect(),
        })
    }

    pub fn signs(&self) -> bool {
        !self.secrets.is_empty()
    }

    fn mac(secret: &[u8], id: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac
    }

    /// The cookie value for `id`: `ID.SIG`, or `id` itself without a secret.
    pub fn sign(&self, id: &str) -> String {
        match self.secrets.first() {
            Some(secret) => format!("{id}.{}", hex::encode(Self::mac(secret, id).finalize().into_bytes())),
            None => id.to_owned(),
        }
    }

    /// The id a cookie value carries, when it is well formed and (with a
    /// secret) its signature verifies; compared in constant time.
    pub fn verify<'a>(&self, value: &'a str) -> Option<&'a str> {
        if !self.signs() {
            return super::is_token(value).then_some(value);
        }
        let (id, sig) = value.rsplit_once('.')?;
        let sig = hex::decode(sig).ok()?;
        (super::is_token(id) && self.secrets.iter().any(|s| Self::mac(s, id).verify_slice(&sig).is_ok())).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-route-secret-of-at-least-32-chars";

    #[test]
    fn signed_ids_verify_and_forged_ones_do_not() {
        let ids = RouteIds::new(&[SECRET.into()]).unwrap();
        let cookie = ids.sign("user-42");
        assert_eq!(ids.verify(&cookie), Some("user-42"));
        // `hash_hmac('sha256', 'user-42', SECRET)` (and `openssl dgst -sha256
        // -hmac`); `sdk-php/tests/SignedIdTest.php` pins the same value.
        assert_eq!(
            cookie,
            "user-42.50d006cee81126c3cf35c99295d2bbde31febdc937603197d6ba2f59896e8db1"
        );
        let forged = cookie.replace("user-42", "staff-ann");
        for bad in ["staff-ann", "staff-ann.", forged.as_str(), "user-42.zz", "<x>.00"] {
            assert_eq!(ids.verify(bad), None, "{bad}");
        }
        // Another secret: only with rotation.
        let other = RouteIds::new(&["another-secret-also-32-characters-long".into()]).unwrap();
        assert_eq!(other.verify(&cookie), None);
        let rotated = RouteIds::new(&["another-secret-also-32-characters-long".into(), SECRET.into()]).unwrap();
        assert_eq!(rotated.verify(&cookie), Some("user-42"));
        // Without a secret: taken as sent (letters, digits, `-`, `_`).
        let open = RouteIds::default();
        assert_eq!(open.verify("staff-ann"), Some("staff-ann"));
        assert_eq!(open.sign("x"), "x");
        assert!(RouteIds::new(&["short".into()])
            .unwrap_err()
            .contains("DAYLIGHT_ROUTE_SECRET"));
    }
}
