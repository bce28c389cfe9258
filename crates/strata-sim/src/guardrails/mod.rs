//! Bedrock guardrails: a book of guardrails per account × region (seeded from the fleet file,
//! changed by the control plane), judged by [`policy`], served by [`api`] (CreateGuardrail,
//! GetGuardrail, ListGuardrails, UpdateGuardrail, CreateGuardrailVersion, DeleteGuardrail,
//! ApplyGuardrail) and applied by the runtime to Converse (`guardrailConfig`) and InvokeModel
//! (the `X-Amzn-Bedrock-Guardrail*` headers).

pub mod api;
pub mod check;
pub mod policy;

use std::collections::HashMap;

use parking_lot::RwLock;
use strata_core::BedrockErrorKind;

use crate::error::AwsError;
use crate::fleet::{Fleet, GuardrailSeed};
use policy::{Policy, Sides, Topic, Word};

/// When seeded guardrails say they were made.
const SEEDED_AT: &str = "2025-01-15T00:00:00Z";

/// One guardrail in one account and region.
#[derive(Debug, Clone)]
pub struct Guardrail {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub draft: Policy,
    /// Version `n` is `versions[n - 1]`.
    pub versions: Vec<Policy>,
}

impl Guardrail {
    /// The policy of a version (`DRAFT` or a number), if it exists.
    pub fn version(&self, version: &str) -> Option<&Policy> {
        if version == "DRAFT" {
            return Some(&self.draft);
        }
        let n: usize = version.parse().ok().filter(|n| *n > 0)?;
        self.versions.get(n - 1)
    }
}

/// The guardrail ARN AWS forms.
pub fn arn(region: &str, account_id: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account_id}:guardrail/{id}")
}

/// The error for an unknown guardrail on the control plane and in ApplyGuardrail.
pub fn not_found(identifier: &str) -> AwsError {
    AwsError::new(
        BedrockErrorKind::ResourceNotFoundException,
        format!(
            "The guardrail {} was not found.",
            identifier.chars().take(200).collect::<String>()
        ),
    )
}

/// Guardrails by (account, region).
#[derive(Debug, Default)]
pub struct GuardrailBook {
    book: RwLock<HashMap<(usize, String), Vec<Guardrail>>>,
}

impl GuardrailBook {
    /// The fleet's seeded guardrails.
    pub fn seeded(fleet: &Fleet) -> Self {
        let book = GuardrailBook::default();
        book.reset(fleet);
        book
    }

    /// Drops every change and seeds the fleet's guardrails again.
    pub fn reset(&self, fleet: &Fleet) {
        let mut book = HashMap::new();
        for seed in &fleet.guardrails {
            for (a, account) in fleet.accounts.iter().enumerate() {
                if !seed.accounts.is_empty() && !seed.accounts.contains(&account.name) {
                    continue;
                }
                for region in &fleet.regions {
                    let in_seed = seed.regions.is_empty() || seed.regions.contains(region);
                    if !in_seed || !fleet.account_in_region(a, region.as_str()) {
                        continue;
                    }
                    let id = seed
                        .id
                        .clone()
                        .unwrap_or_else(|| seeded_id(&seed.name, account.id.as_str(), region.as_str()));
                    let draft = seed_policy(seed);
                    let guardrail = Guardrail {
                        id,
                        name: seed.name.clone(),
                        created_at: SEEDED_AT.into(),
                        updated_at: SEEDED_AT.into(),
                        versions: vec![draft.clone(); seed.versions as usize],
                        draft,
                    };
                    book.entry((a, region.to_string()))
                        .or_insert_with(Vec::new)
                        .push(guardrail);
                }
            }
        }
        *self.book.write() = book;
    }

    /// Every guardrail of an account in a region.
    pub fn list(&self, account: usize, region: &str) -> Vec<Guardrail> {
        self.book
            .read()
            .get(&(account, region.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// A guardrail by ID or ARN (the ARN must name this region).
    pub fn find(&self, account: usize, region: &str, identifier: &str) -> Option<Guardrail> {
        let id = id_of(identifier, region)?;
        self.book
            .read()
            .get(&(account, region.to_string()))?
            .iter()
            .find(|g| g.id == id)
            .cloned()
    }

    /// Adds a guardrail; a name already used in the account and region is a conflict.
    pub fn create(
        &self,
        account: usize,
        region: &str,
        name: &str,
        policy: Policy,
        now: &str,
    ) -> Result<Guardrail, AwsError> {
        let mut book = self.book.write();
        let list = book.entry((account, region.to_string())).or_default();
        if list.iter().any(|g| g.name == name) {
            return Err(AwsError::new(
                BedrockErrorKind::ConflictException,
                format!("A guardrail with the name {name} already exists."),
            ));
        }
        let guardrail = Guardrail {
            id: random_id(),
            name: name.to_string(),
            created_at: now.to_string(),
            updated_at: now.to_string(),
            draft: policy,
            versions: Vec::new(),
        };
        list.push(guardrail.clone());
        Ok(guardrail)
    }

    /// Changes a guardrail in place.
    pub fn change<T>(
        &self,
        account: usize,
        region: &str,
        identifier: &str,
        f: impl FnOnce(&mut Guardrail) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let id = id_of(identifier, region).ok_or_else(|| not_found(identifier))?;
        let mut book = self.book.write();
        let guardrail = book
            .get_mut(&(account, region.to_string()))
            .and_then(|l| l.iter_mut().find(|g| g.id == id))
            .ok_or_else(|| not_found(identifier))?;
        f(guardrail)
    }

    /// Deletes a guardrail (with every version).
    pub fn delete(&self, account: usize, region: &str, identifier: &str) -> Result<(), AwsError> {
        let id = id_of(identifier, region).ok_or_else(|| not_found(identifier))?;
        let mut book = self.book.write();
        let list = book
            .get_mut(&(account, region.to_string()))
            .ok_or_else(|| not_found(identifier))?;
        let before = list.len();
        list.retain(|g| g.id != id);
        if list.len() == before {
            return Err(not_found(identifier));
        }
        Ok(())
    }
}

/// The ID in an identifier: the ID itself, or the last part of an ARN for this region.
fn id_of<'a>(identifier: &'a str, region: &str) -> Option<&'a str> {
    match identifier.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_, "bedrock", r, _, resource] if *r == region => resource.strip_prefix("guardrail/"),
                _ => None,
            }
        }
        None => Some(identifier),
    }
}

fn seed_policy(seed: &GuardrailSeed) -> Policy {
    Policy {
        description: seed.description.clone(),
        words: seed
            .blocked_words
            .iter()
            .map(|w| Word {
                text: w.clone(),
                sides: Sides::default(),
            })
            .collect(),
        profanity: seed.profanity.then(Sides::default),
        topics: seed
            .denied_topics
            .iter()
            .map(|t| Topic {
                name: t.name.clone(),
                definition: t.definition.clone(),
                examples: t.examples.clone(),
                sides: Sides::default(),
            })
            .collect(),
        blocked_input_messaging: seed.blocked_input_messaging.clone(),
        blocked_outputs_messaging: seed.blocked_outputs_messaging.clone(),
    }
}

const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A stable 12-character ID per (name, account, region): like AWS, each account and region
/// has its own.
fn seeded_id(name: &str, account: &str, region: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{name}/{account}/{region}").as_bytes());
    digest
        .iter()
        .take(12)
        .map(|b| ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()] as char)
        .collect()
}

fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_fleet_seeds_the_demo_guardrail_with_its_own_id_per_place() {
        let fleet = Fleet::builtin().unwrap();
        let book = GuardrailBook::seeded(&fleet);
        let us = book.list(0, "us-east-1");
        assert_eq!(us.len(), 1);
        assert_eq!(us[0].name, "strata-demo-blocklist");
        assert!(us[0].version("1").is_some() && us[0].version("2").is_none());
        assert_ne!(us[0].id, book.list(0, "us-west-2")[0].id);
        assert_ne!(us[0].id, book.list(1, "us-east-1")[0].id);
        assert!(book.list(0, "eu-west-1").is_empty());
        let arn = arn("us-east-1", "111111111111", &us[0].id);
        assert_eq!(book.find(0, "us-east-1", &arn).unwrap().id, us[0].id);
        assert!(book.find(0, "us-west-2", &arn).is_none());
    }

    #[test]
    fn names_are_unique_per_place_and_deletes_find_their_guardrail() {
        let book = GuardrailBook::default();
        let p = policy::Policy::from_request(
            &serde_json::json!({"blockedInputMessaging": "a", "blockedOutputsMessaging": "b"}),
        )
        .unwrap();
        let g = book.create(0, "us-east-1", "x", p.clone(), "t").unwrap();
        assert!(book.create(0, "us-east-1", "x", p.clone(), "t").is_err());
        assert!(book.create(0, "us-west-2", "x", p, "t").is_ok());
        assert!(book.delete(0, "us-east-1", "nope").is_err());
        book.delete(0, "us-east-1", &g.id).unwrap();
        assert!(book.list(0, "us-east-1").is_empty());
    }
}
