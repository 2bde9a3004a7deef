//! Users, roles, what a user may see, and what is masked for them.

use serde::{Deserialize, Serialize};

use crate::tenant::{FieldError, InvalidSettings, Tenant};

/// Roles, weakest first: `user` sees the monitoring views in their scope, `manager` also makes
/// operational changes (sync now, retry, tenant settings), `admin` also manages users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Manager,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::User, Role::Manager, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as everything but the password store sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    /// Access groups: a user with none sees every tenant; otherwise the tenants whose tags or
    /// access groups share one of them.
    pub groups: Vec<String>,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    /// IANA time zone for the UI (`Europe/Berlin`); `None`: the browser's.
    pub time_zone: Option<String>,
}

impl User {
    /// Whether this user may see the tenant at all.
    pub fn can_see(&self, tenant: &Tenant) -> bool {
        if self.role == Role::Admin || self.groups.is_empty() {
            return true;
        }
        let s = &tenant.settings;
        s.access_groups
            .iter()
            .chain(s.collection.tags.iter())
            .any(|g| self.groups.iter().any(|mine| mine.eq_ignore_ascii_case(g)))
    }
}

/// Which values are masked (`***`) for whom. Rows stay visible; payload downloads are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskPolicy {
    /// Members of these roles see masked values on every tenant.
    pub roles: Vec<Role>,
    /// On tenants carrying one of these tags, every role below admin sees masked values.
    pub tags: Vec<String>,
}

/// The masked replacement shown instead of a value.
pub const MASK: &str = "***";

impl MaskPolicy {
    /// Parse `WEB_MASK_ROLES` (comma-separated roles) and `WEB_MASK_TAGS` (comma-separated tags).
    pub fn parse(roles: &str, tags: &str) -> Result<Self, String> {
        let roles = split(roles)
            .map(|r| {
                Role::parse(&r).ok_or_else(|| {
                    format!("WEB_MASK_ROLES: unknown role {r:?} (valid: user, manager, admin)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            roles,
            tags: split(tags).collect(),
        })
    }

    /// Whether payloads and custom header values of this tenant are masked for this user.
    pub fn masks(&self, user: &User, tenant: &Tenant) -> bool {
        if self.roles.contains(&user.role) {
            return true;
        }
        user.role != Role::Admin
            && tenant
                .settings
                .collection
                .tags
                .iter()
                .any(|t| self.tags.iter().any(|m| m.eq_ignore_ascii_case(t)))
    }
}

fn split(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A new password's problems, naming the field.
pub fn validate_password(field: &str, password: &str, username: &str) -> Result<(), FieldError> {
    let err = |m: &str| FieldError {
        field: field.into(),
        message: m.into(),
    };
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(err(&format!(
            "must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if chars > 1024 {
        return Err(err("must be at most 1024 characters"));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(err("must not be the user name"));
    }
    Ok(())
}

/// A user name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_username(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(FieldError {
            field: field.into(),
            message: "must be 1–64 letters, digits, '.', '_', '-' or '@'".into(),
        })
    }
}

/// Collect field errors into one [`InvalidSettings`].
pub fn collect(errors: Vec<FieldError>) -> Result<(), InvalidSettings> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InvalidSettings(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{Auth, TenantSettings, TenantStatus};

    fn tenant(tags: &[&str], groups: &[&str]) -> Tenant {
        let mut settings = TenantSettings::new(
            "t",
            "https://x.example/api/v1",
            Auth::Basic {
                username: "u".into(),
            },
        );
        settings.collection.tags = tags.iter().map(|s| s.to_string()).collect();
        settings.access_groups = groups.iter().map(|s| s.to_string()).collect();
        Tenant {
            id: 1,
            settings,
            has_secret: true,
            status: TenantStatus::Unknown,
            status_message: None,
            status_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn user(role: Role, groups: &[&str]) -> User {
        User {
            id: 1,
            username: "a".into(),
            email: None,
            role,
            groups: groups.iter().map(|s| s.to_string()).collect(),
            active: true,
            must_change_password: false,
            created_at: chrono::Utc::now(),
            last_login_at: None,
            time_zone: None,
        }
    }

    #[test]
    fn roles_are_ordered_and_parse_case_insensitively() {
        assert!(Role::Admin.allows(Role::Manager));
        assert!(Role::Manager.allows(Role::User));
        assert!(!Role::User.allows(Role::Manager));
        assert_eq!(Role::parse(" Manager "), Some(Role::Manager));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn visibility_follows_groups_tags_and_access_groups() {
        let t = tenant(&["prod"], &["team-a"]);
        assert!(user(Role::User, &[]).can_see(&t));
        assert!(user(Role::User, &["PROD"]).can_see(&t));
        assert!(user(Role::User, &["team-a"]).can_see(&t));
        assert!(!user(Role::User, &["team-b"]).can_see(&t));
        assert!(!user(Role::Manager, &["team-b"]).can_see(&t));
        assert!(user(Role::Admin, &["team-b"]).can_see(&t));
    }

    #[test]
    fn masking_by_role_and_by_tenant_tag() {
        let policy = MaskPolicy::parse("user", "hr").unwrap();
        let plain = tenant(&["prod"], &[]);
        let hr = tenant(&["HR"], &[]);
        assert!(policy.masks(&user(Role::User, &[]), &plain));
        assert!(!policy.masks(&user(Role::Manager, &[]), &plain));
        assert!(policy.masks(&user(Role::Manager, &[]), &hr));
        assert!(!policy.masks(&user(Role::Admin, &[]), &hr));
        assert!(MaskPolicy::parse("root", "").is_err());
        assert_eq!(MaskPolicy::parse("", "").unwrap(), MaskPolicy::default());
    }

    #[test]
    fn password_and_username_rules_name_the_field() {
        assert_eq!(
            validate_password("password", "short", "bob")
                .unwrap_err()
                .field,
            "password"
        );
        assert!(validate_password("password", "bobbobbobbob", "bobbobbobbob").is_err());
        assert!(validate_password("password", "a long passphrase", "bob").is_ok());
        assert!(validate_username("username", "alice.o'hara").is_err());
        assert!(validate_username("username", "alice.ohara@corp").is_ok());
        assert!(validate_username("username", "").is_err());
    }
}
