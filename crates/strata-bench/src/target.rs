//! What to send: one request, parsed once and cloned cheaply for every send.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;

/// A request that cannot be built from the given parts.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("bad URL '{url}': {reason}")]
    Url { url: String, reason: String },
    #[error("bad header '{0}': expected 'name: value'")]
    Header(String),
    #[error("bad method '{0}'")]
    Method(String),
}

/// The request a run repeats.
#[derive(Debug, Clone)]
pub struct Target {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Target {
    /// Parses an `http://` URL, `name: value` headers and a body.
    pub fn new(method: &str, url: &str, headers: &[String], body: Bytes) -> Result<Self, TargetError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| TargetError::Method(method.to_string()))?;
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| TargetError::Url {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::Url {
                url: url.to_string(),
                reason: "only http:// targets are supported (benchmarks run on local addresses)".into(),
            });
        }
        let authority = uri.authority().ok_or_else(|| TargetError::Url {
            url: url.to_string(),
            reason: "no host".into(),
        })?;
        let mut map = HeaderMap::new();
        map.insert(
            HOST,
            HeaderValue::from_str(authority.as_str()).map_err(|e| TargetError::Url {
                url: url.to_string(),
                reason: e.to_string(),
            })?,
        );
        for line in headers {
            let (name, value) = line.split_once(':').ok_or_else(|| TargetError::Header(line.clone()))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| TargetError::Header(line.clone()))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| TargetError::Header(line.clone()))?;
            map.append(name, value);
        }
        map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        Ok(Target {
            method,
            uri,
            headers: map,
            body,
        })
    }

    /// A fresh request (the body is shared, not copied).
    pub(crate) fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_requests_with_host_and_length() {
        let t = Target::new(
            "POST",
            "http://127.0.0.1:8080/v1/chat/completions",
            &["authorization: Bearer k".to_string()],
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        let r = t.request();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.headers()["host"], "127.0.0.1:8080");
        assert_eq!(r.headers()["content-length"], "2");
        assert_eq!(r.headers()["authorization"], "Bearer k");
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        assert!(Target::new("POST", "https://example.com/", &[], Bytes::new()).is_err());
        assert!(Target::new("POST", "http://h/", &["no-colon".into()], Bytes::new()).is_err());
        assert!(Target::new("BAD METHOD", "http://h/", &[], Bytes::new()).is_err());
    }
}
