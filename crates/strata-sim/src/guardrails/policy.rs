//! A guardrail's policies and how text is judged against them. Deterministic and simple:
//! a word (or phrase) matches case-insensitively at word boundaries; a DENY topic matches when
//! the text holds its name or one of its examples as a phrase; the managed PROFANITY list is a
//! short fixed list. Only the word and topic policies are honoured.

use serde_json::{json, Value};

/// The built-in PROFANITY list (small on purpose).
pub const PROFANITY: &[&str] = &["damn", "crap", "bastard", "bloody hell"];

/// Which side of a model call text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Input,
    Output,
}

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "INPUT" => Some(Source::Input),
            "OUTPUT" => Some(Source::Output),
            _ => None,
        }
    }
}

/// Whether a rule looks at input and output, and whether it blocks or only detects there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub input_enabled: bool,
    pub output_enabled: bool,
    pub input_block: bool,
    pub output_block: bool,
}

impl Default for Sides {
    fn default() -> Self {
        Sides {
            input_enabled: true,
            output_enabled: true,
            input_block: true,
            output_block: true,
        }
    }
}

impl Sides {
    /// From a config object's `inputEnabled`/`outputEnabled`/`inputAction`/`outputAction`.
    pub fn from_json(v: &Value) -> Sides {
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(true);
        let block = |k: &str| v.get(k).and_then(Value::as_str).is_none_or(|a| a == "BLOCK");
        Sides {
            input_enabled: flag("inputEnabled"),
            output_enabled: flag("outputEnabled"),
            input_block: block("inputAction"),
            output_block: block("outputAction"),
        }
    }

    fn to_json(self, into: &mut serde_json::Map<String, Value>) {
        let action = |b: bool| if b { "BLOCK" } else { "NONE" };
        into.insert("inputAction".into(), json!(action(self.input_block)));
        into.insert("outputAction".into(), json!(action(self.output_block)));
        into.insert("inputEnabled".into(), json!(self.input_enabled));
        into.insert("outputEnabled".into(), json!(self.output_enabled));
    }

    /// (looked at, blocks) for a source.
    fn on(self, source: Source) -> (bool, bool) {
        match source {
            Source::Input => (self.input_enabled, self.input_block),
            Source::Output => (self.output_enabled, self.output_block),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub sides: Sides,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub name: String,
    pub definition: String,
    pub examples: Vec<String>,
    pub sides: Sides,
}

/// One version of a guardrail (the draft or a numbered one).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub description: Option<String>,
    pub words: Vec<Word>,
    pub profanity: Option<Sides>,
    pub topics: Vec<Topic>,
    pub blocked_input_messaging: String,
    pub blocked_outputs_messaging: String,
}

/// What judging some text found.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    pub intervened: bool,
    /// (word, blocked)
    pub custom_words: Vec<(String, bool)>,
    pub managed_words: Vec<(String, bool)>,
    /// (topic, blocked)
    pub topics: Vec<(String, bool)>,
    /// Text units (1000 characters each) judged.
    pub units: u32,
}

/// Whether `phrase` occurs in `text` (both lowercased) at word boundaries.
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    let phrase = phrase.trim().to_lowercase();
    if phrase.is_empty() {
        return false;
    }
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut from = 0;
    while let Some(at) = text[from..].find(&phrase) {
        let start = from + at;
        let end = start + phrase.len();
        if !is_word(text[..start].chars().next_back()) && !is_word(text[end..].chars().next()) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

impl Policy {
    /// Judges `texts` as `source`.
    pub fn assess(&self, source: Source, texts: &[&str]) -> Assessment {
        let joined = texts.join("\n").to_lowercase();
        let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
        let mut a = Assessment {
            units: u32::try_from(chars.div_ceil(1000).max(1)).unwrap_or(u32::MAX),
            ..Assessment::default()
        };
        for w in &self.words {
            let (looked, blocks) = w.sides.on(source);
            if looked && contains_phrase(&joined, &w.text) {
                a.custom_words.push((w.text.clone(), blocks));
                a.intervened |= blocks;
            }
        }
        if let Some(sides) = self.profanity {
            let (looked, blocks) = sides.on(source);
            if looked {
                for word in PROFANITY.iter().filter(|w| contains_phrase(&joined, w)) {
                    a.managed_words.push(((*word).to_string(), blocks));
                    a.intervened |= blocks;
                }
            }
        }
        for t in &self.topics {
            let (looked, blocks) = t.sides.on(source);
            let hit = contains_phrase(&joined, &t.name) || t.examples.iter().any(|e| contains_phrase(&joined, e));
            if looked && hit {
                a.topics.push((t.name.clone(), blocks));
                a.intervened |= blocks;
            }
        }
        a
    }

    /// The blocked message for a source.
    pub fn blocked_message(&self, source: Source) -> &str {
        match source {
            Source::Input => &self.blocked_input_messaging,
            Source::Output => &self.blocked_outputs_messaging,
        }
    }

    /// Reads CreateGuardrail / UpdateGuardrail's policy members.
    pub fn from_request(body: &Value) -> Result<Policy, String> {
        let text = |k: &str| -> Result<String, String> {
            match body.get(k).and_then(Value::as_str) {
                Some(s) if !s.is_empty() && s.chars().count() <= 500 => Ok(s.to_string()),
                _ => Err(format!(
                    "1 validation error detected: Value at '{k}' failed to satisfy constraint: Member must have length between 1 and 500"
                )),
            }
        };
        let mut policy = Policy {
            description: body.get("description").and_then(Value::as_str).map(str::to_string),
            words: Vec::new(),
            profanity: None,
            topics: Vec::new(),
            blocked_input_messaging: text("blockedInputMessaging")?,
            blocked_outputs_messaging: text("blockedOutputsMessaging")?,
        };
        if let Some(words) = body.get("wordPolicyConfig") {
            for w in words.get("wordsConfig").and_then(Value::as_array).into_iter().flatten() {
                let Some(text) = w.get("text").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) else {
                    return Err("1 validation error detected: Value at 'wordPolicyConfig.wordsConfig.text' failed to satisfy constraint: Member must not be null".into());
                };
                policy.words.push(Word {
                    text: text.to_string(),
                    sides: Sides::from_json(w),
                });
            }
            for m in words
                .get("managedWordListsConfig")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match m.get("type").and_then(Value::as_str) {
                    Some("PROFANITY") => policy.profanity = Some(Sides::from_json(m)),
                    other => {
                        return Err(format!(
                            "1 validation error detected: Value '{}' at 'wordPolicyConfig.managedWordListsConfig.type' failed to satisfy constraint: Member must satisfy enum value set: [PROFANITY]",
                            other.unwrap_or("null")
                        ))
                    }
                }
            }
        }
        if let Some(topics) = body.get("topicPolicyConfig") {
            let Some(list) = topics.get("topicsConfig").and_then(Value::as_array) else {
                return Err("1 validation error detected: Value null at 'topicPolicyConfig.topicsConfig' failed to satisfy constraint: Member must not be null".into());
            };
            for t in list {
                let field = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
                let (Some(name), Some(definition)) = (field("name"), field("definition")) else {
                    return Err("1 validation error detected: a topic needs 'name' and 'definition'".into());
                };
                if t.get("type").and_then(Value::as_str) != Some("DENY") {
                    return Err("1 validation error detected: Value at 'topicPolicyConfig.topicsConfig.type' failed to satisfy constraint: Member must satisfy enum value set: [DENY]".into());
                }
                let examples = t
                    .get("examples")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                policy.topics.push(Topic {
                    name,
                    definition,
                    examples,
                    sides: Sides::from_json(t),
                });
            }
        }
        Ok(policy)
    }

    /// GetGuardrail's `wordPolicy` and `topicPolicy` members (absent when empty).
    pub fn policy_members(&self, into: &mut serde_json::Map<String, Value>) {
        if !self.words.is_empty() || self.profanity.is_some() {
            let words: Vec<Value> = self
                .words
                .iter()
                .map(|w| {
                    let mut m = serde_json::Map::new();
                    m.insert("text".into(), json!(w.text));
                    w.sides.to_json(&mut m);
                    Value::Object(m)
                })
                .collect();
            let managed: Vec<Value> = self
                .profanity
                .iter()
                .map(|s| {
                    let mut m = serde_json::Map::new();
                    m.insert("type".into(), json!("PROFANITY"));
                    s.to_json(&mut m);
                    Value::Object(m)
                })
                .collect();
            into.insert(
                "wordPolicy".into(),
                json!({"words": words, "managedWordLists": managed}),
            );
        }
        if !self.topics.is_empty() {
            let topics: Vec<Value> = self
                .topics
                .iter()
                .map(|t| {
                    let mut m = serde_json::Map::new();
                    m.insert("name".into(), json!(t.name));
                    m.insert("definition".into(), json!(t.definition));
                    m.insert("examples".into(), json!(t.examples));
                    m.insert("type".into(), json!("DENY"));
                    t.sides.to_json(&mut m);
                    Value::Object(m)
                })
                .collect();
            into.insert("topicPolicy".into(), json!({ "topics": topics }));
        }
    }
}

impl Assessment {
    /// One `GuardrailAssessment` (ApplyGuardrail's `assessments[]`, a trace's assessment).
    pub fn to_json(&self, latency_ms: u64) -> Value {
        let action = |b: bool| if b { "BLOCKED" } else { "NONE" };
        let mut out = serde_json::Map::new();
        if !self.custom_words.is_empty() || !self.managed_words.is_empty() {
            out.insert(
                "wordPolicy".into(),
                json!({
                    "customWords": self.custom_words.iter().map(|(w, b)| json!({"match": w, "action": action(*b), "detected": true})).collect::<Vec<_>>(),
                    "managedWordLists": self.managed_words.iter().map(|(w, b)| json!({"match": w, "type": "PROFANITY", "action": action(*b), "detected": true})).collect::<Vec<_>>(),
                }),
            );
        }
        if !self.topics.is_empty() {
            out.insert(
                "topicPolicy".into(),
                json!({"topics": self.topics.iter().map(|(t, b)| json!({"name": t, "type": "DENY", "action": action(*b), "detected": true})).collect::<Vec<_>>()}),
            );
        }
        out.insert(
            "invocationMetrics".into(),
            json!({"guardrailProcessingLatency": latency_ms, "usage": self.usage_json(), "guardrailCoverage": {"textCharacters": {"guarded": self.units * 1000, "total": self.units * 1000}}}),
        );
        Value::Object(out)
    }

    /// `GuardrailUsage`: units per policy judged.
    pub fn usage_json(&self) -> Value {
        json!({
            "topicPolicyUnits": self.units,
            "contentPolicyUnits": 0,
            "wordPolicyUnits": self.units,
            "sensitiveInformationPolicyUnits": 0,
            "sensitiveInformationPolicyFreeUnits": 0,
            "contextualGroundingPolicyUnits": 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_request(&json!({
            "blockedInputMessaging": "no in",
            "blockedOutputsMessaging": "no out",
            "wordPolicyConfig": {
                "wordsConfig": [{"text": "contraband"}, {"text": "fleet", "inputEnabled": false}],
                "managedWordListsConfig": [{"type": "PROFANITY"}]
            },
            "topicPolicyConfig": {"topicsConfig": [{"name": "Smuggling", "definition": "d", "type": "DENY", "examples": ["hide goods from customs"]}]}
        }))
        .unwrap()
    }

    #[test]
    fn words_match_at_word_boundaries_case_insensitively() {
        assert!(contains_phrase("ship the contraband now", "Contraband"));
        assert!(contains_phrase("contraband.", "contraband"));
        assert!(!contains_phrase("contrabands", "contraband"));
        assert!(!contains_phrase("xcontraband", "contraband"));
        assert!(contains_phrase("i said bloody hell!", "bloody hell"));
        assert!(!contains_phrase("anything", ""));
    }

    #[test]
    fn input_and_output_are_judged_by_their_own_settings() {
        let p = policy();
        let a = p.assess(Source::Input, &["Where is the CONTRABAND?"]);
        assert!(a.intervened);
        assert_eq!(a.custom_words, vec![("contraband".to_string(), true)]);
        assert!(!p.assess(Source::Input, &["the fleet sails"]).intervened);
        assert!(p.assess(Source::Output, &["the fleet sails"]).intervened);
        assert!(p.assess(Source::Input, &["Damn it"]).intervened);
        let t = p.assess(Source::Input, &["How to hide goods from customs?"]);
        assert_eq!(t.topics, vec![("Smuggling".to_string(), true)]);
        assert!(p.assess(Source::Input, &["talk about smuggling"]).intervened);
        assert!(!p.assess(Source::Input, &["hello there"]).intervened);
        assert_eq!(p.blocked_message(Source::Output), "no out");
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(Policy::from_request(&json!({"blockedInputMessaging": "x"})).is_err());
        let bad_type = json!({"blockedInputMessaging": "x", "blockedOutputsMessaging": "y",
            "topicPolicyConfig": {"topicsConfig": [{"name": "a", "definition": "b", "type": "ALLOW"}]}});
        assert!(Policy::from_request(&bad_type).is_err());
    }
}
