//! What the user asked cargo to build: the forwarded arguments, in one fixed order, and
//! the facts derived from them (profile, features, whether dev-dependencies are built).

use std::path::Path;

use crate::cli::BuildArgs;

/// Target-selection flags (in arguments after `--` too) that make cargo build test, bench
/// or example targets, and with them the selected members' dev-dependencies.
const DEV_TARGET_FLAGS: &[&str] = &[
    "--tests",
    "--test",
    "--benches",
    "--bench",
    "--examples",
    "--example",
    "--all-targets",
];

impl BuildArgs {
    /// The arguments given to `cargo build`, in a fixed order (so two invocations that mean
    /// the same build forward, and record, the same list), then the arguments after `--`.
    pub fn forwarded(&self) -> Vec<String> {
        let mut v = self.build_affecting(self.manifest_path.as_deref().map(path_arg));
        if let Some(c) = self.color {
            v.push(format!("--color={}", c.as_str()));
        }
        v.extend(self.cargo_args.iter().cloned());
        v
    }

    /// The arguments as recorded in the ingress preimage: like [`BuildArgs::forwarded`] but
    /// without `--color` (it changes no output) and with `--manifest-path` relative to the
    /// workspace root, so the record does not depend on where the checkout lives.
    pub fn recorded(&self, workspace_root: &Path) -> Vec<String> {
        let manifest = self.manifest_path.as_deref().map(|p| {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            crate::paths::relative_slash(&abs, workspace_root)
        });
        let mut v = self.build_affecting(manifest);
        v.extend(self.cargo_args.iter().cloned());
        v
    }

    fn build_affecting(&self, manifest_path: Option<String>) -> Vec<String> {
        let mut v = Vec::new();
        let mut opt = |flag: &str, value: &str| v.push(format!("{flag}={value}"));
        if let Some(m) = &manifest_path {
            opt("--manifest-path", m);
        }
        for p in &self.package {
            opt("--package", p);
        }
        for e in &self.exclude {
            opt("--exclude", e);
        }
        for f in &self.features {
            opt("--features", f);
        }
        if let Some(p) = &self.profile {
            opt("--profile", p);
        }
        if let Some(t) = &self.target {
            opt("--target", t);
        }
        for (flag, names) in [
            ("--bin", &self.bin),
            ("--example", &self.example),
            ("--test", &self.test),
            ("--bench", &self.bench),
        ] {
            for n in names {
                opt(flag, n);
            }
        }
        for (flag, on) in [
            ("--workspace", self.workspace),
            ("--all-features", self.all_features),
            ("--no-default-features", self.no_default_features),
            ("--release", self.release),
            ("--lib", self.lib),
            ("--bins", self.bins),
            ("--examples", self.examples),
            ("--tests", self.tests),
            ("--benches", self.benches),
            ("--all-targets", self.all_targets),
            ("--locked", self.locked),
            ("--offline", self.offline),
            ("--frozen", self.frozen),
        ] {
            if on {
                v.push(flag.to_owned());
            }
        }
        v
    }

    /// The profile name: `--profile`, `release` for `--release`, else `dev`.
    pub fn profile_name(&self) -> String {
        match (&self.profile, self.release) {
            (Some(p), _) => p.clone(),
            (None, true) => "release".into(),
            (None, false) => "dev".into(),
        }
    }

    /// The `--features` values split at spaces and commas, sorted and deduplicated.
    pub fn feature_list(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .features
            .iter()
            .flat_map(|f| f.split([' ', ',']))
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether test, bench or example targets are built, so the selected members'
    /// dev-dependencies are part of the build.
    pub fn builds_dev_targets(&self) -> bool {
        self.tests
            || self.benches
            || self.examples
            || self.all_targets
            || !self.test.is_empty()
            || !self.bench.is_empty()
            || !self.example.is_empty()
            || self.cargo_args.iter().any(|a| {
                let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
                DEV_TARGET_FLAGS.contains(&flag)
            })
    }

    /// The feature flags for `cargo metadata`, so its resolve matches the build's.
    pub fn metadata_feature_flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.all_features {
            v.push("--all-features".into());
        }
        if self.no_default_features {
            v.push("--no-default-features".into());
        }
        let f = self.feature_list();
        if !f.is_empty() {
            v.push(format!("--features={}", f.join(",")));
        }
        v
    }
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
