//! The fleet file's Custom Model Import sections: `imported_models` (models that exist from the
//! start, each in some accounts × regions under a fixed 12-character ID) and `custom_models` (how
//! imported models behave: import and load times, eviction, copies, latency, and one time scale
//! over all of it).
//!
//! Invariant: a checked [`CustomModelSettings`] has finite, non-negative durations, a positive
//! time scale, `0 ≤ jitter < 1`, and `1 ≤ scale_out_in_flight ≤ concurrency_per_copy`,
//! `max_copies ≥ 1`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_core::Region;

/// The model families Custom Model Import takes here, each with its own InvokeModel body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Llama,
    Mistral,
    Qwen,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Mistral => "mistral",
            Architecture::Qwen => "qwen",
        }
    }

    /// Whether Converse works: AWS serves Converse for imported Llama and Mistral instruct
    /// models (through their chat template) but not for Qwen 2.5 ("Converse API is not supported
    /// for Qwen2.5, Qwen2-VL, and Qwen2.5-VL models").
    pub fn instruct_by_default(self) -> bool {
        !matches!(self, Architecture::Qwen)
    }

    /// The size assumed when a job's S3 URI names none.
    pub fn default_parameters_billion(self) -> f64 {
        match self {
            Architecture::Llama => 8.0,
            Architecture::Mistral | Architecture::Qwen => 7.0,
        }
    }

    /// Architecture and size read from an import job's S3 URI (the emulator cannot read S3):
    /// the words `qwen`, `mistral`/`mixtral` or `llama` name the family (Llama if none does), and
    /// a word like `13b` or `0.5b` the billions of parameters (else the family's default).
    pub fn infer_from_uri(uri: &str) -> (Architecture, f64) {
        let lower = uri.to_ascii_lowercase();
        let architecture = if lower.contains("qwen") {
            Architecture::Qwen
        } else if lower.contains("mistral") || lower.contains("mixtral") {
            Architecture::Mistral
        } else {
            Architecture::Llama
        };
        let size = lower
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .flat_map(|word| word.split(|c: char| c.is_ascii_alphabetic() && c != 'b'))
            .filter_map(|word| word.strip_suffix('b'))
            .filter_map(|n| n.parse::<f64>().ok())
            .find(|n| n.is_finite() && *n > 0.0 && *n <= 1000.0);
        (
            architecture,
            size.unwrap_or_else(|| architecture.default_parameters_billion()),
        )
    }
}

/// Custom model units per copy: one per 16 billion parameters, at least one (so a 13B model
/// takes 1, as in the Salesforce report, and a 26B model 2).
pub fn model_units(parameters_billion: f64) -> u32 {
    let units = (parameters_billion / 16.0).ceil();
    if units.is_finite() && units >= 1.0 {
        units.min(64.0) as u32
    } else {
        1
    }
}

/// Whether a string is an imported-model or import-job ID: 12 lowercase letters and digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether a name fits `ImportedModelName` (`([0-9a-zA-Z][_-]?)+`, 1–63 characters).
pub fn valid_model_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        && !bytes
            .windows(2)
            .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
}

/// An imported model the emulator starts with, in each listed account × region, always under
/// the same ID (so configs can name its ARNs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedModelSeed {
    pub name: String,
    /// 12 lowercase letters and digits: the ARN's last part.
    pub id: String,
    pub architecture: Architecture,
    pub parameters_billion: f64,
    /// Account names.
    pub accounts: Vec<String>,
    pub regions: Vec<Region>,
    /// Loaded from the start; otherwise the first call finds it cold.
    #[serde(default)]
    pub warm: bool,
    /// Converse allowed; defaults to the architecture's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruct: Option<bool>,
}

/// How imported models behave. Every duration is multiplied by `time_scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomModelSettings {
    /// Multiplies every duration below (0.01: a real minute passes in 0.6 s).
    pub time_scale: f64,
    /// A model unused this long is evicted (cold). AWS says "about an hour"; 15 minutes is what
    /// a 14-minute keep-warm call is sized against.
    pub eviction_idle_seconds: f64,
    /// Load time of a model (and of each added copy): base + per billion parameters.
    pub load_base_seconds: f64,
    pub load_seconds_per_billion: f64,
    /// An import job's run time: base + per billion parameters.
    pub import_base_seconds: f64,
    pub import_seconds_per_billion: f64,
    /// Per request: first token, then each output token (per billion parameters).
    pub first_token_ms: f64,
    pub ms_per_token_per_billion: f64,
    /// Each other request in flight on the same copy slows a request by this fraction.
    pub slowdown_per_in_flight: f64,
    /// Request times are scaled by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// Another copy is started while the demand (in flight + waiting) exceeds this many per copy.
    pub scale_out_in_flight: u32,
    /// Requests one copy serves at once; more wait for a free place.
    pub concurrency_per_copy: u32,
    pub max_copies: u32,
    /// A copy beyond the first is retired after the load has not needed it this long.
    pub scale_in_idle_seconds: f64,
    /// A request waiting this long for a place is refused with ThrottlingException.
    pub queue_timeout_seconds: f64,
}

impl Default for CustomModelSettings {
    fn default() -> Self {
        CustomModelSettings {
            time_scale: 1.0,
            eviction_idle_seconds: 900.0,
            load_base_seconds: 20.0,
            load_seconds_per_billion: 4.0,
            import_base_seconds: 240.0,
            import_seconds_per_billion: 10.0,
            first_token_ms: 450.0,
            ms_per_token_per_billion: 3.5,
            slowdown_per_in_flight: 0.045,
            jitter: 0.3,
            scale_out_in_flight: 12,
            concurrency_per_copy: 16,
            max_copies: 5,
            scale_in_idle_seconds: 300.0,
            queue_timeout_seconds: 60.0,
        }
    }
}

impl CustomModelSettings {
    /// Checks the values make sense; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let seconds = [
            ("time_scale", self.time_scale),
            ("eviction_idle_seconds", self.eviction_idle_seconds),
            ("load_base_seconds", self.load_base_seconds),
            ("load_seconds_per_billion", self.load_seconds_per_billion),
            ("import_base_seconds", self.import_base_seconds),
            ("import_seconds_per_billion", self.import_seconds_per_billion),
            ("first_token_ms", self.first_token_ms),
            ("ms_per_token_per_billion", self.ms_per_token_per_billion),
            ("slowdown_per_in_flight", self.slowdown_per_in_flight),
            ("scale_in_idle_seconds", self.scale_in_idle_seconds),
            ("queue_timeout_seconds", self.queue_timeout_seconds),
        ];
        for (name, value) in seconds {
            if !(value.is_finite() && (0.0..=1e7).contains(&value)) {
                return Err(format!(
                    "custom_models.{name} must be a number from 0 to 1e7, got {value}"
                ));
            }
        }
        if self.time_scale <= 0.0 {
            return Err("custom_models.time_scale must be above 0".into());
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(format!("custom_models.jitter must be in [0, 1), got {}", self.jitter));
        }
        if self.concurrency_per_copy == 0 || self.max_copies == 0 || self.scale_out_in_flight == 0 {
            return Err(
                "custom_models.concurrency_per_copy, max_copies and scale_out_in_flight must be at least 1".into(),
            );
        }
        if self.scale_out_in_flight > self.concurrency_per_copy {
            return Err("custom_models.scale_out_in_flight must not exceed concurrency_per_copy".into());
        }
        Ok(())
    }

    /// A duration in emulated seconds, scaled.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::try_from_secs_f64(seconds * self.time_scale).unwrap_or(Duration::MAX)
    }

    pub fn load_time(&self, parameters_billion: f64) -> Duration {
        self.scaled(self.load_base_seconds + self.load_seconds_per_billion * parameters_billion)
    }

    pub fn import_time(&self, parameters_billion: f64) -> Duration {
        self.scaled(self.import_base_seconds + self.import_seconds_per_billion * parameters_billion)
    }

    pub fn eviction_idle(&self) -> Duration {
        self.scaled(self.eviction_idle_seconds)
    }

    pub fn scale_in_idle(&self) -> Duration {
        self.scaled(self.scale_in_idle_seconds)
    }

    pub fn queue_timeout(&self) -> Duration {
        self.scaled(self.queue_timeout_seconds)
    }

    /// Without per-request latency (`strata sim --zero-latency`); load times stay.
    pub fn without_latency(mut self) -> Self {
        self.first_token_ms = 0.0;
        self.ms_per_token_per_billion = 0.0;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_and_size_come_from_the_uri() {
        let cases = [
            ("s3://models/apexguru-qwen2.5-13b/", Architecture::Qwen, 13.0),
            ("s3://bucket/Mistral-7B-Instruct/", Architecture::Mistral, 7.0),
            ("s3://bucket/llama-3.1-70b-finetune/", Architecture::Llama, 70.0),
            ("s3://bucket/qwen-0.5b", Architecture::Qwen, 0.5),
            ("s3://bucket/weights/", Architecture::Llama, 8.0),
            ("s3://bucket/mixtral/", Architecture::Mistral, 7.0),
            ("s3://bucket/gemma-26b", Architecture::Llama, 26.0),
        ];
        for (uri, arch, size) in cases {
            assert_eq!(Architecture::infer_from_uri(uri), (arch, size), "{uri}");
        }
    }

    #[test]
    fn units_grow_with_size() {
        assert_eq!(model_units(8.0), 1);
        assert_eq!(model_units(13.0), 1);
        assert_eq!(model_units(26.0), 2);
        assert_eq!(model_units(70.0), 5);
        assert_eq!(model_units(f64::NAN), 1);
    }

    #[test]
    fn ids_and_names() {
        assert!(valid_id("apxqwenuse01"));
        assert!(!valid_id("APXQWENUSE01"));
        assert!(!valid_id("short"));
        assert!(valid_model_name("apexguru-qwen"));
        assert!(valid_model_name("a_b-c1"));
        assert!(!valid_model_name("-x"));
        assert!(!valid_model_name("a--b"));
        assert!(!valid_model_name("a b"));
    }

    #[test]
    fn load_time_scales_with_size_and_time_scale() {
        let s = CustomModelSettings::default();
        // 26B ≈ a couple of minutes.
        assert_eq!(s.load_time(26.0), Duration::from_secs(124));
        let fast = CustomModelSettings { time_scale: 0.01, ..s };
        assert_eq!(fast.load_time(26.0), Duration::from_millis(1240));
        assert!(s.load_time(8.0) < s.load_time(13.0));
        assert_eq!(s.eviction_idle(), Duration::from_secs(900));
    }

    #[test]
    fn nonsense_is_refused() {
        let ok = CustomModelSettings::default();
        assert!(ok.check().is_ok());
        for bad in [
            CustomModelSettings { time_scale: 0.0, ..ok },
            CustomModelSettings { jitter: 1.0, ..ok },
            CustomModelSettings { max_copies: 0, ..ok },
            CustomModelSettings {
                scale_out_in_flight: 20,
                ..ok
            },
            CustomModelSettings {
                load_base_seconds: f64::NAN,
                ..ok
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<CustomModelSettings>(r#"{"timescale": 1}"#).is_err());
        let partial: CustomModelSettings = serde_json::from_str(r#"{"time_scale": 0.5}"#).unwrap();
        assert_eq!(partial.max_copies, ok.max_copies);
    }
}
