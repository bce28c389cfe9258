//! `${NAME}` interpolation of environment variables into config text, before YAML parsing, so
//! secrets stay out of files. `${NAME:-default}` gives a default; `$${` is a literal `${`.

/// A variable that is referenced but not set (and has no default).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    #[error("line {line}: environment variable {name} is not set (write ${{{name}:-default}} to give a default)")]
    Missing { name: String, line: usize },
    #[error("line {line}: unterminated '${{' (close it with '}}', or write '$${{' for a literal)")]
    Unterminated { line: usize },
    #[error("line {line}: '{name}' is not a valid environment variable name")]
    BadName { name: String, line: usize },
}

/// Replaces every `${NAME}` / `${NAME:-default}` using `lookup`.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let line_of = |remaining: &str| text[..text.len() - remaining.len()].matches('\n').count() + 1;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(inner_start) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(close) = inner_start.find('}') else {
            return Err(InterpolationError::Unterminated { line: line_of(tail) });
        };
        let inner = &inner_start[..close];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(InterpolationError::BadName {
                name: name.to_string(),
                line: line_of(tail),
            });
        }
        match lookup(name).or_else(|| default.map(str::to_string)) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(InterpolationError::Missing {
                    name: name.to_string(),
                    line: line_of(tail),
                })
            }
        }
        rest = &inner_start[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_defaults_and_literals() {
        assert_eq!(
            interpolate("a: ${KEY}\nb: x${EMPTY}y", env).unwrap(),
            "a: s3cr3t\nb: xy"
        );
        assert_eq!(interpolate("a: ${NOPE:-fallback}", env).unwrap(), "a: fallback");
        assert_eq!(
            interpolate("price: $5, tpl: $${KEY}", env).unwrap(),
            "price: $5, tpl: ${KEY}"
        );
    }

    #[test]
    fn errors_name_the_line_and_variable() {
        assert_eq!(
            interpolate("a: 1\nb: ${MISSING}", env).unwrap_err(),
            InterpolationError::Missing {
                name: "MISSING".into(),
                line: 2
            }
        );
        assert_eq!(
            interpolate("a: ${KEY", env).unwrap_err(),
            InterpolationError::Unterminated { line: 1 }
        );
        assert!(matches!(
            interpolate("${1X}", env).unwrap_err(),
            InterpolationError::BadName { .. }
        ));
    }
}
