//! Text that may be shown anywhere (logs, Events, conditions, errors) made from text that may hold a
//! secret: a JSON document's parse error by position only, a URL without its user information. Pure.

/// What is wrong with a JSON document that may hold secrets, by kind and position only: serde's own
/// messages quote the offending value (`invalid type: string "…"`), which may be a password.
pub fn json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match error.classify() {
        Category::Syntax => "is not valid JSON",
        Category::Eof => "is not valid JSON (it ends early)",
        Category::Data => "is JSON of the wrong shape",
        Category::Io => "could not be read",
    };
    format!("{kind} at line {}, column {}", error.line(), error.column())
}

/// `urls` (one or more, comma-separated) with any `user:password@` or `token@` replaced by `***@`, for
/// logs and errors: NATS URLs may carry credentials.
pub fn url_credentials(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let (scheme, rest) = match url.split_once("://") {
                Some((scheme, rest)) => (Some(scheme), rest),
                None => (None, url),
            };
            // The authority ends at the first '/', '?' or '#'; user information ends at its last '@'.
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let rest = match rest[..authority_end].rfind('@') {
                Some(at) => format!("***{}", &rest[at..]),
                None => rest.to_string(),
            };
            match scheme {
                Some(scheme) => format!("{scheme}://{rest}"),
                None => rest,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_quote_the_document() {
        let secret = "canary-p4ssw0rd";
        for document in [
            format!(r#"{{"auths": "{secret}"}}"#),
            format!(r#"{{"auths": {{"r": {{"password": {secret}}}}}}}"#),
            format!(r#"{{"auths": {{"r": {{"password": "{secret}""#),
        ] {
            #[derive(serde::Deserialize, Debug)]
            #[allow(dead_code)]
            struct Shape {
                auths: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
            }
            let error = serde_json::from_str::<Shape>(&document).expect_err("malformed");
            if document.contains(r#""auths": "canary"#) {
                assert!(
                    error.to_string().contains(secret),
                    "serde quotes the value: {error}"
                );
            }
            let shown = json_error(&error);
            assert!(!shown.contains("canary"), "{shown}");
            assert!(shown.contains("line 1, column"), "{shown}");
        }
    }

    #[test]
    fn urls_lose_their_credentials_only() {
        assert_eq!(url_credentials("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(
            url_credentials("nats://user:s3cret@hub:4222"),
            "nats://***@hub:4222"
        );
        assert_eq!(url_credentials("tls://t0ken@hub"), "tls://***@hub");
        assert_eq!(
            url_credentials("nats://a:b@one:4222,nats://two:4222,c:d@three"),
            "nats://***@one:4222,nats://two:4222,***@three"
        );
        assert_eq!(url_credentials("nats://u:p@ss@hub/x@y"), "nats://***@hub/x@y");
        assert_eq!(url_credentials("hub"), "hub");
    }
}
