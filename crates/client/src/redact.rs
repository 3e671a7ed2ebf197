//! Secrets out of text: URL user-info and a provider's key and header values, wherever a message, an
//! error, a log line or a stored record would carry them.

use crate::config::Provider;

/// What a secret value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// What the user-info of a URL (`user:password@`) is replaced with.
pub const REDACTED_USERINFO: &str = "***";

/// `text` with the user-info of every URL in it (`scheme://user:password@host`) replaced by
/// [`REDACTED_USERINFO`]: `http://user:secret@host/v1` becomes `http://***@host/v1`. Text without
/// `://` comes back unchanged.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(after.len());
        match after[..authority_len].rfind('@') {
            Some(userinfo_end) => {
                out.push_str(REDACTED_USERINFO);
                rest = &after[userinfo_end..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// The user name and password of `url`, as written and percent-decoded, and the `Authorization`
/// value (`Basic BASE64`) the HTTP client sends for them: what a server could echo back.
pub(crate) fn userinfo_parts(url: &str) -> Vec<String> {
    use base64::Engine;
    let Ok(url) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    if url.username().is_empty() && url.password().is_none() {
        return Vec::new();
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut parts = vec![url.username().to_string(), decode(url.username())];
    if let Some(password) = url.password() {
        parts.push(password.to_string());
        parts.push(decode(password));
    }
    let credentials = format!(
        "{}:{}",
        decode(url.username()),
        url.password().map(decode).unwrap_or_default()
    );
    parts.push(base64::engine::general_purpose::STANDARD.encode(credentials));
    parts
}

/// `text` with every occurrence of each of `secrets` (empty ones ignored, longest first so that a
/// secret containing another goes whole) replaced by [`REDACTED`], and URL user-info by
/// [`REDACTED_USERINFO`].
pub(crate) fn redact_values<S: AsRef<str>>(
    text: &str,
    secrets: impl IntoIterator<Item = S>,
) -> String {
    let owned: Vec<S> = secrets.into_iter().collect();
    let mut secrets: Vec<&str> = owned
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| !s.is_empty())
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mut text = redact_userinfo(text);
    for secret in secrets {
        if text.contains(secret) {
            text = text.replace(secret, REDACTED);
        }
    }
    text
}

impl Provider {
    /// `text` without this provider's secrets: its key, every header value and the user-info of its
    /// base URL (as written, percent-decoded and as the `Basic` credentials sent for it) become [`REDACTED`], and the user-info of any URL
    /// [`REDACTED_USERINFO`]. Every message a server or the network stack produced goes through it.
    pub fn redact(&self, text: &str) -> String {
        let userinfo = userinfo_parts(&self.base_url);
        let key = self.api_key.as_ref().map(|k| k.expose());
        redact_values(
            text,
            key.into_iter()
                .chain(self.headers.values().map(String::as_str))
                .chain(userinfo.iter().map(String::as_str)),
        )
    }

    /// The base URL as it may be shown: its user-info replaced by [`REDACTED_USERINFO`].
    pub fn display_url(&self) -> String {
        redact_userinfo(&self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_goes_wherever_a_url_is() {
        assert_eq!(
            redact_userinfo("http://user:secret@host:8/v1"),
            "http://***@host:8/v1"
        );
        assert_eq!(
            redact_userinfo("POST https://tok@h/v1/x failed; see http://h/v1 and ftp://a:b@c"),
            "POST https://***@h/v1/x failed; see http://h/v1 and ftp://***@c"
        );
        assert_eq!(redact_userinfo("no url: a@b"), "no url: a@b");
        assert_eq!(redact_userinfo("http://h/v1?to=a@b"), "http://h/v1?to=a@b");
        assert_eq!(redact_userinfo("x://"), "x://");
    }

    #[test]
    fn values_go_longest_first() {
        assert_eq!(
            redact_values("abc and abcdef", ["abc", "abcdef", ""]),
            "<redacted> and <redacted>"
        );
        assert_eq!(redact_values("nothing", ["zzz"]), "nothing");
    }

    #[test]
    fn a_provider_hides_key_headers_and_decoded_userinfo() {
        let p = crate::Providers::from_toml_str_with_env(
            "[models.m]\nbase_url = \"http://al%69ce:p%40ss@h/v1\"\napi_key_env = \"K\"\nheaders = { \"x-api-key\" = \"hv-42\" }\n",
            "p.toml",
            &|_| Some("sk-9".to_string()),
        )
        .unwrap();
        let p = p.get("m").unwrap();
        assert_eq!(p.display_url(), "http://***@h/v1");
        let text = p.redact("key sk-9, header hv-42, user alice, password p@ss, basic YWxpY2U6cEBzcw==, url http://al%69ce:p%40ss@h/v1");
        assert_eq!(
            text,
            "key <redacted>, header <redacted>, user <redacted>, password <redacted>, basic <redacted>, url http://***@h/v1"
        );
    }
}
