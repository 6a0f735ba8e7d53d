//! The build graph of a Cargo build: the packages reachable from the selected members,
//! resolved by `cargo metadata` for one platform and feature set, keyed without any
//! absolute path.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use cargo_metadata::{DependencyKind, Metadata, Package, PackageId};
use petgraph::Graph;
use receipt_graph::CanonicalGraph;

use crate::cli::BuildArgs;
use crate::exit::Error;

/// The resolved build graph and the members it starts from.
#[derive(Debug, Clone)]
pub struct BuildGraph {
    /// The canonical graph (edges from dependent to dependency).
    pub canonical: CanonicalGraph,
    /// Keys of the selected workspace members, sorted.
    pub members: Vec<String>,
    /// Whether dev-dependency edges of the members were followed.
    pub dev: bool,
}

/// Which workspace members the build selects, as cargo does: `-p` specs, else
/// `--workspace` minus `--exclude`, else the package of the manifest, else the default
/// members of a virtual workspace.
///
/// # Errors
/// [`Error::Usage`] when a `-p` spec names no member.
pub fn selected_members<'m>(
    meta: &'m Metadata,
    args: &BuildArgs,
) -> Result<Vec<&'m PackageId>, Error> {
    let members: Vec<&Package> = meta.workspace_packages();
    if !args.package.is_empty() {
        let mut out = Vec::new();
        for spec in &args.package {
            let found: Vec<&Package> = members
                .iter()
                .copied()
                .filter(|p| spec_matches(spec, p))
                .collect();
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "package spec `{spec}` given to -p matches no workspace member"
                )));
            }
            out.extend(found.into_iter().map(|p| &p.id));
        }
        return Ok(out);
    }
    if args.workspace {
        return Ok(members
            .into_iter()
            .filter(|p| !args.exclude.iter().any(|e| spec_matches(e, p)))
            .map(|p| &p.id)
            .collect());
    }
    if let Some(root) = meta.resolve.as_ref().and_then(|r| r.root.as_ref()) {
        return Ok(vec![root]);
    }
    if meta.workspace_default_members.is_available() {
        let defaults: BTreeSet<&PackageId> = meta.workspace_default_members.iter().collect();
        return Ok(members
            .into_iter()
            .map(|p| &p.id)
            .filter(|id| defaults.contains(id))
            .collect());
    }
    Ok(members.into_iter().map(|p| &p.id).collect())
}

/// `name`, `name@version` or `name@major.minor…` prefix, as `-p` accepts.
fn spec_matches(spec: &str, p: &Package) -> bool {
    match spec.split_once('@') {
        Some((name, version)) => {
            *p.name == *name && {
                let v = p.version.to_string();
                v == version || v.starts_with(&format!("{version}."))
            }
        }
        None => *p.name == *spec,
    }
}

/// Builds the graph: nodes reachable from the selected members through normal and build
/// edges (plus the members' own dev edges when test, bench or example targets are built)
/// of `meta`'s resolve, which must come from `cargo metadata --filter-platform <triple>`
/// with the build's feature flags.
///
/// # Errors
/// [`Error::Usage`] when the metadata has no resolve or a key is unusable.
pub fn build_graph(meta: &Metadata, args: &BuildArgs) -> Result<BuildGraph, Error> {
    let resolve = meta
        .resolve
        .as_ref()
        .ok_or_else(|| Error::Usage("`cargo metadata` returned no dependency resolution".into()))?;
    let starts = selected_members(meta, args)?;
    let dev = args.builds_dev_targets();
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let packages: BTreeMap<&PackageId, &Package> =
        meta.packages.iter().map(|p| (&p.id, p)).collect();
    let keys = node_keys(meta, meta.workspace_root.as_std_path());

    let mut g: Graph<String, ()> = Graph::new();
    let mut index = BTreeMap::new();
    let mut queue: VecDeque<&PackageId> = VecDeque::new();
    let start_set: BTreeSet<&PackageId> = starts.iter().copied().collect();
    for id in &starts {
        if !index.contains_key(id) {
            index.insert(*id, g.add_node(keys[*id].clone()));
            queue.push_back(id);
        }
    }
    while let Some(id) = queue.pop_front() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let follow = dep.dep_kinds.iter().any(|k| match k.kind {
                DependencyKind::Normal | DependencyKind::Build => true,
                DependencyKind::Development => dev && start_set.contains(id),
                _ => false,
            });
            if !follow || !packages.contains_key(&dep.pkg) {
                continue;
            }
            let to = match index.get(&dep.pkg) {
                Some(&i) => i,
                None => {
                    let i = g.add_node(keys[&dep.pkg].clone());
                    index.insert(&dep.pkg, i);
                    queue.push_back(&dep.pkg);
                    i
                }
            };
            g.add_edge(index[id], to, ());
        }
    }
    let canonical = CanonicalGraph::from_petgraph(&g)
        .map_err(|e| Error::Usage(format!("the build graph cannot be canonicalized: {e}")))?;
    let mut members: Vec<String> = starts.iter().map(|id| keys[*id].clone()).collect();
    members.sort();
    members.dedup();
    Ok(BuildGraph {
        canonical,
        members,
        dev,
    })
}

/// The node key of every package: `name@version`; when two packages share it, `#` and the
/// source are appended (`path` for a local package); when two local packages still share
/// it, `path:` and the package directory relative to the workspace root.
pub fn node_keys<'m>(meta: &'m Metadata, workspace_root: &Path) -> BTreeMap<&'m PackageId, String> {
    let base = |p: &Package| format!("{}@{}", p.name, p.version);
    let source = |p: &Package| match &p.source {
        None => "path".to_owned(),
        Some(s) if s.repr.contains("file://") => "local".to_owned(),
        Some(s) => s.repr.clone(),
    };
    let mut by_base: BTreeMap<String, Vec<&Package>> = BTreeMap::new();
    for p in &meta.packages {
        by_base.entry(base(p)).or_default().push(p);
    }
    let mut out = BTreeMap::new();
    for (b, group) in by_base {
        if group.len() == 1 {
            out.insert(&group[0].id, b);
            continue;
        }
        let mut by_source: BTreeMap<String, Vec<&Package>> = BTreeMap::new();
        for p in group {
            by_source.entry(source(p)).or_default().push(p);
        }
        for (s, ps) in by_source {
            if ps.len() == 1 {
                out.insert(&ps[0].id, format!("{b}#{s}"));
                continue;
            }
            for p in ps {
                let dir = p
                    .manifest_path
                    .parent()
                    .map(|d| crate::paths::relative_slash(d.as_std_path(), workspace_root))
                    .unwrap_or_default();
                out.insert(&p.id, format!("{b}#{s}:{dir}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, source: Option<&str>, dir: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "version": version,
            "id": format!("{}#{name}@{version}", source.unwrap_or(&format!("path+file://{dir}"))),
            "source": source,
            "dependencies": [],
            "targets": [],
            "features": {},
            "manifest_path": format!("{dir}/Cargo.toml"),
            "edition": "2021",
        })
    }

    #[test]
    fn colliding_keys_get_the_source_then_the_relative_directory() {
        let crates_io = "registry+https://github.com/rust-lang/crates.io-index";
        let doc = serde_json::json!({
            "packages": [
                package("a", "1.0.0", None, "/checkout/ws/a"),
                package("dup", "0.1.0", None, "/checkout/ws/vendor/dup"),
                package("dup", "0.1.0", Some(crates_io), "/home/u/.cargo/registry/dup"),
                package("twin", "0.1.0", None, "/checkout/ws/one/twin"),
                package("twin", "0.1.0", None, "/checkout/elsewhere/twin"),
            ],
            "workspace_members": [],
            "resolve": null,
            "target_directory": "/checkout/ws/target",
            "workspace_root": "/checkout/ws",
            "version": 1,
        });
        let meta: Metadata = serde_json::from_value(doc).unwrap();
        let mut keys: Vec<String> = node_keys(&meta, Path::new("/checkout/ws"))
            .into_values()
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "a@1.0.0",
                "dup@0.1.0#path",
                "dup@0.1.0#registry+https://github.com/rust-lang/crates.io-index",
                "twin@0.1.0#path:../elsewhere/twin",
                "twin@0.1.0#path:one/twin",
            ]
        );
    }
}
