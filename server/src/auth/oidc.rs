//! OpenID Connect sign-in: the authorization code flow with PKCE against a
//! provider found by issuer discovery (the `openidconnect` crate checks the
//! ID token's signature, issuer, audience, expiry and nonce). The state,
//! nonce and PKCE verifier of a sign-in on its way are kept in the database
//! (`oidc_logins`), so any node can finish a sign-in another node started.

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::Role;
use crate::error::{ApiError, ApiResult};
use crate::settings::Settings;
use crate::writes::people::Identity;

/// The callback's path; the provider must know `PUBLIC_URL` + this.
pub const CALLBACK_PATH: &str = "/api/v1/session/oidc/callback";
/// How long a person may take at the provider.
pub const LOGIN_MS: i64 = 10 * 60_000;
/// Discovery (endpoints, signing keys) is read again after this, so a
/// provider's key rotation is picked up.
const REDISCOVER: Duration = Duration::from_secs(600);

/// The provider Daylight signs people in with, from the settings.
pub struct Oidc {
    /// Shown on the console's sign-in button.
    pub name: String,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    role_claim: String,
    roles: Vec<(String, Role)>,
    /// `DAYLIGHT_OIDC_ENV_ROLES`: claim value, environment, role there.
    env_roles: Vec<(String, String, Role)>,
    default_role: Option<Role>,
    /// No redirects followed: a provider's endpoints answer directly.
    http: openidconnect::reqwest::Client,
    discovered: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// Where the provider should send the person, and what finishes the
/// sign-in when they come back.
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl Oidc {
    /// The provider of the settings: `None` without an issuer; an error
    /// naming the setting when it is incomplete or malformed.
    pub fn from_settings(s: &Settings) -> Result<Option<Oidc>, String> {
        let Some(issuer) = s.oidc_issuer.as_deref().filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        let issuer = IssuerUrl::new(issuer.trim_end_matches('/').to_owned())
            .map_err(|e| format!("DAYLIGHT_OIDC_ISSUER: {e}"))?;
        let client_id = s
            .oidc_client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or("DAYLIGHT_OIDC_ISSUER is set but DAYLIGHT_OIDC_CLIENT_ID is not")?;
        let public = s.public_url.as_deref().filter(|u| !u.is_empty()).ok_or(
            "DAYLIGHT_OIDC_ISSUER is set but DAYLIGHT_PUBLIC_URL (where the provider sends people back) is not",
        )?;
        let redirect = RedirectUrl::new(format!("{}{CALLBACK_PATH}", public.trim_end_matches('/')))
            .map_err(|e| format!("DAYLIGHT_PUBLIC_URL: {e}"))?;
        let roles = parse_roles(&s.oidc_roles)?;
        let env_roles = parse_env_roles(&s.oidc_env_roles)?;
        let default_role = match s.oidc_default_role.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => Some(Role::parse(r).ok_or(format!(
                "DAYLIGHT_OIDC_DEFAULT_ROLE: `{r}` is not viewer, editor or admin"
            ))?),
            None => None,
        };
        if roles.is_empty() && default_role.is_none() {
            return Err(
                "DAYLIGHT_OIDC_ROLES is empty and there is no DAYLIGHT_OIDC_DEFAULT_ROLE: nobody could sign in".into(),
            );
        }
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("an HTTP client for the provider: {e}"))?;
        Ok(Some(Oidc {
            name: s.oidc_name.clone(),
            issuer,
            client_id: ClientId::new(client_id),
            client_secret: s
                .oidc_client_secret
                .clone()
                .filter(|c| !c.is_empty())
                .map(ClientSecret::new),
            redirect,
            scopes: s
                .oidc_scopes
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            role_claim: s.oidc_role_claim.clone(),
            roles,
            env_roles,
            default_role,
            http,
            discovered: Mutex::new(None),
        }))
    }

    async fn metadata(&self, fresh: bool) -> ApiResult<CoreProviderMetadata> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, metadata)) = cached.as_ref() {
            if !fresh && at.elapsed() < REDISCOVER {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                ApiError::Unavailable(format!(
                    "the identity provider's discovery document cannot be read: {}",
                    chain(&e)
                ))
            })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn client(&self, fresh: bool) -> ApiResult<ClientFor> {
        let metadata = self.metadata(fresh).await?;
        Ok(
            CoreClient::from_provider_metadata(metadata, self.client_id.clone(), self.client_secret.clone())
                .set_redirect_uri(self.redirect.clone()),
        )
    }

    /// A new sign-in: the provider's authorization URL, with a fresh state,
    /// nonce and PKCE challenge (S256).
    pub async fn start(&self) -> ApiResult<Started> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: trades the code (with the PKCE verifier) for
    /// tokens, checks the ID token, and says who the person is and their
    /// role. A person whose claim maps to no role (and no default) is
    /// refused with 403.
    pub async fn finish(&self, code: &str, nonce: &str, pkce_verifier: &str) -> ApiResult<Identity> {
        let client = self.client(false).await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ApiError::Unavailable(format!("the identity provider has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| ApiError::Forbidden(format!("the identity provider refused the sign-in: {}", chain(&e))))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| ApiError::Forbidden("the identity provider sent no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(first) => {
                // The provider may have rotated its keys since discovery.
                let client = self.client(true).await?;
                let verifier = client.id_token_verifier();
                let claims = id_token
                    .claims(&verifier, &nonce)
                    .map_err(|_| ApiError::Forbidden(format!("the ID token does not check out: {}", chain(&first))))?
                    .clone();
                claims
            }
        };
        let subject = claims.subject().as_str().to_owned();
        // The signature was checked on this very token: its payload, as JSON,
        // holds the claims the crate's typed view leaves out (the role claim).
        let mut all = payload(&id_token.to_string()).unwrap_or(Value::Null);
        if self.needs_userinfo(&all) {
            if let Some(info) = self.userinfo(&client, tokens.access_token(), &subject).await? {
                merge(&mut all, info);
            }
        }
        let email = all
            .get("email")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::Forbidden(
                    "the identity provider sent no email for this person (ask for the `email` scope)".into(),
                )
            })?
            .to_owned();
        let email_verified = all.get("email_verified").and_then(Value::as_bool).unwrap_or(false);
        let name = ["name", "preferred_username"]
            .iter()
            .find_map(|c| all.get(*c).and_then(Value::as_str).filter(|n| !n.trim().is_empty()))
            .unwrap_or(&email)
            .trim()
            .to_owned();
        let role = self.role_of(all.get(&self.role_claim)).ok_or_else(|| {
            ApiError::Forbidden(format!(
                "your `{}` at the identity provider gives no role in Daylight; ask an admin to add you to a group \
                 that DAYLIGHT_OIDC_ROLES names",
                self.role_claim
            ))
        })?;
        let env_roles = self.env_roles_of(role, all.get(&self.role_claim));
        Ok(Identity {
            subject,
            email,
            email_verified,
            name,
            role,
            env_roles,
        })
    }

    fn needs_userinfo(&self, claims: &Value) -> bool {
        ["email", self.role_claim.as_str()]
            .iter()
            .any(|c| claims.get(*c).is_none())
    }

    /// The userinfo endpoint's claims, when the provider has one; `None`
    /// for a provider without it. Refused when its `sub` is not the ID
    /// token's (OpenID Connect Core 5.3.2).
    async fn userinfo(&self, client: &ClientFor, token: &AccessToken, subject: &str) -> ApiResult<Option<Value>> {
        let Some(url) = client.user_info_url() else {
            return Ok(None);
        };
        let unavailable = |e: openidconnect::reqwest::Error| {
            ApiError::Unavailable(format!("the identity provider's userinfo cannot be read: {e}"))
        };
        let info: Value = self
            .http
            .get(url.url().clone())
            .bearer_auth(token.secret())
            .header("accept", "application/json")
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        if info.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(ApiError::Forbidden(
                "the identity provider's userinfo is of another person than the ID token".into(),
            ));
        }
        Ok(Some(info))
    }

    /// The highest role the claim's values map to, else the default.
    pub fn role_of(&self, claim: Option<&Value>) -> Option<Role> {
        let values = claim_values(claim);
        self.roles
            .iter()
            .filter(|(value, _)| values.contains(&value.as_str()))
            .map(|(_, role)| *role)
            .max()
            .or(self.default_role)
    }
}

impl Oidc {
    /// The per-environment roles the claim's values map to (the highest per
    /// environment); none for an admin, whose role holds everywhere.
    pub fn env_roles_of(&self, role: Role, claim: Option<&Value>) -> crate::auth::EnvRoles {
        let mut out = crate::auth::EnvRoles::new();
        if role == Role::Admin {
            return out;
        }
        let values = claim_values(claim);
        for (value, env, env_role) in &self.env_roles {
            if values.contains(&value.as_str()) {
                let slot = out.entry(env.clone()).or_insert(*env_role);
                *slot = (*slot).max(*env_role);
            }
        }
        out
    }
}

/// A claim's values: one string or a list of strings.
fn claim_values(claim: Option<&Value>) -> Vec<&str> {
    match claim {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `value:environment=role` triples of `DAYLIGHT_OIDC_ENV_ROLES`.
fn parse_env_roles(items: &[String]) -> Result<Vec<(String, String, Role)>, String> {
    items
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|item| {
            let malformed = || format!("DAYLIGHT_OIDC_ENV_ROLES: `{item}` is not VALUE:ENVIRONMENT=ROLE");
            let (rest, role) = item.rsplit_once('=').ok_or_else(malformed)?;
            let (value, env) = rest.rsplit_once(':').ok_or_else(malformed)?;
            if value.trim().is_empty() || env.trim().is_empty() {
                return Err(malformed());
            }
            let role = Role::parse(role.trim()).filter(|r| *r != Role::Admin).ok_or(format!(
                "DAYLIGHT_OIDC_ENV_ROLES: `{role}` in `{item}` is not viewer or editor"
            ))?;
            Ok((value.trim().to_owned(), env.trim().to_owned(), role))
        })
        .collect()
}

type ClientFor = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// `value=role` pairs of `DAYLIGHT_OIDC_ROLES`.
fn parse_roles(pairs: &[String]) -> Result<Vec<(String, Role)>, String> {
    pairs
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (value, role) = pair
                .rsplit_once('=')
                .ok_or(format!("DAYLIGHT_OIDC_ROLES: `{pair}` is not VALUE=ROLE"))?;
            let role = Role::parse(role.trim()).ok_or(format!(
                "DAYLIGHT_OIDC_ROLES: `{role}` in `{pair}` is not viewer, editor or admin"
            ))?;
            Ok((value.trim().to_owned(), role))
        })
        .collect()
}

/// The JSON payload of a compact JWS.
fn payload(jwt: &str) -> Option<Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Adds the userinfo claims the ID token lacks.
fn merge(into: &mut Value, from: Value) {
    let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) else {
        return;
    };
    for (k, v) in from {
        into.entry(k).or_insert(v);
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(roles: &[&str], default: Option<&str>) -> Result<Option<Oidc>, String> {
        let mut s = Settings::for_tests("sqlite::memory:".into(), "x");
        s.oidc_issuer = Some("https://idp.example.com".into());
        s.oidc_client_id = Some("daylight".into());
        s.public_url = Some("https://flags.example.com/".into());
        s.oidc_roles = roles.iter().map(|r| (*r).to_owned()).collect();
        s.oidc_default_role = default.map(str::to_owned);
        Oidc::from_settings(&s)
    }

    #[test]
    fn the_highest_mapped_role_wins_and_unmapped_people_get_the_default_or_nothing() {
        let o = oidc(&["daylight-admins=admin", "daylight-editors=editor"], None)
            .unwrap()
            .unwrap();
        assert_eq!(
            o.redirect.as_str(),
            "https://flags.example.com/api/v1/session/oidc/callback"
        );
        let groups = serde_json::json!(["staff", "daylight-editors", "daylight-admins"]);
        assert_eq!(o.role_of(Some(&groups)), Some(Role::Admin));
        assert_eq!(o.role_of(Some(&Value::from("daylight-editors"))), Some(Role::Editor));
        assert_eq!(o.role_of(Some(&serde_json::json!(["staff"]))), None);
        assert_eq!(o.role_of(None), None);
        let o = oidc(&["daylight-admins=admin"], Some("viewer")).unwrap().unwrap();
        assert_eq!(o.role_of(Some(&serde_json::json!(["staff"]))), Some(Role::Viewer));
    }

    #[test]
    fn per_environment_roles_come_from_the_same_claim() {
        let mut s = Settings::for_tests("sqlite::memory:".into(), "x");
        s.oidc_issuer = Some("https://idp.example.com".into());
        s.oidc_client_id = Some("daylight".into());
        s.public_url = Some("https://flags.example.com/".into());
        s.oidc_roles = vec!["editors=editor".into(), "admins=admin".into()];
        s.oidc_env_roles = vec![
            "contractors:production=viewer".into(),
            "oncall:production=editor".into(),
            "editors:staging=viewer".into(),
        ];
        let o = Oidc::from_settings(&s).unwrap().unwrap();
        let both = serde_json::json!(["editors", "contractors", "oncall"]);
        let roles = o.env_roles_of(Role::Editor, Some(&both));
        assert_eq!(roles.get("production"), Some(&Role::Editor), "the highest wins");
        assert_eq!(roles.get("staging"), Some(&Role::Viewer));
        let contractor = serde_json::json!(["editors", "contractors"]);
        assert_eq!(
            o.env_roles_of(Role::Editor, Some(&contractor)).get("production"),
            Some(&Role::Viewer)
        );
        assert!(o.env_roles_of(Role::Admin, Some(&both)).is_empty());
        s.oidc_env_roles = vec!["contractors=viewer".into()];
        assert!(Oidc::from_settings(&s)
            .err()
            .unwrap()
            .contains("DAYLIGHT_OIDC_ENV_ROLES"));
        s.oidc_env_roles = vec!["contractors:production=admin".into()];
        assert!(Oidc::from_settings(&s).err().unwrap().contains("not viewer or editor"));
    }

    #[test]
    fn bad_settings_name_the_variable() {
        assert!(oidc(&["admins"], None).err().unwrap().contains("DAYLIGHT_OIDC_ROLES"));
        assert!(oidc(&["admins=root"], None)
            .err()
            .unwrap()
            .contains("DAYLIGHT_OIDC_ROLES"));
        assert!(oidc(&[], None).err().unwrap().contains("nobody could sign in"));
        assert!(oidc(&[], Some("boss"))
            .err()
            .unwrap()
            .contains("DAYLIGHT_OIDC_DEFAULT_ROLE"));
        let mut s = Settings::for_tests("sqlite::memory:".into(), "x");
        s.oidc_issuer = Some("https://idp.example.com".into());
        assert!(Oidc::from_settings(&s)
            .err()
            .unwrap()
            .contains("DAYLIGHT_OIDC_CLIENT_ID"));
        assert!(Oidc::from_settings(&Settings::for_tests("sqlite::memory:".into(), "x"))
            .unwrap()
            .is_none());
    }
}
