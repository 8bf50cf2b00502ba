//! The effective configuration as TOML, every secret masked.

use toml::Spanned;

use super::Config;

const MASK: &str = "********";

/// Header names whose values are credentials.
fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "key",
        "password",
        "signature",
    ]
    .iter()
    .any(|s| n.contains(s))
}

pub(super) fn effective(config: &Config) -> String {
    let mut schema = config.schema.clone();
    for h in &mut schema.http {
        for (name, value) in &mut h.headers {
            if secret_header(name) {
                *value = MASK.to_owned();
            }
        }
        if let Some(auth) = &mut h.auth {
            for v in [&mut auth.bearer_token, &mut auth.password]
                .into_iter()
                .flatten()
            {
                *v = Spanned::new(v.span(), MASK.to_owned());
            }
        }
    }
    if let Some(n) = &mut schema.notify {
        for c in &mut n.channels {
            for v in [&mut c.url, &mut c.secret].into_iter().flatten() {
                *v = Spanned::new(v.span(), MASK.to_owned());
            }
            for (name, value) in &mut c.headers {
                if secret_header(name) {
                    *value = MASK.to_owned();
                }
            }
        }
    }
    let mut out = format!(
        "# the effective configuration of {}\n",
        config.source.name()
    );
    if !config.overridden.is_empty() {
        out.push_str(&format!(
            "# overridden by the environment: {}\n",
            config.overridden.join(", ")
        ));
    }
    out.push('\n');
    match toml::to_string(&schema) {
        Ok(text) => out.push_str(&text),
        Err(e) => out.push_str(&format!("# cannot be shown as TOML: {e}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_reads_back() {
        let text = r#"
service = "pay"
[[http]]
url = "http://127.0.0.1:9/"
headers = { "X-Api-Key" = "k-123", "X-Tenant" = "t1" }
[http.auth]
bearer_token = "tok-456"
allow_inline_secrets = true
"#;
        let config = Config::parse("pay.toml", text).unwrap();
        let shown = effective(&config);
        assert!(
            !shown.contains("k-123") && !shown.contains("tok-456"),
            "{shown}"
        );
        assert!(shown.contains("t1"), "{shown}");
        let again = Config::parse("shown.toml", &shown).unwrap();
        assert_eq!(again.schema.service.as_deref(), Some("pay"));
    }
}
