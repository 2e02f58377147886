//! The job dependency graph: edges from `depends_on` and `after:`, a deterministic topological
//! order, and precise errors (unknown job with a suggestion, or a cycle with its full path).
//! Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

/// Why an edge exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Listed in `depends_on`.
    DependsOn,
    /// The `after:<job>` frequency.
    After,
}

/// What the graph is built from: one job and its upstream references, in file order.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The job name.
    pub name: String,
    /// Upstream job names with the reason, in file order (`depends_on` entries, then `after:`).
    pub upstreams: Vec<(String, EdgeKind)>,
}

/// A problem that prevents building the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagError {
    /// `job` refers to `upstream`, which is not a job.
    Unknown {
        /// The job holding the reference.
        job: String,
        /// The missing name.
        upstream: String,
        /// Where the reference comes from.
        kind: EdgeKind,
        /// Index of the entry within `depends_on` (0 for `after:`).
        index: usize,
        /// The closest existing job name, if any is close.
        suggestion: Option<String>,
    },
    /// A job that depends on itself.
    SelfLoop {
        /// The job.
        job: String,
        /// Where the reference comes from.
        kind: EdgeKind,
        /// Index of the entry within `depends_on` (0 for `after:`).
        index: usize,
    },
    /// A cycle: the path starts and ends with the same job (`a → c → b → a`).
    Cycle {
        /// The jobs on the cycle, first repeated at the end.
        path: Vec<String>,
    },
}

impl std::fmt::Display for DagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DagError::Unknown { upstream, kind, .. } => {
                let what = match kind {
                    EdgeKind::DependsOn => "depends on",
                    EdgeKind::After => "runs after",
                };
                write!(f, "{what} unknown job {upstream:?}")
            }
            DagError::SelfLoop { job, .. } => write!(f, "job {job:?} cannot depend on itself"),
            DagError::Cycle { path } => write!(f, "dependency cycle: {}", path.join(" → ")),
        }
    }
}

/// A valid dependency graph (acyclic, every reference known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dag {
    /// Upstreams of each job (sorted, deduplicated).
    deps: BTreeMap<String, BTreeSet<String>>,
    /// Downstreams of each job (sorted).
    succ: BTreeMap<String, BTreeSet<String>>,
    /// Topological order: among ready jobs, the smallest name (byte order) first.
    order: Vec<String>,
}

impl Dag {
    /// Builds the graph, or returns every unknown reference and self-loop, or the first cycle.
    pub fn build(nodes: &[NodeSpec]) -> Result<Dag, Vec<DagError>> {
        let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        let mut errors = Vec::new();
        let mut deps: BTreeMap<String, BTreeSet<String>> =
            nodes.iter().map(|n| (n.name.clone(), BTreeSet::new())).collect();
        for node in nodes {
            let mut dep_index = 0;
            for (upstream, kind) in &node.upstreams {
                let index = match kind {
                    EdgeKind::DependsOn => {
                        dep_index += 1;
                        dep_index - 1
                    }
                    EdgeKind::After => 0,
                };
                if upstream.is_empty() {
                    continue;
                }
                if *upstream == node.name {
                    errors.push(DagError::SelfLoop { job: node.name.clone(), kind: *kind, index });
                } else if !names.contains(upstream.as_str()) {
                    let suggestion =
                        crate::config::suggest(upstream, names.iter().copied()).map(str::to_owned);
                    errors.push(DagError::Unknown {
                        job: node.name.clone(),
                        upstream: upstream.clone(),
                        kind: *kind,
                        index,
                        suggestion,
                    });
                } else if let Some(set) = deps.get_mut(&node.name) {
                    set.insert(upstream.clone());
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut succ: BTreeMap<String, BTreeSet<String>> =
            deps.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
        for (job, ups) in &deps {
            for up in ups {
                if let Some(s) = succ.get_mut(up) {
                    s.insert(job.clone());
                }
            }
        }
        // Kahn's algorithm; the BTreeSet keeps the ready set sorted.
        let mut indegree: BTreeMap<&str, usize> =
            deps.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
        let mut ready: BTreeSet<&str> =
            indegree.iter().filter(|(_, d)| **d == 0).map(|(k, _)| *k).collect();
        let mut order = Vec::with_capacity(deps.len());
        while let Some(next) = ready.pop_first() {
            order.push(next.to_owned());
            for down in &succ[next] {
                if let Some(d) = indegree.get_mut(down.as_str()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(down.as_str());
                    }
                }
            }
        }
        if order.len() < deps.len() {
            let done: BTreeSet<&str> = order.iter().map(String::as_str).collect();
            return Err(vec![DagError::Cycle { path: find_cycle(&deps, &done) }]);
        }
        Ok(Dag { deps, succ, order })
    }

    /// Job names in topological order.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Direct upstreams of a job, sorted.
    pub fn deps_of(&self, job: &str) -> impl Iterator<Item = &str> {
        self.deps.get(job).into_iter().flatten().map(String::as_str)
    }

    /// Direct downstreams of a job, sorted.
    pub fn successors_of(&self, job: &str) -> impl Iterator<Item = &str> {
        self.succ.get(job).into_iter().flatten().map(String::as_str)
    }

    /// Every edge as `(upstream, downstream)`, sorted.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.deps.iter().flat_map(|(job, ups)| ups.iter().map(move |u| (u.as_str(), job.as_str())))
    }

    /// One line per job in topological order: `name` or `name  ←  [dep1, dep2]`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for job in &self.order {
            let deps: Vec<&str> = self.deps_of(job).collect();
            if deps.is_empty() {
                out.push_str(job);
            } else {
                out.push_str(&format!("{job}  ←  [{}]", deps.join(", ")));
            }
            out.push('\n');
        }
        out
    }

    /// A Graphviz `digraph`, edges pointing downstream.
    pub fn render_dot(&self) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from("digraph husky {\n  rankdir=LR;\n");
        for job in &self.order {
            out.push_str(&format!("  {};\n", quote(job)));
        }
        for (up, down) in self.edges() {
            out.push_str(&format!("  {} -> {};\n", quote(up), quote(down)));
        }
        out.push_str("}\n");
        out
    }
}

/// A cycle among the jobs not yet ordered: DFS from the smallest name, following upstream links.
fn find_cycle(deps: &BTreeMap<String, BTreeSet<String>>, done: &BTreeSet<&str>) -> Vec<String> {
    let remaining: Vec<&str> =
        deps.keys().map(String::as_str).filter(|k| !done.contains(k)).collect();
    for start in &remaining {
        let mut path: Vec<&str> = vec![start];
        let mut on_path: BTreeSet<&str> = BTreeSet::from([*start]);
        let mut iters: Vec<std::collections::btree_set::Iter<'_, String>> =
            vec![deps[*start].iter()];
        while let Some(it) = iters.last_mut() {
            match it.next() {
                Some(next) if done.contains(next.as_str()) => {}
                Some(next) => {
                    if let Some(i) = path.iter().position(|p| *p == next.as_str()) {
                        let mut cycle: Vec<String> =
                            path[i..].iter().map(|s| (*s).to_owned()).collect();
                        cycle.push(next.clone());
                        return cycle;
                    }
                    if on_path.insert(next.as_str()) {
                        path.push(next.as_str());
                        iters.push(deps[next.as_str()].iter());
                    }
                }
                None => {
                    iters.pop();
                    if let Some(p) = path.pop() {
                        on_path.remove(p);
                    }
                }
            }
        }
    }
    remaining.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, deps: &[&str]) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            upstreams: deps.iter().map(|d| ((*d).to_owned(), EdgeKind::DependsOn)).collect(),
        }
    }

    fn after(name: &str, parent: &str) -> NodeSpec {
        NodeSpec { name: name.into(), upstreams: vec![(parent.into(), EdgeKind::After)] }
    }

    #[test]
    fn no_dependencies() {
        let dag = Dag::build(&[spec("c", &[]), spec("a", &[]), spec("b", &[])]).unwrap();
        assert_eq!(dag.order(), ["a", "b", "c"]);
        assert_eq!(dag.edges().count(), 0);
    }

    #[test]
    fn chain_fan_out_and_fan_in() {
        let chain = Dag::build(&[spec("c", &["b"]), spec("b", &["a"]), spec("a", &[])]).unwrap();
        assert_eq!(chain.order(), ["a", "b", "c"]);
        let fan_out = Dag::build(&[spec("z", &[]), spec("b", &["z"]), spec("c", &["z"])]).unwrap();
        assert_eq!(fan_out.order()[0], "z");
        let fan_in = Dag::build(&[spec("c", &["a", "b"]), spec("a", &[]), spec("b", &[])]).unwrap();
        assert_eq!(fan_in.order().last().map(String::as_str), Some("c"));
        assert_eq!(fan_in.deps_of("c").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(fan_in.successors_of("a").collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn after_creates_an_edge_and_keeps_case() {
        let dag = Dag::build(&[spec("Ingest", &[]), after("b", "Ingest")]).unwrap();
        assert_eq!(dag.edges().collect::<Vec<_>>(), [("Ingest", "b")]);
        let err = Dag::build(&[spec("ingest", &[]), after("b", "Ingest")]).unwrap_err();
        assert_eq!(
            err,
            [DagError::Unknown {
                job: "b".into(),
                upstream: "Ingest".into(),
                kind: EdgeKind::After,
                index: 0,
                suggestion: Some("ingest".into()),
            }]
        );
    }

    #[test]
    fn full_pipeline_order() {
        let dag = Dag::build(&[
            spec("ingest_raw_data", &[]),
            after("transform_data", "ingest_raw_data"),
            after("generate_report", "transform_data"),
            spec("sync_to_s3", &[]),
            spec("cleanup_old_files", &[]),
        ])
        .unwrap();
        assert_eq!(
            dag.order(),
            [
                "cleanup_old_files",
                "ingest_raw_data",
                "sync_to_s3",
                "transform_data",
                "generate_report"
            ]
        );
    }

    #[test]
    fn cycles_report_their_full_path() {
        let err =
            Dag::build(&[spec("a", &["c"]), spec("b", &["a"]), spec("c", &["b"])]).unwrap_err();
        assert_eq!(
            err,
            [DagError::Cycle { path: vec!["a".into(), "c".into(), "b".into(), "a".into()] }]
        );
        assert_eq!(err[0].to_string(), "dependency cycle: a → c → b → a");
        let err = Dag::build(&[spec("a", &["b"]), spec("b", &["a"])]).unwrap_err();
        assert_eq!(err[0].to_string(), "dependency cycle: a → b → a");
        // A job downstream of a cycle is not part of the path.
        let err =
            Dag::build(&[spec("x", &["a"]), spec("a", &["b"]), spec("b", &["a"])]).unwrap_err();
        assert_eq!(err[0].to_string(), "dependency cycle: a → b → a");
    }

    #[test]
    fn self_loops_and_unknown_names_are_not_cycles() {
        let err = Dag::build(&[spec("a", &["a"])]).unwrap_err();
        assert_eq!(
            err,
            [DagError::SelfLoop { job: "a".into(), kind: EdgeKind::DependsOn, index: 0 }]
        );
        let err = Dag::build(&[spec("load", &[]), spec("b", &["x", "laod"])]).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(
            matches!(&err[0], DagError::Unknown { upstream, suggestion: None, index: 0, .. } if upstream == "x")
        );
        assert!(
            matches!(&err[1], DagError::Unknown { upstream, suggestion: Some(s), index: 1, .. } if upstream == "laod" && s == "load")
        );
    }

    #[test]
    fn renderings() {
        assert_eq!(Dag::build(&[spec("a", &[])]).unwrap().render_text(), "a\n");
        let dag = Dag::build(&[spec("a", &[]), spec("b", &["a"])]).unwrap();
        assert_eq!(dag.render_text(), "a\nb  ←  [a]\n");
        assert!(dag.render_dot().contains("\"a\" -> \"b\";"));
    }

    #[test]
    fn order_is_stable_across_builds() {
        let specs = [spec("m", &[]), spec("k", &["m"]), spec("z", &[]), spec("a", &["z"])];
        let first = Dag::build(&specs).unwrap();
        for _ in 0..10 {
            assert_eq!(Dag::build(&specs).unwrap().order(), first.order());
        }
    }
}
