//! The built-in secret detectors: their stable ids, the literal anchors that trigger them,
//! and how each finds the secret bytes (a regular expression with a secret group, or the
//! private-key block scanner).

/// Bytes a secret may be extended over.
pub(crate) type Extend = fn(u8) -> bool;
/// A last test of a candidate: `(whole match, secret)`.
pub(crate) type Accept = fn(&[u8], &[u8]) -> bool;

/// How a detector finds its secret once an anchor was seen on a line.
pub(crate) enum Body {
    /// A byte regex (Unicode off, ASCII classes) run over the anchor's line. The secret is the
    /// first capture group that took part in the match, or the whole match when the pattern
    /// has no group.
    Regex {
        pattern: &'static str,
        /// Bytes the secret may be extended over on both sides, so that a token longer than
        /// the pattern admits (or glued to more token bytes) leaves no fragment behind.
        extend: Option<Extend>,
        /// A last test of a candidate: `(whole match, secret)`.
        accept: Option<Accept>,
    },
    /// A `-----BEGIN … PRIVATE KEY-----` block of the given family.
    KeyBlock(KeyFamily),
}

/// Where a detector's regex runs when one of its anchors is seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scope {
    /// Over the anchor's whole line (once per line).
    Line,
    /// Anchored at the start of the name (a run of `[A-Za-z0-9_.-]`, at most 64 bytes back)
    /// that contains the anchor: the pattern must begin with the name.
    Name,
}

/// Which private-key blocks a key-block detector reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum KeyFamily {
    /// Any PEM label ending in `PRIVATE KEY` other than the two below.
    Pem,
    /// `OPENSSH PRIVATE KEY`.
    OpenSsh,
    /// `PGP PRIVATE KEY BLOCK`.
    Pgp,
}

/// One built-in detector.
pub(crate) struct Spec {
    pub id: &'static str,
    pub what: &'static str,
    /// Words that trigger the detector in lower, Title or UPPER case (`key`, `Key`, `KEY`).
    pub words: &'static [&'static str],
    /// Literals that trigger the detector exactly as written.
    pub literals: &'static [&'static str],
    /// A cheap necessary condition tested at the end of an anchor before the regex runs.
    pub pre: Option<fn(&[u8], usize) -> bool>,
    /// Where the regex runs for an anchor.
    pub scope: Scope,
    pub body: Body,
}

fn upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn alnum_underscore(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn alnum_dash_underscore(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn alnum_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
fn base64_std(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}
fn slack_path(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'+' | b'-')
}
fn bearer_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
}
fn sas_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'%' | b'+' | b'/' | b'=')
}

pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// After a name fragment ending at `at`: more name bytes, an optional quote, blanks, then `:`
/// or `=`. Every assignment-shaped pattern needs this.
fn assign_after(hay: &[u8], at: usize) -> bool {
    let mut i = at;
    while i < hay.len() && is_name_byte(hay[i]) {
        i += 1;
    }
    // A quote closing the name, also escaped (`\"`) in JSON held in a JSON string.
    if hay.get(i) == Some(&b'\\') && matches!(hay.get(i + 1), Some(b'"' | b'\'')) {
        i += 2;
    } else if matches!(hay.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    while matches!(hay.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    matches!(hay.get(i), Some(b':' | b'='))
}

/// After `bearer`: a blank, `%20` or `+` separating it from the credential.
fn credential_follows(hay: &[u8], at: usize) -> bool {
    matches!(hay.get(at), Some(b' ' | b'\t' | b'%' | b'+'))
}

/// After `://`: an `@` before the authority ends (so there is user information).
fn userinfo_follows(hay: &[u8], at: usize) -> bool {
    hay[at..hay.len().min(at + 1300)]
        .iter()
        .take_while(|&&b| {
            !matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>')
                && !b.is_ascii_whitespace()
        })
        .any(|&b| b == b'@')
}

/// Values that stand for a secret without being one: already redacted, masked, empty
/// templates and references to variables.
fn is_placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    v.is_empty()
        || v == b"[REDACTED]"
        || v.iter().all(|&b| b == b'*' || b == b'x' || b == b'X')
        || matches!(
            &lower[..],
            b"null" | b"none" | b"nil" | b"true" | b"false" | b"<redacted>" | b"redacted"
        )
        || v.starts_with(b"${")
        || v.starts_with(b"$(")
        || v.starts_with(b"{{")
        || v == b"%s"
}

fn accept_not_placeholder(_whole: &[u8], secret: &[u8]) -> bool {
    !is_placeholder(secret)
}

fn accept_password(whole: &[u8], secret: &[u8]) -> bool {
    if is_placeholder(secret) {
        return false;
    }
    // `PWD=/home/user` (and `OLDPWD=`) is the shell's working directory, not a password.
    let name_len = whole.iter().take_while(|&&b| is_name_byte(b)).count();
    let is_pwd = name_len >= 3 && whole[name_len - 3..name_len].eq_ignore_ascii_case(b"pwd");
    !(is_pwd && matches!(secret.first(), Some(b'/' | b'~')))
}

fn accept_bearer(_whole: &[u8], secret: &[u8]) -> bool {
    // "the bearer instrument": a token has 20+ characters or more than lower-case letters.
    secret.len() >= 20 || secret.iter().any(|b| !b.is_ascii_lowercase())
}

/// Shannon entropy of `v` in bits per byte.
pub(crate) fn shannon_entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in v {
        counts[usize::from(b)] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Minimum entropy (bits per byte) of a value assigned to a `*KEY`/`*SECRET`/`*TOKEN` name.
pub(crate) const GENERIC_MIN_ENTROPY: f64 = 3.5;

fn accept_high_entropy(_whole: &[u8], v: &[u8]) -> bool {
    if is_placeholder(v) || v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"~/") {
        return false;
    }
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    if usize::from(lower) + usize::from(upper) + usize::from(digit) < 2 {
        return false;
    }
    // Identifiers made of words (`user_profile_settings_v2`) are names, not secrets.
    let wordy = v
        .split(|&b| matches!(b, b'_' | b'.' | b'-'))
        .filter(|w| w.len() >= 3 && w.iter().all(u8::is_ascii_lowercase))
        .count();
    if wordy >= 3 {
        return false;
    }
    shannon_entropy(v) >= GENERIC_MIN_ENTROPY
}

/// The built-in detectors, in report order. Ids are stable: they appear in redaction records.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        id: "aws_access_key_id",
        what: "AWS access key id (AKIA…, ASIA…, ABIA…, ACCA…, A3T…)",
        words: &[],
        literals: &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
            extend: Some(upper_alnum),
            accept: None,
        },
    },
    Spec {
        id: "aws_secret_access_key",
        what: "AWS secret access key assigned to an aws_secret_access_key-like name",
        words: &["secret"],
        literals: &[],
        pre: Some(assign_after),
        scope: Scope::Name,
        body: Body::Regex {
            pattern: r#"[A-Za-z0-9_.-]{0,64}?(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?([A-Za-z0-9/+]{40,})"#,
            extend: Some(base64_std),
            accept: None,
        },
    },
    Spec {
        id: "github_token",
        what: "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_)",
        words: &[],
        literals: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"gh[pousr]_[A-Za-z0-9]{36,}",
            extend: Some(alnum_underscore),
            accept: None,
        },
    },
    Spec {
        id: "github_fine_grained_pat",
        what: "GitHub fine-grained personal access token (github_pat_)",
        words: &[],
        literals: &["github_pat_"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"github_pat_[A-Za-z0-9_]{36,}",
            extend: Some(alnum_underscore),
            accept: None,
        },
    },
    Spec {
        id: "gitlab_token",
        what: "GitLab personal access token (glpat-)",
        words: &[],
        literals: &["glpat-"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"glpat-[A-Za-z0-9_-]{20,}",
            extend: Some(alnum_dash_underscore),
            accept: None,
        },
    },
    Spec {
        id: "slack_token",
        what: "Slack token (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-)",
        words: &[],
        literals: &["xox"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"xox[abprs]-[A-Za-z0-9-]{10,}",
            extend: Some(alnum_dash),
            accept: None,
        },
    },
    Spec {
        id: "slack_webhook",
        what: "Slack incoming webhook URL (the path after hooks.slack.com/services/)",
        words: &[],
        literals: &["hooks.slack.com"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/+-]{8,})",
            extend: Some(slack_path),
            accept: None,
        },
    },
    Spec {
        id: "stripe_secret_key",
        what: "Stripe secret or restricted key (sk_live_, rk_live_, sk_test_, rk_test_)",
        words: &[],
        literals: &["k_live_", "k_test_"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"[rs]k_(?:live|test)_[A-Za-z0-9]{10,}",
            extend: Some(alnum_underscore),
            accept: None,
        },
    },
    Spec {
        id: "google_api_key",
        what: "Google API key (AIza…)",
        words: &[],
        literals: &["AIza"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"AIza[0-9A-Za-z_-]{35,}",
            extend: Some(alnum_dash_underscore),
            accept: None,
        },
    },
    Spec {
        id: "npm_token",
        what: "npm access token (npm_)",
        words: &[],
        literals: &["npm_"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"npm_[A-Za-z0-9]{36,}",
            extend: Some(alnum_underscore),
            accept: None,
        },
    },
    Spec {
        id: "pypi_token",
        what: "PyPI upload token (pypi-AgEI…)",
        words: &[],
        literals: &["pypi-AgEI"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"pypi-AgEI[A-Za-z0-9_-]{50,}",
            extend: Some(alnum_dash_underscore),
            accept: None,
        },
    },
    Spec {
        id: "jwt",
        what: "JSON Web Token (three or five base64url segments, the first starting eyJ)",
        words: &[],
        literals: &["eyJ"],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*){1,3}",
            extend: Some(alnum_dash_underscore),
            accept: None,
        },
    },
    Spec {
        id: "pem_private_key",
        what: "PEM private key block (-----BEGIN … PRIVATE KEY----- through its END line)",
        words: &[],
        literals: &["-----BEGIN"],
        pre: None,
        scope: Scope::Line,
        body: Body::KeyBlock(KeyFamily::Pem),
    },
    Spec {
        id: "openssh_private_key",
        what: "OpenSSH private key block (-----BEGIN OPENSSH PRIVATE KEY-----)",
        words: &[],
        literals: &["-----BEGIN"],
        pre: None,
        scope: Scope::Line,
        body: Body::KeyBlock(KeyFamily::OpenSsh),
    },
    Spec {
        id: "pgp_private_key",
        what: "PGP private key block (-----BEGIN PGP PRIVATE KEY BLOCK-----)",
        words: &[],
        literals: &["-----BEGIN"],
        pre: None,
        scope: Scope::Line,
        body: Body::KeyBlock(KeyFamily::Pgp),
    },
    Spec {
        id: "bearer_token",
        what: "Bearer credential (Authorization: Bearer <token>)",
        words: &["bearer"],
        literals: &[],
        pre: Some(credential_follows),
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"(?i:bearer)(?:\s+|%20|\+)([A-Za-z0-9._~+/=-]{8,})",
            extend: Some(bearer_char),
            accept: Some(accept_bearer),
        },
    },
    Spec {
        id: "basic_auth",
        what: "Basic credential in an Authorization header (Authorization: Basic <base64>)",
        words: &["authorization"],
        literals: &[],
        pre: Some(assign_after),
        scope: Scope::Name,
        body: Body::Regex {
            pattern: r#"[A-Za-z0-9_.-]{0,64}?(?i:authorization)["']?\s*[:=]\s*["']?(?i:basic)(?:\s+|%20|\+)([A-Za-z0-9+/]{4,}={0,2})"#,
            extend: Some(base64_std),
            accept: None,
        },
    },
    Spec {
        id: "url_password",
        what: "password in a URL (scheme://user:password@host)",
        words: &[],
        literals: &["://"],
        pre: Some(userinfo_follows),
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r#"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s:@/?#"'<>]{0,256}:([^\s/?#"'<>]{1,1024})@"#,
            extend: None,
            accept: Some(accept_not_placeholder),
        },
    },
    Spec {
        id: "password_assignment",
        what: "password=, passwd=, pwd=, passphrase= pairs, and \"password\": \"…\" in JSON or YAML",
        words: &["passw", "pwd", "passphrase"],
        literals: &[],
        pre: Some(assign_after),
        scope: Scope::Name,
        body: Body::Regex {
            pattern: r#"[A-Za-z0-9_.-]{0,64}?(?i:passwd|password|passphrase|pwd)(?:\\?["'])?\s*[:=]\s*(?:"((?:[^"\\\n]|\\.){1,1024})"|\\"((?:[^"\\\n]|\\[^"\n]){1,1024})\\"|'([^'\n]{1,1024})'|([^\s"'&;,)}]{1,1024}))"#,
            extend: None,
            accept: Some(accept_password),
        },
    },
    Spec {
        id: "azure_storage_key",
        what: "Azure storage account key in a connection string (AccountKey=, SharedAccessKey=)",
        words: &[],
        literals: &[
            "AccountKey=",
            "accountkey=",
            "ACCOUNTKEY=",
            "SharedAccessKey=",
            "sharedaccesskey=",
        ],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"(?i:accountkey|sharedaccesskey)=([A-Za-z0-9+/]{20,}={0,2})",
            extend: Some(base64_std),
            accept: None,
        },
    },
    Spec {
        id: "azure_sas_token",
        what: "Azure shared access signature (the sig= parameter of a SAS URL)",
        words: &[],
        literals: &["sig="],
        pre: None,
        scope: Scope::Line,
        body: Body::Regex {
            pattern: r"[?&](?i:sig)=([A-Za-z0-9%+/]{20,}(?:=|%3[Dd])*)",
            extend: Some(sas_char),
            accept: None,
        },
    },
    Spec {
        id: "generic_secret_assignment",
        what: "a value of 20+ high-entropy characters assigned to a name containing key, secret or token",
        words: &["key", "secret", "token"],
        literals: &[],
        pre: Some(assign_after),
        scope: Scope::Name,
        body: Body::Regex {
            pattern: r#"(?i:[A-Za-z0-9_.-]{0,64}(?:key|secret|token)[A-Za-z0-9_.-]{0,64})(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?([A-Za-z0-9+/=_.~-]{20,})"#,
            extend: None,
            accept: Some(accept_high_entropy),
        },
    },
];
