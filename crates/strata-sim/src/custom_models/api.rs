//! The Custom Model Import control plane, shaped as botocore's `bedrock` service model:
//! CreateModelImportJob (`POST /model-import-jobs`, 201), GetModelImportJob,
//! ListModelImportJobs, ListImportedModels, GetImportedModel and DeleteImportedModel, each for
//! the caller's account and region. Every call is counted in the stats by operation.

use std::time::{Instant, SystemTime};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use strata_core::BedrockErrorKind;

use super::{import_job_arn, imported_model_arn, iso8601, new_id, Book, ImportJob, ImportedModel, JobStatus};
use crate::control_plane::operations::{decode_token, encode_token};
use crate::error::AwsError;
use crate::fleet::{valid_model_name, Architecture, CustomModelSettings};
use crate::identity::Caller;
use crate::reply::json_response;
use crate::state::SimState;

/// Whether a path belongs to this API.
pub fn is_control_path(path: &str) -> bool {
    ["/model-import-jobs", "/imported-models"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// Serves one call; `path` is percent-decoded.
pub fn control(
    state: &SimState,
    caller: &Caller,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    let account_id = state
        .fleet()
        .accounts
        .get(caller.account)
        .map(|a| a.id.as_str().to_string())
        .unwrap_or_default();
    let call = Call {
        state,
        caller,
        account_id: &account_id,
        query,
    };
    let job_id = path.strip_prefix("/model-import-jobs/").filter(|s| !s.is_empty());
    let model_id = path.strip_prefix("/imported-models/").filter(|s| !s.is_empty());
    let (operation, result) = match (method.as_str(), job_id, model_id) {
        ("POST", None, None) if path == "/model-import-jobs" => ("CreateModelImportJob", call.create_job(body)),
        ("GET", None, None) if path == "/model-import-jobs" => ("ListModelImportJobs", call.list_jobs()),
        ("GET", Some(id), _) => ("GetModelImportJob", call.get_job(id)),
        ("GET", None, None) if path == "/imported-models" => ("ListImportedModels", call.list_models()),
        ("GET", _, Some(id)) => ("GetImportedModel", call.get_model(id)),
        ("DELETE", _, Some(id)) => ("DeleteImportedModel", call.delete_model(id)),
        _ => (
            "Unknown",
            Err(AwsError::new(
                BedrockErrorKind::ResourceNotFoundException,
                format!(
                    "No operation matches {method} {}.",
                    path.chars().take(200).collect::<String>()
                ),
            )),
        ),
    };
    crate::control_plane::counted(state, caller, operation, result)
}

fn not_null(field: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn pattern(field: &str, value: &str, pattern: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}",
        value.chars().take(100).collect::<String>()
    ))
}

fn valid_job_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
}

fn valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((_, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    (account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        && !role.is_empty()
        && arn.len() <= 2048
}

fn valid_s3_uri(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("s3://") else {
        return false;
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    uri.len() <= 1024
        && (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// `(offset, limit)` from `nextToken` and `maxResults`.
fn page(query: &[(String, String)]) -> Result<(usize, usize), AwsError> {
    let max = match param(query, "maxResults") {
        None => 1000,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000",
                    raw.chars().take(20).collect::<String>()
                )))
            }
        },
    };
    let start = match param(query, "nextToken") {
        None => 0,
        Some(t) => decode_token(t).ok_or_else(|| AwsError::validation("The pagination token is invalid."))?,
    };
    Ok((start, max))
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// One page of `items` as `{key: [...], nextToken?}`.
fn paged(items: Vec<Value>, key: &str, (start, max): (usize, usize)) -> Result<Value, AwsError> {
    if start > items.len() {
        return Err(AwsError::validation("The pagination token is invalid."));
    }
    let end = (start + max).min(items.len());
    let mut body = json!({ key: items[start..end].to_vec() });
    if end < items.len() {
        body["nextToken"] = json!(encode_token(end));
    }
    Ok(body)
}

/// The creation-time filters and order shared by both list calls (timestamps compare as
/// `YYYY-MM-DDTHH:MM:SS`, the form botocore sends).
fn time_filter(query: &[(String, String)], created: &str) -> bool {
    let prefix = |s: &str| s.chars().take(19).collect::<String>();
    let created = prefix(created);
    param(query, "creationTimeAfter").is_none_or(|t| created > prefix(t))
        && param(query, "creationTimeBefore").is_none_or(|t| created < prefix(t))
}

fn sort_order(query: &[(String, String)]) -> Result<bool, AwsError> {
    if let Some(by) = param(query, "sortBy") {
        if by != "CreationTime" {
            return Err(enum_error("sortBy", by, "[CreationTime]"));
        }
    }
    match param(query, "sortOrder") {
        None | Some("Descending") => Ok(true),
        Some("Ascending") => Ok(false),
        Some(other) => Err(enum_error("sortOrder", other, "[Ascending, Descending]")),
    }
}

fn enum_error(field: &str, value: &str, allowed: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: {allowed}",
        value.chars().take(40).collect::<String>()
    ))
}

fn model_not_found(identifier: &str) -> AwsError {
    AwsError::new(
        BedrockErrorKind::ResourceNotFoundException,
        format!(
            "The model {} was not found.",
            identifier.chars().take(200).collect::<String>()
        ),
    )
}

fn job_not_found(identifier: &str) -> AwsError {
    AwsError::new(
        BedrockErrorKind::ResourceNotFoundException,
        format!(
            "The model import job {} was not found.",
            identifier.chars().take(200).collect::<String>()
        ),
    )
}

/// One call's context.
struct Call<'a> {
    state: &'a SimState,
    caller: &'a Caller,
    account_id: &'a str,
    query: &'a [(String, String)],
}

impl Call<'_> {
    fn mine_model(&self, m: &ImportedModel) -> bool {
        m.key.account == self.caller.account && m.key.region == self.caller.region
    }

    fn mine_job(&self, j: &ImportJob) -> bool {
        j.account == self.caller.account && j.region == self.caller.region
    }

    fn model_arn(&self, id: &str) -> String {
        imported_model_arn(&self.caller.region, self.account_id, id)
    }

    fn job_arn(&self, id: &str) -> String {
        import_job_arn(&self.caller.region, self.account_id, id)
    }

    /// Whether an identifier (ARN, ID or name) names this model.
    fn names_model(&self, m: &ImportedModel, identifier: &str) -> bool {
        identifier == m.name || identifier == m.key.id || identifier == self.model_arn(&m.key.id)
    }

    fn names_job(&self, j: &ImportJob, identifier: &str) -> bool {
        identifier == j.name || identifier == j.id || identifier == self.job_arn(&j.id)
    }

    fn create_job(&self, body: &[u8]) -> Result<Response, AwsError> {
        let body: Value =
            serde_json::from_slice(body).map_err(|e| AwsError::validation(format!("Malformed request body: {e}")))?;
        let text = |key: &str| body.get(key).and_then(Value::as_str);
        let job_name = text("jobName").ok_or_else(|| not_null("jobName"))?;
        let model_name = text("importedModelName").ok_or_else(|| not_null("importedModelName"))?;
        let role_arn = text("roleArn").ok_or_else(|| not_null("roleArn"))?;
        let s3_uri = body
            .pointer("/modelDataSource/s3DataSource/s3Uri")
            .and_then(Value::as_str)
            .ok_or_else(|| not_null("modelDataSource.s3DataSource.s3Uri"))?;
        if !valid_job_name(job_name) {
            return Err(pattern("jobName", job_name, "[a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*"));
        }
        if !valid_model_name(model_name) {
            return Err(pattern("importedModelName", model_name, "([0-9a-zA-Z][_-]?)+"));
        }
        if !valid_role_arn(role_arn) {
            return Err(pattern(
                "roleArn",
                role_arn,
                "arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+",
            ));
        }
        if !valid_s3_uri(s3_uri) {
            return Err(pattern(
                "modelDataSource.s3DataSource.s3Uri",
                s3_uri,
                "s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?",
            ));
        }
        let token = text("clientRequestToken").map(str::to_string);
        let (architecture, parameters_billion) = Architecture::infer_from_uri(s3_uri);
        let arn =
            self.state
                .custom_models
                .with_book(|book: &mut Book, settings: &CustomModelSettings| {
                    if let Some(t) = &token {
                        if let Some(j) = book
                            .jobs
                            .iter()
                            .find(|j| self.mine_job(j) && j.client_token.as_ref() == Some(t))
                        {
                            return Ok(self.job_arn(&j.id));
                        }
                    }
                    let name_taken = book.models.iter().any(|m| self.mine_model(m) && m.name == model_name)
                        || book.jobs.iter().any(|j| {
                            self.mine_job(j) && j.status == JobStatus::InProgress && j.model_name == model_name
                        });
                    if name_taken {
                        return Err(AwsError::new(
                            BedrockErrorKind::ConflictException,
                            format!("A model with the name {model_name} already exists."),
                        ));
                    }
                    if book.jobs.iter().any(|j| self.mine_job(j) && j.name == job_name) {
                        return Err(AwsError::new(
                            BedrockErrorKind::ConflictException,
                            format!("A model import job with the name {job_name} already exists."),
                        ));
                    }
                    let duration = settings.import_time(parameters_billion);
                    let job = ImportJob {
                        account: self.caller.account,
                        region: self.caller.region.clone(),
                        id: new_id(),
                        name: job_name.to_string(),
                        model_name: model_name.to_string(),
                        model_id: new_id(),
                        role_arn: role_arn.to_string(),
                        s3_uri: s3_uri.to_string(),
                        architecture,
                        parameters_billion,
                        vpc_config: body.get("vpcConfig").cloned(),
                        client_token: token.clone(),
                        created: SystemTime::now(),
                        completes_at: Instant::now() + duration,
                        duration,
                        status: JobStatus::InProgress,
                        failure: s3_uri.to_ascii_lowercase().contains("unsupported").then(|| {
                            "The model architecture in the model data source is not supported by Custom Model Import."
                                .to_string()
                        }),
                    };
                    let arn = self.job_arn(&job.id);
                    book.jobs.push(job);
                    Ok(arn)
                })?;
        let mut response = json_response(json!({ "jobArn": arn }).to_string());
        *response.status_mut() = StatusCode::CREATED;
        Ok(response)
    }

    fn job_json(&self, j: &ImportJob, full: bool) -> Value {
        let mut out = json!({
            "jobArn": self.job_arn(&j.id),
            "jobName": j.name,
            "importedModelName": j.model_name,
            "status": j.status.name(),
            "creationTime": iso8601(j.created),
            "lastModifiedTime": iso8601(j.end_time().unwrap_or(j.created)),
        });
        if let Some(end) = j.end_time() {
            out["endTime"] = json!(iso8601(end));
        }
        if j.status == JobStatus::Completed {
            out["importedModelArn"] = json!(self.model_arn(&j.model_id));
        }
        if full {
            out["roleArn"] = json!(j.role_arn);
            out["modelDataSource"] = json!({"s3DataSource": {"s3Uri": j.s3_uri}});
            if let Some(v) = &j.vpc_config {
                out["vpcConfig"] = v.clone();
            }
            if let Some(f) = &j.failure {
                out["failureMessage"] = json!(f);
            }
        }
        out
    }

    fn get_job(&self, identifier: &str) -> Result<Response, AwsError> {
        let job = self.state.custom_models.with_book(|book, _| {
            book.jobs
                .iter()
                .find(|j| self.mine_job(j) && self.names_job(j, identifier))
                .map(|j| self.job_json(j, true))
        });
        let job = job.ok_or_else(|| job_not_found(identifier))?;
        Ok(json_response(job.to_string()))
    }

    fn list_jobs(&self) -> Result<Response, AwsError> {
        let page = page(self.query)?;
        let descending = sort_order(self.query)?;
        let status = param(self.query, "statusEquals");
        if let Some(s) = status {
            if !["InProgress", "Completed", "Failed"].contains(&s) {
                return Err(enum_error("statusEquals", s, "[InProgress, Completed, Failed]"));
            }
        }
        let name = param(self.query, "nameContains");
        let mut jobs: Vec<(SystemTime, Value)> = self.state.custom_models.with_book(|book, _| {
            book.jobs
                .iter()
                .filter(|j| self.mine_job(j))
                .filter(|j| status.is_none_or(|s| j.status.name() == s))
                .filter(|j| name.is_none_or(|n| j.name.contains(n)))
                .filter(|j| time_filter(self.query, &iso8601(j.created)))
                .map(|j| (j.created, self.job_json(j, false)))
                .collect()
        });
        jobs.sort_by_key(|(t, _)| *t);
        if descending {
            jobs.reverse();
        }
        let body = paged(
            jobs.into_iter().map(|(_, v)| v).collect(),
            "modelImportJobSummaries",
            page,
        )?;
        Ok(json_response(body.to_string()))
    }

    fn list_models(&self) -> Result<Response, AwsError> {
        let page = page(self.query)?;
        let descending = sort_order(self.query)?;
        let name = param(self.query, "nameContains");
        let mut models: Vec<(String, Value)> = self.state.custom_models.with_book(|book, _| {
            book.models
                .iter()
                .filter(|m| self.mine_model(m))
                .filter(|m| name.is_none_or(|n| m.name.contains(n)))
                .filter(|m| time_filter(self.query, &m.created_at))
                .map(|m| {
                    (
                        m.created_at.clone(),
                        json!({
                            "modelArn": self.model_arn(&m.key.id),
                            "modelName": m.name,
                            "creationTime": m.created_at,
                            "instructSupported": m.instruct,
                            "modelArchitecture": m.architecture.name(),
                        }),
                    )
                })
                .collect()
        });
        models.sort_by(|a, b| a.0.cmp(&b.0));
        if descending {
            models.reverse();
        }
        let body = paged(models.into_iter().map(|(_, v)| v).collect(), "modelSummaries", page)?;
        Ok(json_response(body.to_string()))
    }

    fn get_model(&self, identifier: &str) -> Result<Response, AwsError> {
        let model = self.state.custom_models.with_book(|book, _| {
            book.models
                .iter()
                .find(|m| self.mine_model(m) && self.names_model(m, identifier))
                .map(|m| {
                    let s3_uri = m
                        .job
                        .as_ref()
                        .map_or_else(|| format!("s3://strata-sim-models/{}/", m.name), |j| j.s3_uri.clone());
                    let mut out = json!({
                        "modelArn": self.model_arn(&m.key.id),
                        "modelName": m.name,
                        "modelDataSource": {"s3DataSource": {"s3Uri": s3_uri}},
                        "creationTime": m.created_at,
                        "modelArchitecture": m.architecture.name(),
                        "instructSupported": m.instruct,
                        "customModelUnits": {
                            "customModelUnitsPerModelCopy": m.units_per_copy(),
                            "customModelUnitsVersion": "v1.0",
                        },
                    });
                    if let Some(j) = &m.job {
                        out["jobName"] = json!(j.name);
                        out["jobArn"] = json!(self.job_arn(&j.id));
                    }
                    out
                })
        });
        let model = model.ok_or_else(|| model_not_found(identifier))?;
        Ok(json_response(model.to_string()))
    }

    fn delete_model(&self, identifier: &str) -> Result<Response, AwsError> {
        let deleted = self.state.custom_models.with_book(|book, _| {
            let before = book.models.len();
            book.models
                .retain(|m| !(self.mine_model(m) && self.names_model(m, identifier)));
            book.models.len() < before
        });
        if !deleted {
            return Err(model_not_found(identifier));
        }
        Ok(json_response("{}".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_patterns() {
        assert!(is_control_path("/model-import-jobs") && is_control_path("/model-import-jobs/abc"));
        assert!(is_control_path("/imported-models") && is_control_path("/imported-models/x"));
        assert!(!is_control_path("/imported-modelsx") && !is_control_path("/model/x/invoke"));
        assert!(valid_job_name("import-qwen-2.5+ft") && !valid_job_name("-x") && !valid_job_name(""));
        assert!(valid_role_arn("arn:aws:iam::111111111111:role/Import"));
        assert!(!valid_role_arn("arn:aws:iam::1111:role/Import") && !valid_role_arn("role/x"));
        assert!(valid_s3_uri("s3://models-bucket/qwen-13b/") && !valid_s3_uri("https://x/y"));
    }

    #[test]
    fn creation_time_filters_compare_as_timestamps() {
        let q = vec![("creationTimeAfter".to_string(), "2025-01-01T00:00:00Z".to_string())];
        assert!(time_filter(&q, "2025-10-14T00:00:00Z"));
        assert!(!time_filter(&q, "2024-10-14T00:00:00Z"));
        assert!(time_filter(&[], "2024-10-14T00:00:00Z"));
    }
}
