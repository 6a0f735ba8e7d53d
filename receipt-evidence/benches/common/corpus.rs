//! A deterministic generator of "typical log" text (timestamps, levels, paths, JSON, URLs,
//! stack frames, SQL) with optional planted secrets, one per built-in detector format.
//! Shared by the redaction benchmark and the redaction tests.
#![allow(dead_code)]

/// xorshift64*: deterministic, no dependencies.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// `n` characters drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
    pub fn hex(&mut self, n: usize) -> String {
        self.string(b"0123456789abcdef", n)
    }
}

pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn timestamp(rng: &mut Rng) -> String {
    format!(
        "2026-03-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1000)
    )
}

/// One ordinary log line (with its `\n`), free of secrets. Several contain anchors of the
/// detectors (`password`, `token`, `key`, `secret`, `://`, `Bearer`, `Asia`) in harmless use.
pub fn clean_line(rng: &mut Rng) -> String {
    let ts = timestamp(rng);
    let level = rng.pick(&[
        "INFO ", "DEBUG", "WARN ", "INFO ", "INFO ", "ERROR", "TRACE",
    ]);
    let user = rng.pick(&["alice", "bob", "carol", "dave", "erin", "mallory"]);
    let id = rng.below(100_000);
    match rng.below(20) {
        0 => format!(
            "{ts} {level} api::handler{{req_id={}}}: GET /v1/users/{id}/profile status=200 dur_ms={}.{} bytes={}\n",
            rng.hex(16),
            rng.below(500),
            rng.below(10),
            rng.below(100_000)
        ),
        1 => format!(
            "{{\"ts\":\"{ts}\",\"level\":\"debug\",\"msg\":\"cache lookup\",\"key\":\"user:{id}:profile\",\"hit\":{},\"latency_us\":{}}}\n",
            rng.below(2) == 0,
            rng.below(5000)
        ),
        2 => format!(
            "{ts} {level} http_client: retrying request url=https://api.example.com/v2/items?page={}&limit=50 attempt={}\n",
            rng.below(40),
            rng.below(5)
        ),
        3 => format!(
            "{ts} {level} storage::fs: opened /var/lib/app/data/segment-{:06}.log mode=rw size={}\n",
            rng.below(1_000_000),
            rng.below(1 << 24)
        ),
        4 => {
            format!("{ts} {level} auth: login succeeded for user={user} method=password mfa=totp\n")
        }
        5 => format!(
            "{ts} {level} tokenizer: processed {} tokens in {}.{}ms (cache key miss ratio {}%)\n",
            rng.below(4096),
            rng.below(50),
            rng.below(10),
            rng.below(100)
        ),
        6 => format!(
            "{ts} {level} keyring: loaded {} keys from /etc/app/keys.d for tenant {user}\n",
            rng.below(9)
        ),
        7 => format!(
            "{ts} {level} scheduler: job {id} placed in region asia-east1 zone b (queue depth {})\n",
            rng.below(300)
        ),
        8 => format!(
            "{ts} {level} tracing: span closed trace_id={} span_id={} parent={}\n",
            rng.hex(32),
            rng.hex(16),
            rng.hex(16)
        ),
        9 => format!(
            "{ts} {level} deploy: running commit sha={} built from https://git.example.org/platform/app.git ref=refs/heads/main\n",
            rng.hex(40)
        ),
        10 => format!(
            "{ts} {level} db: SELECT id, name, email FROM users WHERE org_id = {} AND deleted_at IS NULL LIMIT 100 ({} rows, {}ms)\n",
            rng.below(1000),
            rng.below(100),
            rng.below(80)
        ),
        11 => format!(
            "    at com.example.app.service.OrderService.process(OrderService.java:{})\n",
            rng.below(900)
        ),
        12 => format!(
            "{ts} {level} auth: token refresh scheduled for user={user} in {}s; secret rotation policy=90d\n",
            rng.below(3600)
        ),
        13 => format!(
            "{{\"ts\":\"{ts}\",\"level\":\"info\",\"event\":\"http_request\",\"method\":\"POST\",\"path\":\"/api/v1/orders\",\"status\":{},\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64)\",\"remote\":\"10.{}.{}.{}\"}}\n",
            [200, 201, 400, 404, 500][rng.below(5) as usize],
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
        14 => format!(
            "{ts} {level} worker[{}]: processed batch {id} of {} messages from queue orders.created (lag {}ms)\n",
            rng.below(16),
            rng.below(500),
            rng.below(2000)
        ),
        15 => format!(
            "{ts} {level} config: cache_key=user_profile_settings_v2 ttl=300s primary_key=id token_count={}\n",
            rng.below(100_000)
        ),
        16 => format!(
            "{ts} {level} http: upstream returned 401, header WWW-Authenticate: Bearer realm=\"api\" for user={user}\n"
        ),
        17 => format!(
            "{ts} {level} gc: pause {}.{}ms heap {}MiB -> {}MiB (young collections {})\n",
            rng.below(30),
            rng.below(10),
            rng.below(4000),
            rng.below(4000),
            rng.below(1000)
        ),
        18 => format!(
            "{ts} {level} net: connected to postgres://db.internal.example:5432/app sslmode=require pool={}\n",
            rng.below(64)
        ),
        _ => format!(
            "{ts} {level} metrics: cpu={}% mem={}MiB rss={}MiB fds={} threads={} uptime={}s\n",
            rng.below(100),
            rng.below(8000),
            rng.below(8000),
            rng.below(2000),
            rng.below(200),
            rng.below(1_000_000)
        ),
    }
}

/// A secret in the format of built-in detector `id`, and a log line carrying it.
/// Returns `(line with its \n, the secret bytes that must not survive)`.
pub fn planted(id: &str, rng: &mut Rng) -> (String, String) {
    let ts = timestamp(rng);
    match id {
        "aws_access_key_id" => {
            let s = format!("AKIA{}", rng.string(UPPER_ALNUM, 16));
            (
                format!("{ts} INFO  aws: using credentials access_key_id={s} region=us-east-1\n"),
                s,
            )
        }
        "aws_secret_access_key" => {
            let s = rng.string(B64, 40);
            (format!("{ts} DEBUG env: AWS_SECRET_ACCESS_KEY={s}\n"), s)
        }
        "github_token" => {
            let p = rng.pick(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]);
            let s = format!("{p}{}", rng.string(ALNUM, 36));
            (
                format!("{ts} INFO  git: cloning with token {s} into /tmp/build\n"),
                s,
            )
        }
        "github_fine_grained_pat" => {
            let s = format!(
                "github_pat_{}_{}",
                rng.string(ALNUM, 22),
                rng.string(ALNUM, 59)
            );
            (format!("{ts} INFO  ci: GH auth {s}\n"), s)
        }
        "gitlab_token" => {
            let s = format!("glpat-{}", rng.string(ALNUM, 20));
            (format!("{ts} INFO  ci: gitlab {s} ok\n"), s)
        }
        "slack_token" => {
            let s = format!(
                "xoxb-{}-{}-{}",
                rng.string(b"0123456789", 12),
                rng.string(b"0123456789", 13),
                rng.string(ALNUM, 24)
            );
            (format!("{ts} INFO  notify: slack client {s}\n"), s)
        }
        "slack_webhook" => {
            let s = format!(
                "T{}/B{}/{}",
                rng.string(UPPER_ALNUM, 8),
                rng.string(UPPER_ALNUM, 8),
                rng.string(ALNUM, 24)
            );
            (
                format!("{ts} INFO  notify: posting to https://hooks.slack.com/services/{s}\n"),
                s,
            )
        }
        "stripe_secret_key" => {
            let s = format!("sk_live_{}", rng.string(ALNUM, 24));
            (format!("{ts} INFO  billing: stripe key {s}\n"), s)
        }
        "google_api_key" => {
            let s = format!("AIza{}", rng.string(B64URL, 35));
            (
                format!("{ts} INFO  maps: GET https://maps.example.com/geo?key={s}\n"),
                s,
            )
        }
        "npm_token" => {
            let s = format!("npm_{}", rng.string(ALNUM, 36));
            (format!("//registry.npmjs.org/:_authToken={s}\n"), s)
        }
        "pypi_token" => {
            let s = format!("pypi-AgEIcHlwaS5vcmc{}", rng.string(B64URL, 60));
            (format!("{ts} INFO  twine: upload with {s}\n"), s)
        }
        "jwt" => {
            let s = format!(
                "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
                rng.string(B64URL, 40),
                rng.string(B64URL, 43)
            );
            (
                format!("{ts} DEBUG session: cookie id_token={s}; Path=/\n"),
                s,
            )
        }
        "pem_private_key" => {
            let body: Vec<String> = (0..6).map(|_| rng.string(B64, 64)).collect();
            let s = body.join("\n");
            (
                format!(
                    "{ts} ERROR tls: bad key\n-----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----\n"
                ),
                s,
            )
        }
        "openssh_private_key" => {
            let s = format!("b3BlbnNzaC1rZXktdjEAAAAA{}", rng.string(B64, 60));
            (
                format!(
                    "{ts} DEBUG ssh: key -----BEGIN OPENSSH PRIVATE KEY-----\\n{s}\\n-----END OPENSSH PRIVATE KEY-----\\n\n"
                ),
                s,
            )
        }
        "pgp_private_key" => {
            let s = rng.string(B64, 64);
            (
                format!(
                    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{s}\n-----END PGP PRIVATE KEY BLOCK-----\n"
                ),
                s,
            )
        }
        "bearer_token" => {
            let s = rng.string(B64URL, 32);
            (format!("{ts} DEBUG http: > Authorization: Bearer {s}\n"), s)
        }
        "basic_auth" => {
            let s = rng.string(B64, 24);
            (
                format!("{ts} DEBUG http: > Authorization: Basic {s}==\n"),
                s,
            )
        }
        "url_password" => {
            let s = rng.string(ALNUM, 16);
            (
                format!("{ts} INFO  db: connecting to postgres://app:{s}@db.internal:5432/app\n"),
                s,
            )
        }
        "password_assignment" => {
            let s = rng.string(ALNUM, 14);
            let line = match rng.below(3) {
                0 => format!("{ts} DEBUG config: db_password={s} pool=8\n"),
                1 => format!("{{\"user\":\"svc\",\"password\":\"{s}\",\"ts\":\"{ts}\"}}\n"),
                _ => format!("  password: {s}\n"),
            };
            (line, s)
        }
        "azure_storage_key" => {
            let s = format!("{}==", rng.string(B64, 86));
            (
                format!(
                    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={s};EndpointSuffix=core.windows.net\n"
                ),
                s,
            )
        }
        "azure_sas_token" => {
            let s = format!("{}%3D", rng.string(ALNUM, 43));
            (
                format!(
                    "{ts} INFO  blob: GET https://acct.blob.core.windows.net/c/x?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-04-01&sig={s}\n"
                ),
                s,
            )
        }
        "generic_secret_assignment" => {
            let s = rng.string(ALNUM, 32);
            (format!("{ts} DEBUG env: SERVICE_API_KEY = {s}\n"), s)
        }
        other => panic!("no planted format for {other}"),
    }
}

/// Every built-in detector id that [`planted`] knows.
pub const PLANTABLE: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "github_token",
    "github_fine_grained_pat",
    "gitlab_token",
    "slack_token",
    "slack_webhook",
    "stripe_secret_key",
    "google_api_key",
    "npm_token",
    "pypi_token",
    "jwt",
    "pem_private_key",
    "openssh_private_key",
    "pgp_private_key",
    "bearer_token",
    "basic_auth",
    "url_password",
    "password_assignment",
    "azure_storage_key",
    "azure_sas_token",
    "generic_secret_assignment",
];

/// About `bytes` of log text; `secrets_per_mib` planted secrets per MiB (cycling through the
/// formats). Returns the text and the planted secrets.
pub fn typical_log(bytes: usize, secrets_per_mib: usize, seed: u64) -> (Vec<u8>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(bytes + 4096);
    let mut secrets = Vec::new();
    let every = (1usize << 20)
        .checked_div(secrets_per_mib)
        .unwrap_or(usize::MAX);
    let mut next_secret = every / 2;
    while out.len() < bytes {
        if out.len() >= next_secret {
            let id = PLANTABLE[secrets.len() % PLANTABLE.len()];
            let (line, s) = planted(id, &mut rng);
            out.extend_from_slice(line.as_bytes());
            secrets.push(s);
            next_secret = next_secret.saturating_add(every);
        } else {
            out.extend_from_slice(clean_line(&mut rng).as_bytes());
        }
    }
    (out, secrets)
}
