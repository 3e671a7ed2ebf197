//! Bearer tokens for servers that speak the API (the workflow server, the gateway): one reading of
//! the `Authorization` header and one comparison, so both accept and refuse alike.

/// What an `Authorization` header value says about `token`: `None` when it carries no bearer
/// token, else whether the token it carries (trimmed) is `token`, compared in time that depends
/// on the lengths only.
pub fn bearer_matches(authorization: Option<&str>, token: &str) -> Option<bool> {
    let sent = authorization?
        .strip_prefix("Bearer ")
        .or_else(|| authorization?.strip_prefix("bearer "))?;
    Some(equal_in_constant_time(
        sent.trim().as_bytes(),
        token.as_bytes(),
    ))
}

/// Compares two byte strings in time that depends on their lengths only.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(equal_in_constant_time(b"sk-abc", b"sk-abc"));
        assert!(!equal_in_constant_time(b"sk-abc", b"sk-abd"));
        assert!(!equal_in_constant_time(b"sk-ab", b"sk-abc"));
        assert!(!equal_in_constant_time(b"", b"sk"));
        assert!(equal_in_constant_time(b"tok", b"tok"));
        assert!(!equal_in_constant_time(b"tok", b"tol"));
        assert!(!equal_in_constant_time(b"to", b"tok"));
    }

    #[test]
    fn only_a_bearer_header_carries_a_token() {
        assert_eq!(bearer_matches(None, "tok"), None);
        assert_eq!(bearer_matches(Some("Basic dG9r"), "tok"), None);
        assert_eq!(bearer_matches(Some("Bearer tok"), "tok"), Some(true));
        assert_eq!(bearer_matches(Some("bearer  tok "), "tok"), Some(true));
        assert_eq!(
            bearer_matches(Some("Bearer sk-provider"), "tok"),
            Some(false)
        );
    }
}
