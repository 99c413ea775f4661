//! Roles carried by users' access tokens and scopes carried by service accounts' tokens.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a person does in Waymark; each role belongs to exactly one level of tenancy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    FederationAdmin,
    Commissioner,
    PracticeAdmin,
    Clinician,
    Volunteer,
    Provider,
}

/// The tenancy level a role is held at, which decides what its holder must be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleLevel {
    Platform,
    Federation,
    Practice,
    Organisation,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::PlatformAdmin,
        Role::FederationAdmin,
        Role::Commissioner,
        Role::PracticeAdmin,
        Role::Clinician,
        Role::Volunteer,
        Role::Provider,
    ];

    pub const fn level(self) -> RoleLevel {
        match self {
            Role::PlatformAdmin => RoleLevel::Platform,
            Role::FederationAdmin | Role::Commissioner => RoleLevel::Federation,
            Role::PracticeAdmin | Role::Clinician | Role::Volunteer => RoleLevel::Practice,
            Role::Provider => RoleLevel::Organisation,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::FederationAdmin => "federation_admin",
            Role::Commissioner => "commissioner",
            Role::PracticeAdmin => "practice_admin",
            Role::Clinician => "clinician",
            Role::Volunteer => "volunteer",
            Role::Provider => "provider",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A permission granted to a service account, written `area:action` as in OAuth scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServiceScope {
    /// Read the federation's directory (organisations, services, need categories).
    #[serde(rename = "directory:read")]
    DirectoryRead,
    /// Maintain the directory; reading it comes with it.
    #[serde(rename = "directory:write")]
    DirectoryWrite,
    /// Read every practice's referrals (GP-system extracts), audited like any other read.
    #[serde(rename = "referrals:read")]
    ReferralsRead,
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "stats:read")]
    StatsRead,
    /// Read the whole ledger (finance exports); never move money.
    #[serde(rename = "ledger:read")]
    LedgerRead,
    /// Register and manage the federation's webhook endpoints.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// A GP-system integration: read every practice's coding queue (the SNOMED CT codes to file
    /// in the GP record, with the patient's NHS number) and acknowledge what it filed.
    #[serde(rename = "gp_coding:write")]
    GpCodingWrite,
}

impl ServiceScope {
    pub const ALL: [ServiceScope; 8] = [
        ServiceScope::DirectoryRead,
        ServiceScope::DirectoryWrite,
        ServiceScope::ReferralsRead,
        ServiceScope::EventsRead,
        ServiceScope::StatsRead,
        ServiceScope::LedgerRead,
        ServiceScope::WebhooksWrite,
        ServiceScope::GpCodingWrite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceScope::DirectoryRead => "directory:read",
            ServiceScope::DirectoryWrite => "directory:write",
            ServiceScope::ReferralsRead => "referrals:read",
            ServiceScope::EventsRead => "events:read",
            ServiceScope::StatsRead => "stats:read",
            ServiceScope::LedgerRead => "ledger:read",
            ServiceScope::WebhooksWrite => "webhooks:write",
            ServiceScope::GpCodingWrite => "gp_coding:write",
        }
    }

    /// Parses an OAuth `scope` parameter: scope names separated by spaces.
    pub fn parse_list(raw: &str) -> Result<Vec<ServiceScope>, UnknownScope> {
        let mut scopes = raw
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    /// The OAuth `scope` form of a list of scopes.
    pub fn join(scopes: &[ServiceScope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

impl FromStr for ServiceScope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl fmt::Display for ServiceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn scope_lists_parse_sorted_and_deduplicated() {
        let scopes = ServiceScope::parse_list("stats:read directory:write stats:read").unwrap();
        assert_eq!(
            scopes,
            vec![ServiceScope::DirectoryWrite, ServiceScope::StatsRead]
        );
        assert_eq!(ServiceScope::join(&scopes), "directory:write stats:read");
        assert_eq!(ServiceScope::parse_list("").unwrap(), vec![]);
        assert_eq!(
            ServiceScope::parse_list("stats:read admin").unwrap_err(),
            UnknownScope("admin".into())
        );
    }
}
