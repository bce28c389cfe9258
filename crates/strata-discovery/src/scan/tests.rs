//! The imported-model listing: pages followed to the end, summaries turned into catalog
//! entries, and a refused listing recorded as unknown without failing the region's scan.

use std::cell::RefCell;

use aws_sdk_bedrock::types::ImportedModelSummary;
use aws_smithy_types::DateTime;

use super::*;

const ARN_A: &str = "arn:aws:bedrock:us-east-1:111111111111:imported-model/abcdefghij12";
const ARN_B: &str = "arn:aws:bedrock:us-east-1:111111111111:imported-model/zyxwvutsrq98";

fn region() -> Region {
    Region::parse("us-east-1").unwrap()
}

fn summary(arn: &str, name: &str) -> ImportedModelSummary {
    ImportedModelSummary::builder()
        .model_arn(arn)
        .model_name(name)
        .creation_time(DateTime::from_secs(1_760_000_000))
        .instruct_supported(true)
        .model_architecture("qwen2")
        .build()
        .unwrap()
}

fn page(summaries: Vec<ImportedModelSummary>, next: Option<&str>) -> ListImportedModelsOutput {
    ListImportedModelsOutput::builder()
        .set_model_summaries(Some(summaries))
        .set_next_token(next.map(str::to_string))
        .build()
}

/// A failed call as `with_retries` reports it: throttling and server errors after every attempt,
/// anything else refused at once.
fn error(code: &str) -> CallError {
    let retried = matches!(code, "ThrottlingException" | "InternalServerException");
    CallError {
        operation: "ListImportedModels",
        code: Some(code.to_string()),
        message: "User: arn:aws:sts::111111111111:assumed-role/StrataGateway is not authorized".into(),
        attempts: if retried { 6 } else { 1 },
        refused: !retried,
    }
}

/// Runs `all_pages` over canned pages keyed by the token asked for; returns the pages and the
/// tokens asked for, in order.
fn paged(
    pages: Vec<(Option<&str>, ListImportedModelsOutput)>,
) -> (Result<Vec<ListImportedModelsOutput>, CallError>, Vec<Option<String>>) {
    let asked = RefCell::new(Vec::new());
    let result = futures::executor::block_on(all_pages(
        |token: Option<String>| {
            asked.borrow_mut().push(token.clone());
            let found = pages
                .iter()
                .find(|(t, _)| t.map(str::to_string) == token)
                .map(|(_, p)| p.clone());
            async move { found.ok_or_else(|| error("ThrottlingException")) }
        },
        ListImportedModelsOutput::next_token,
    ));
    (result, asked.into_inner())
}

#[test]
fn every_page_is_listed_and_each_summary_becomes_an_entry() {
    let (pages, asked) = paged(vec![
        (None, page(vec![summary(ARN_A, "apexguru-qwen")], Some("t1"))),
        (Some("t1"), page(vec![], Some("t2"))),
        (Some("t2"), page(vec![summary(ARN_B, "llama-8b-ft")], None)),
    ]);
    assert_eq!(asked, vec![None, Some("t1".into()), Some("t2".into())]);
    let imported = imported_models("prod-us", &region(), pages).unwrap();
    let models = imported.models().unwrap();
    assert_eq!(models.len(), 2);
    let a = &models[ARN_A];
    assert_eq!(
        (
            a.name.as_str(),
            a.architecture.as_deref(),
            a.created_at,
            a.instruct_supported
        ),
        ("apexguru-qwen", Some("qwen2"), 1_760_000_000, Some(true))
    );
    assert_eq!(a.model_units_per_copy, None, "units come from GetImportedModel");
    assert_eq!(
        imported.named("llama-8b-ft").next().map(|e| e.arn.as_str()),
        Some(ARN_B)
    );
}

#[test]
fn a_token_handed_back_again_ends_the_listing() {
    let (pages, asked) = paged(vec![
        (None, page(vec![summary(ARN_A, "a")], Some("t1"))),
        (Some("t1"), page(vec![summary(ARN_B, "b")], Some("t1"))),
    ]);
    assert_eq!(asked.len(), 2);
    assert_eq!(pages.unwrap().len(), 2);
}

#[test]
fn an_empty_listing_is_known_to_be_empty() {
    let (pages, _) = paged(vec![(None, page(vec![], Some("")))]);
    let imported = imported_models("prod-us", &region(), pages).unwrap();
    assert_eq!(imported.models().map(|m| m.len()), Some(0));
}

#[test]
fn access_denied_records_imported_models_as_unknown_and_does_not_fail_the_scan() {
    let imported = imported_models("prod-us", &region(), Err(error("AccessDeniedException"))).unwrap();
    let reason = imported.unknown().unwrap();
    assert!(
        reason.contains("ListImportedModels was refused (AccessDeniedException"),
        "{reason}"
    );
    assert!(reason.contains("bedrock:ListImportedModels"), "{reason}");
}

#[test]
fn any_other_refusal_is_unknown_too_so_a_region_without_imports_still_scans() {
    let imported = imported_models("prod-us", &region(), Err(error("UnknownOperationException"))).unwrap();
    let reason = imported.unknown().unwrap();
    assert!(
        reason.starts_with("ListImportedModels answered UnknownOperationException"),
        "{reason}"
    );
}

#[test]
fn running_out_of_attempts_fails_the_scan_so_the_last_good_data_is_kept() {
    for code in ["ThrottlingException", "InternalServerException"] {
        let e = imported_models("prod-us", &region(), Err(error(code))).unwrap_err();
        assert_eq!(e.code.as_deref(), Some(code));
    }
    let network = CallError {
        code: None,
        message: "timed out".into(),
        refused: false,
        ..error("x")
    };
    assert!(imported_models("prod-us", &region(), Err(network)).is_err());
    // A page that failed midway fails the listing as a whole.
    let (pages, _) = paged(vec![(None, page(vec![summary(ARN_A, "a")], Some("gone")))]);
    assert!(imported_models("prod-us", &region(), pages).is_err());
}

#[test]
fn a_summary_whose_arn_is_no_imported_model_is_left_out() {
    let bad = "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0";
    let (pages, _) = paged(vec![(None, page(vec![summary(bad, "odd"), summary(ARN_A, "a")], None))]);
    let imported = imported_models("prod-us", &region(), pages).unwrap();
    assert_eq!(imported.models().unwrap().keys().collect::<Vec<_>>(), vec![ARN_A]);
}
