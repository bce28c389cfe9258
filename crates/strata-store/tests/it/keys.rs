//! API keys (hashes only) and audit events.

use strata_store::{keys, AuditEvent, KeyRow, StoreError};

use crate::fixture::TestDb;
use crate::records::bare;

fn new_key(tenant: &str, created_at_ms: i64) -> (KeyRow, String) {
    let (id, secret) = keys::generate();
    let row = KeyRow {
        id,
        tenant: tenant.to_string(),
        name: Some(format!("{tenant} ci")),
        hash: keys::hash(&secret),
        prefix: keys::display_prefix(&secret),
        created_at_ms,
        expires_at_ms: None,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    (row, secret)
}

pub async fn key_lifecycle(db: &TestDb) {
    let store = &db.store;
    let (mut k1, secret1) = new_key("acme", 1_000);
    let (mut k2, _) = new_key("beta", 1_500);
    let (k3, _) = new_key("acme", 2_000);
    for k in [&k3, &k1, &k2] {
        store.insert_key(k).await.unwrap();
    }
    assert_eq!(
        store.keys(None).await.unwrap(),
        vec![k1.clone(), k2.clone(), k3.clone()]
    );
    assert_eq!(store.keys(Some("acme")).await.unwrap(), vec![k1.clone(), k3.clone()]);
    assert_eq!(store.keys(Some("nobody")).await.unwrap(), vec![]);

    // Ids and hashes are unique.
    let same_id = KeyRow {
        hash: keys::hash("other"),
        ..k1.clone()
    };
    assert!(matches!(
        store.insert_key(&same_id).await,
        Err(StoreError::Duplicate(_))
    ));
    let same_hash = KeyRow {
        id: "key_other".into(),
        ..k1.clone()
    };
    assert!(matches!(
        store.insert_key(&same_hash).await,
        Err(StoreError::Duplicate(_))
    ));

    // The stored hash verifies the secret.
    let listed = store.keys(Some("acme")).await.unwrap();
    assert!(keys::verify(&secret1, &listed[0].hash));
    assert!(!keys::verify(&secret1, &listed[1].hash));

    // Last use comes from the usage rows made with the key.
    let mut used = bare("u1", 5_000);
    used.key_id = Some(k1.id.clone());
    let mut later = bare("u2", 7_000);
    later.key_id = Some(k1.id.clone());
    store.insert_usage(&[later, used]).await.unwrap();
    k1.last_used_at_ms = Some(7_000);

    // An expiry is only ever brought forward.
    assert!(store.expire_key(&k1.id, 10_000).await.unwrap());
    assert!(!store.expire_key(&k1.id, 20_000).await.unwrap());
    assert!(store.expire_key(&k1.id, 9_000).await.unwrap());
    k1.expires_at_ms = Some(9_000);

    // Revocation happens once; a revoked key cannot be given an expiry.
    assert!(store.revoke_key(&k2.id, 3_000).await.unwrap());
    assert!(!store.revoke_key(&k2.id, 4_000).await.unwrap());
    assert!(!store.expire_key(&k2.id, 5_000).await.unwrap());
    k2.revoked_at_ms = Some(3_000);
    assert!(!store.revoke_key("key_missing", 1).await.unwrap());
    assert!(!store.expire_key("key_missing", 1).await.unwrap());

    let all = store.keys(None).await.unwrap();
    assert_eq!(all, vec![k1.clone(), k2.clone(), k3.clone()]);
    assert!(all[0].is_active(8_999) && !all[0].is_active(9_000));
    assert!(!all[1].is_active(0));
    assert!(all[2].is_active(i64::MAX));
}

pub async fn secrets_never_reach_the_database(db: &TestDb) {
    let (key, secret) = new_key("acme", 1_000);
    db.store.insert_key(&key).await.unwrap();
    db.store
        .audit(&AuditEvent {
            at_ms: 1_000,
            actor: "admin".into(),
            action: "key.create".into(),
            tenant: Some("acme".into()),
            subject: Some(key.id.clone()),
            detail: Some(format!("{{\"prefix\":\"{}\"}}", key.prefix)),
        })
        .await
        .unwrap();
    let mut used = bare("u1", 2_000);
    used.key_id = Some(key.id.clone());
    db.store.insert_usage(&[used]).await.unwrap();

    let everything = db.everything().await;
    // The dump really holds the rows...
    assert!(everything.contains(&key.hash) && everything.contains(&key.id));
    // ...and neither the secret nor its random part.
    assert!(!everything.contains(&secret));
    assert!(!everything.contains(&secret[keys::SECRET_PREFIX.len()..]));
}

pub async fn audit_events_newest_first(db: &TestDb) {
    let event = |at_ms: i64, action: &str| AuditEvent {
        at_ms,
        actor: "admin".into(),
        action: action.into(),
        tenant: None,
        subject: Some("key_x".into()),
        detail: Some("{\"grace_ms\":60000}".into()),
    };
    let (e100, e200a, e200b, e300) = (
        event(100, "key.create"),
        event(200, "key.rotate"),
        event(200, "key.expire"),
        event(300, "key.revoke"),
    );
    for e in [&e100, &e200a, &e200b, &e300] {
        db.store.audit(e).await.unwrap();
    }
    let events = |since, limit| {
        let store = db.store.clone();
        async move { store.audit_events(since, limit).await.unwrap() }
    };
    assert_eq!(
        events(None, 10).await,
        vec![e300.clone(), e200b.clone(), e200a.clone(), e100.clone()]
    );
    assert_eq!(
        events(Some(200), 10).await,
        vec![e300.clone(), e200b.clone(), e200a.clone()]
    );
    assert_eq!(events(None, 2).await, vec![e300.clone(), e200b.clone()]);
    assert_eq!(events(Some(301), 10).await, vec![]);
    assert_eq!(events(None, 0).await, vec![]);
}
