//! strata-aws against the emulator: AssumeRole through aws-config's real STS client, then a
//! request signed with the temporary credentials (session token) lands in the target account.

use std::time::SystemTime;

use http::HeaderMap;
use strata_aws::credentials::CredentialSettings;
use strata_aws::signing::{sign_headers, Scope};
use strata_aws::{AccountCredentials, CredentialSource};

use crate::sim_process::Sim;

#[tokio::test]
async fn assume_role_then_sign_a_converse_call_into_the_target_account() {
    let sim = Sim::start();
    let (akid, secret) = sim.keys("gateway-hub");
    let settings = CredentialSettings {
        region: Some("us-east-1".into()),
        sts_endpoint: Some(sim.url.clone()),
    };
    let source = CredentialSource::AssumeRole {
        role_arn: "arn:aws:iam::222222222222:role/StrataGateway".into(),
        external_id: None,
        session_name: Some("it-test".into()),
        source: Some(Box::new(CredentialSource::Static {
            access_key_id: akid,
            secret_access_key: secret,
            session_token: None,
        })),
    };
    let creds = AccountCredentials::new(&source, &settings).await.expect("provider");
    let temporary = creds.get().await.expect("assume role");
    assert!(temporary.access_key_id().starts_with("ASIA"));
    assert!(temporary.session_token().is_some());
    assert!(temporary.expiry().is_some());

    let profile = sim.fleet["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_str().unwrap().starts_with("eu."))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let region = "eu-central-1";
    let url = format!(
        "{}/model/{}/converse",
        sim.url,
        percent_encoding::utf8_percent_encode(&profile, percent_encoding::NON_ALPHANUMERIC)
    );
    let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("host", sim.url.trim_start_matches("http://").parse().unwrap());
    sign_headers(
        "POST",
        &url,
        &mut headers,
        body,
        &temporary,
        Scope {
            region,
            service: "bedrock",
        },
        SystemTime::now(),
    )
    .expect("sign");
    let response = reqwest::Client::new()
        .post(&url)
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(status == 200 || status == 403, "{status} {text}");
    let stats = sim.admin_get("/_sim/stats");
    assert_eq!(stats["invocations"][0]["account"], "222222222222", "{stats}");

    // A role that does not trust the caller is refused by STS.
    let untrusted = CredentialSource::AssumeRole {
        role_arn: "arn:aws:iam::999999999999:role/Nope".into(),
        external_id: None,
        session_name: None,
        source: Some(Box::new(CredentialSource::Static {
            access_key_id: sim.keys("prod-us").0,
            secret_access_key: sim.keys("prod-us").1,
            session_token: None,
        })),
    };
    let refused = AccountCredentials::new(&untrusted, &settings)
        .await
        .expect("provider")
        .get()
        .await;
    let message = refused.expect_err("untrusted role").to_string();
    assert!(
        message.contains("AccessDenied") || message.contains("not authorized"),
        "{message}"
    );
}
