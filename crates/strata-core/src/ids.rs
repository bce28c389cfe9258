//! Identifiers parsed once at the edge: account IDs and the many spellings of a model reference.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::region::{Geography, Region};

/// An identifier that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("'{0}' is not an AWS region name (expected something like eu-west-1)")]
    Region(String),
    #[error("'{0}' is not a 12-digit AWS account ID")]
    Account(String),
    #[error("'{0}' is not a model ID, inference profile ID or Bedrock ARN")]
    Model(String),
}

/// A 12-digit AWS account ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(raw.to_string()))
        } else {
            Err(IdError::Account(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        AccountId::parse(&value)
    }
}

impl From<AccountId> for String {
    fn from(value: AccountId) -> Self {
        value.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a Bedrock runtime `modelId` names, in any of its accepted spellings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelRef {
    /// A foundation model, by ID or by `arn:aws:bedrock:REGION::foundation-model/ID`.
    Foundation {
        model_id: String,
        arn_region: Option<Region>,
    },
    /// A system-defined inference profile (`eu.anthropic…`), by ID or by ARN.
    Profile {
        profile_id: String,
        geography: Geography,
        arn_region: Option<Region>,
        arn_account: Option<AccountId>,
    },
    /// A model brought in with Custom Model Import: `arn:aws:bedrock:REGION:ACCOUNT:imported-model/ID`.
    Imported {
        arn: String,
        region: Region,
        account: AccountId,
        import_id: String,
    },
}

impl ModelRef {
    /// Parses a model ID, profile ID or ARN. Percent-decoding is the caller's job.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let bad = || IdError::Model(raw.to_string());
        if raw.is_empty() || raw.len() > 2048 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        if let Some(rest) = raw.strip_prefix("arn:aws:bedrock:") {
            // REGION:ACCOUNT:RESOURCE-TYPE/ID
            let mut parts = rest.splitn(3, ':');
            let region = Region::parse(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
            let account = parts.next().ok_or_else(bad)?;
            let resource = parts.next().ok_or_else(bad)?;
            let (kind, id) = resource.split_once('/').ok_or_else(bad)?;
            if id.is_empty() {
                return Err(bad());
            }
            return match kind {
                "foundation-model" if account.is_empty() => Ok(ModelRef::Foundation {
                    model_id: id.to_string(),
                    arn_region: Some(region),
                }),
                "inference-profile" => {
                    let geography = profile_geography(id).ok_or_else(bad)?;
                    Ok(ModelRef::Profile {
                        profile_id: id.to_string(),
                        geography,
                        arn_region: Some(region),
                        arn_account: Some(AccountId::parse(account).map_err(|_| bad())?),
                    })
                }
                "imported-model" => Ok(ModelRef::Imported {
                    arn: raw.to_string(),
                    region,
                    account: AccountId::parse(account).map_err(|_| bad())?,
                    import_id: id.to_string(),
                }),
                _ => Err(bad()),
            };
        }
        if raw.starts_with("arn:") {
            return Err(bad());
        }
        if !raw.contains('.') || raw.starts_with('.') || raw.ends_with('.') {
            return Err(bad());
        }
        match profile_geography(raw) {
            Some(geography) => Ok(ModelRef::Profile {
                profile_id: raw.to_string(),
                geography,
                arn_region: None,
                arn_account: None,
            }),
            None => Ok(ModelRef::Foundation {
                model_id: raw.to_string(),
                arn_region: None,
            }),
        }
    }

    /// The foundation model ID this reference runs, when it names one directly or via a profile.
    pub fn foundation_model_id(&self) -> Option<&str> {
        match self {
            ModelRef::Foundation { model_id, .. } => Some(model_id),
            ModelRef::Profile { profile_id, .. } => profile_id.split_once('.').map(|(_, m)| m),
            ModelRef::Imported { .. } => None,
        }
    }
}

/// The geography of a profile ID such as `eu.anthropic.claude…` or `us-gov.…`, if it has one.
pub fn profile_geography(id: &str) -> Option<Geography> {
    let (prefix, rest) = id.split_once('.')?;
    if rest.is_empty() {
        return None;
    }
    Geography::from_prefix(prefix)
}

/// The ARN of a foundation model in a region.
pub fn foundation_model_arn(region: &str, model_id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{model_id}")
}

/// The ARN of a system-defined inference profile as seen from an account and source region.
pub fn inference_profile_arn(region: &str, account: &str, profile_id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:inference-profile/{profile_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        let fm = ModelRef::parse("anthropic.claude-sonnet-4-20250514-v1:0").unwrap();
        assert_eq!(
            fm.foundation_model_id(),
            Some("anthropic.claude-sonnet-4-20250514-v1:0")
        );
        let arn = ModelRef::parse("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0").unwrap();
        assert!(matches!(
            arn,
            ModelRef::Foundation {
                arn_region: Some(_),
                ..
            }
        ));
        let p = ModelRef::parse("eu.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
        assert!(matches!(
            p,
            ModelRef::Profile {
                geography: Geography::Eu,
                ..
            }
        ));
        assert_eq!(
            p.foundation_model_id(),
            Some("anthropic.claude-sonnet-4-5-20250929-v1:0")
        );
        let parn = ModelRef::parse("arn:aws:bedrock:us-west-2:111111111111:inference-profile/us.amazon.nova-pro-v1:0")
            .unwrap();
        assert!(matches!(
            parn,
            ModelRef::Profile {
                geography: Geography::Us,
                ..
            }
        ));
        let imp = ModelRef::parse("arn:aws:bedrock:us-east-1:111111111111:imported-model/abcdefghijkl").unwrap();
        assert!(matches!(imp, ModelRef::Imported { .. }));
        assert!(matches!(
            ModelRef::parse("us-gov.anthropic.claude-3-5-sonnet").unwrap(),
            ModelRef::Profile {
                geography: Geography::UsGov,
                ..
            }
        ));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "nodots",
            "arn:aws:s3:::bucket",
            "arn:aws:bedrock:xx::foundation-model/a.b",
            "a b.c",
            "eu.",
        ] {
            assert!(ModelRef::parse(bad).is_err(), "{bad}");
        }
        assert!(AccountId::parse("12345").is_err());
        assert!(AccountId::parse("111111111111").is_ok());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_never_panics(raw in "\\PC{0,80}") {
            let _ = ModelRef::parse(&raw);
            let _ = AccountId::parse(&raw);
            let _ = Region::parse(&raw);
        }

        #[test]
        fn profile_ids_keep_their_model(geo in prop::sample::select(vec!["us", "eu", "apac", "jp", "au", "global"]),
                                        model in "[a-z]{2,8}\\.[a-z0-9-]{1,20}-v[0-9]:[0-9]") {
            let id = format!("{geo}.{model}");
            let parsed = ModelRef::parse(&id).unwrap();
            prop_assert_eq!(parsed.foundation_model_id(), Some(model.as_str()));
            prop_assert!(
                matches!(parsed, ModelRef::Profile { .. }),
                "expected a profile"
            );
        }
    }
}
