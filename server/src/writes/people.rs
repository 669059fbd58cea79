//! People writes: invitations, accepting one (a local account with a
//! password), sign-in and sign-out, and an admin changing an account. Like
//! credentials they touch no ruleset: no environment is locked.

use super::Writer;
use crate::auth::session::{hash_password, verify_password, MIN_PASSWORD_CHARS};
use crate::auth::{check_env_roles, digest, new_secret, EnvRoles, Role};
use crate::error::{ApiError, ApiResult};
use crate::store::people::{self as rows, Account, Invitation, NewAccount, NewInvitation, NewSession};
use crate::store::{append_audit, AuditEntry};

/// How long an invitation's link works.
pub const INVITATION_MS: i64 = 7 * 24 * 3_600_000;

/// A new invitation and its code (shown once, in the link).
pub struct Invited {
    pub invitation: Invitation,
    pub code: String,
}

/// Invites `email` with `role` (and `env_roles` where it differs); `now`
/// from the server's clock.
pub async fn invite(w: &Writer<'_>, email: &str, role: Role, env_roles: &EnvRoles, now: i64) -> ApiResult<Invited> {
    let email = normal_email(email)?;
    check_env_roles(w.db, "env_roles", role, env_roles).await?;
    let mut tx = w.begin().await?;
    if rows::account_by_email(&mut tx, &email).await?.is_some() {
        return Err(ApiError::Conflict(format!("`{email}` already has an account")));
    }
    let code = new_secret("dl_invite");
    let row = NewInvitation {
        code_hash: &digest(&code),
        email: &email,
        role: role.as_str(),
        env_roles,
        invited_by: w.actor,
        created_at: now,
        expires_at: now + INVITATION_MS,
    };
    let id = rows::insert_invitation(&mut tx, &row).await?;
    let after = serde_json::json!({ "email": row.email, "role": row.role, "env_roles": env_roles }).to_string();
    append_audit(&mut tx, audit(w, "invitation.create", &id.to_string(), Some(after))).await?;
    w.commit(tx, &[]).await?;
    let (role, expires_at) = (row.role.to_owned(), row.expires_at);
    Ok(Invited {
        invitation: Invitation {
            id,
            email,
            role,
            env_roles: env_roles.clone(),
            invited_by: w.actor.to_owned(),
            created_at: now,
            expires_at,
            accepted_at: None,
        },
        code,
    })
}

/// Accepts an invitation: the account, created with the invitation's email
/// and role. The first-start setup link's invitation has no email: the
/// first admin gives `email`. The writer's actor is the new person.
pub async fn accept(
    w: &Writer<'_>,
    code: &str,
    name: &str,
    password: &str,
    email: Option<&str>,
    now: i64,
) -> ApiResult<Account> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "say what your name is"));
    }
    check_password(password)?;
    let hash = hash_password(password)?;
    let mut tx = w.begin().await?;
    let invitation = rows::accept_invitation(&mut tx, &digest(code), now)
        .await?
        .ok_or_else(|| ApiError::invalid("code", "this invitation is unknown, used or expired; ask for a new one"))?;
    let mut invitation = invitation;
    if invitation.email.is_empty() {
        let email = email.ok_or_else(|| ApiError::invalid("email", "the first admin's account needs an email"))?;
        invitation.email = normal_email(email)?;
    }
    if rows::account_by_email(&mut tx, &invitation.email).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "`{}` already has an account",
            invitation.email
        )));
    }
    let account = NewAccount {
        email: &invitation.email,
        name,
        role: &invitation.role,
        env_roles: &invitation.env_roles,
        password_hash: Some(&hash),
        created_at: now,
    };
    let id = rows::insert_account(&mut tx, &account).await?;
    let actor = format!("person:{}", invitation.email);
    let after =
        serde_json::json!({ "email": invitation.email, "role": invitation.role, "env_roles": invitation.env_roles })
            .to_string();
    append_audit(
        &mut tx,
        AuditEntry {
            actor: &actor,
            ..audit(w, "account.create", &id.to_string(), Some(after))
        },
    )
    .await?;
    w.commit(tx, &[]).await?;
    Ok(Account {
        id,
        email: invitation.email,
        name: name.to_owned(),
        role: invitation.role,
        env_roles: invitation.env_roles,
        created_at: now,
        disabled_at: None,
    })
}

/// Checks an email and password; a new session's secret when they match.
/// `None` for a wrong pair, an unknown email or a disabled account alike.
pub async fn sign_in(w: &Writer<'_>, email: &str, password: &str, now: i64, max_ms: i64) -> ApiResult<Option<String>> {
    let email = email.trim().to_lowercase();
    let login = rows::login(w.db, &email).await?;
    let Some(login) = login.filter(|l| l.disabled_at.is_none()) else {
        // As slow as a wrong password, so timing does not tell accounts apart.
        let _ = verify_password(DUMMY_HASH, password);
        return Ok(None);
    };
    if !login
        .password_hash
        .as_deref()
        .is_some_and(|h| verify_password(h, password))
    {
        return Ok(None);
    }
    let secret = new_secret("dl_session");
    rows::insert_session(
        w.db,
        &NewSession {
            secret_hash: &digest(&secret),
            account_id: login.id,
            created_at: now,
            expires_at: now + max_ms,
        },
    )
    .await?;
    Ok(Some(secret))
}

/// An argon2id hash of a password nobody has, checked against unknown
/// emails so that a sign-in costs the same either way.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2n1HnDMQK9pTyqtWMBh0mmSdzl8mgU9SmEQnYsBUF4Y";

/// What an admin changes of an account (`None`: unchanged).
#[derive(Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    /// Replaces the per-environment roles (an empty map removes them).
    pub env_roles: Option<EnvRoles>,
    pub disabled: Option<bool>,
}

/// Changes an account's role or per-environment roles, or disables it
/// (which ends its sessions on every node); an admin cannot disable or
/// demote their own account. Making someone an admin drops their
/// per-environment roles, which an admin cannot have.
pub async fn update_account(w: &Writer<'_>, id: i64, change: AccountChange, now: i64) -> ApiResult<Account> {
    let AccountChange {
        role,
        env_roles,
        disabled,
    } = change;
    let mut tx = w.begin().await?;
    let mut account = rows::account(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {id}")))?;
    if w.actor == format!("person:{}", account.email) {
        return Err(ApiError::invalid("id", "change your own account through another admin"));
    }
    let state = |a: &Account| {
        serde_json::json!({ "role": a.role, "env_roles": a.env_roles, "disabled": a.disabled_at.is_some() }).to_string()
    };
    let before = state(&account);
    if let Some(role) = role {
        account.role = role.as_str().to_owned();
        if role == Role::Admin && env_roles.is_none() {
            account.env_roles.clear();
        }
    }
    if let Some(env_roles) = env_roles {
        let role =
            Role::parse(&account.role).ok_or_else(|| ApiError::Internal(format!("bad role {}", account.role)))?;
        check_env_roles(w.db, "env_roles", role, &env_roles).await?;
        account.env_roles = env_roles;
    }
    match disabled {
        Some(true) if account.disabled_at.is_none() => {
            account.disabled_at = Some(now);
            rows::revoke_sessions_of(&mut tx, id, now).await?;
        }
        Some(false) => account.disabled_at = None,
        _ => {}
    }
    rows::update_account(&mut tx, id, &account.role, &account.env_roles, account.disabled_at).await?;
    let after = state(&account);
    append_audit(
        &mut tx,
        AuditEntry {
            before: Some(before),
            ..audit(w, "account.update", &id.to_string(), Some(after))
        },
    )
    .await?;
    w.commit(tx, &[]).await?;
    Ok(account)
}

fn normal_email(email: &str) -> ApiResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    });
    if !valid || email.len() > 254 {
        return Err(ApiError::invalid(
            "email",
            "expected an email address such as ana@example.com",
        ));
    }
    Ok(email)
}

fn check_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "password",
            format!("a password needs at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::invalid("password", "a password may have at most 1,024 bytes"));
    }
    Ok(())
}

fn audit<'b>(w: &'b Writer<'_>, action: &'b str, id: &'b str, after: Option<String>) -> AuditEntry<'b> {
    let kind = if action.starts_with("invitation") {
        "invitation"
    } else {
        "account"
    };
    AuditEntry {
        after,
        ..w.audit(action, kind, id, None)
    }
}

/// A person as an OpenID provider vouched for them at sign-in.
pub struct Identity {
    /// The provider's `sub`.
    pub subject: String,
    pub email: String,
    /// Whether the provider says it checked the email (`email_verified`).
    pub email_verified: bool,
    pub name: String,
    /// From the role claim, by `DAYLIGHT_OIDC_ROLES`.
    pub role: Role,
    /// From the role claim, by `DAYLIGHT_OIDC_ENV_ROLES`.
    pub env_roles: EnvRoles,
}

/// Signs in a person the provider vouched for: finds their account by
/// subject, or links the account with their (verified) email, or creates
/// one; sets the role, email and name from the provider each time; and
/// opens a session. The new session's secret.
pub async fn oidc_sign_in(w: &Writer<'_>, who: &Identity, now: i64, max_ms: i64) -> ApiResult<String> {
    let email = normal_email(&who.email)?;
    let mut tx = w.begin().await?;
    let found = match rows::account_by_subject(&mut tx, &who.subject).await? {
        Some(account) => Some(account),
        None => match rows::oidc_account_by_email(&mut tx, &email).await? {
            // Linking needs the provider's word that the email is theirs,
            // and an account no other subject holds.
            Some(account) if account.oidc_subject.is_none() && who.email_verified => Some(account),
            Some(_) => {
                return Err(ApiError::Conflict(format!(
                    "`{email}` already has an account that this sign-in cannot take over (the provider did not \
                     verify the email, or the account belongs to another identity); ask an admin"
                )))
            }
            None => None,
        },
    };
    let actor = format!("person:{email}");
    let role = who.role.as_str();
    let id = match found {
        Some(account) => {
            if account.disabled_at.is_some() {
                return Err(ApiError::Forbidden("this account is disabled; ask an admin".into()));
            }
            rows::set_oidc_identity(
                &mut tx,
                account.id,
                &who.subject,
                &email,
                &who.name,
                role,
                &who.env_roles,
            )
            .await?;
            if account.role != role
                || account.email != email
                || account.oidc_subject.is_none()
                || account.env_roles != who.env_roles
            {
                let before =
                    serde_json::json!({ "email": account.email, "role": account.role, "env_roles": account.env_roles })
                        .to_string();
                let after =
                    serde_json::json!({ "email": email, "role": role, "env_roles": who.env_roles, "via": "oidc" })
                        .to_string();
                append_audit(
                    &mut tx,
                    AuditEntry {
                        actor: &actor,
                        before: Some(before),
                        ..audit(w, "account.update", &account.id.to_string(), Some(after))
                    },
                )
                .await?;
            }
            account.id
        }
        None => {
            let account = NewAccount {
                email: &email,
                name: &who.name,
                role,
                env_roles: &who.env_roles,
                password_hash: None,
                created_at: now,
            };
            let id = rows::insert_account(&mut tx, &account).await?;
            rows::set_oidc_identity(&mut tx, id, &who.subject, &email, &who.name, role, &who.env_roles).await?;
            let after = serde_json::json!({ "email": email, "role": role, "env_roles": who.env_roles, "via": "oidc" })
                .to_string();
            append_audit(
                &mut tx,
                AuditEntry {
                    actor: &actor,
                    ..audit(w, "account.create", &id.to_string(), Some(after))
                },
            )
            .await?;
            id
        }
    };
    w.commit(tx, &[]).await?;
    let secret = new_secret("dl_session");
    rows::insert_session(
        w.db,
        &NewSession {
            secret_hash: &digest(&secret),
            account_id: id,
            created_at: now,
            expires_at: now + max_ms,
        },
    )
    .await?;
    Ok(secret)
}
