//! Reading a compose file as compose does: YAML with anchors and merge keys (`<<:`), services,
//! and compose's variable interpolation.

use std::collections::BTreeMap;

use integramon_tests::workspace;
use yaml_rust2::{Yaml, YamlLoader};

/// The compose files of the repository.
pub const FILES: [&str; 3] = [
    "compose.yaml",
    "compose.external-db.yaml",
    "compose.local-db.yaml",
];

pub fn text(file: &str) -> String {
    std::fs::read_to_string(workspace().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A compose file with its anchors resolved (the reader does that) and its merge keys (`<<:`)
/// applied, as compose does.
pub fn load(file: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&text(file)).expect("a compose file is YAML");
    assert_eq!(docs.len(), 1, "{file}: one YAML document");
    merge_keys(docs.remove(0))
}

pub fn merge_keys(y: Yaml) -> Yaml {
    match y {
        Yaml::Hash(h) => {
            let mut own = yaml_rust2::yaml::Hash::new();
            let mut merged = Vec::new();
            for (k, v) in h {
                if k.as_str() == Some("<<") {
                    match merge_keys(v) {
                        Yaml::Array(list) => merged.extend(list),
                        other => merged.push(other),
                    }
                } else {
                    own.insert(k, merge_keys(v));
                }
            }
            // Own keys win, then the merged maps in order.
            for m in merged {
                let Yaml::Hash(m) = m else {
                    panic!("`<<` merges a map, not {m:?}")
                };
                for (k, v) in m {
                    own.entry(k).or_insert(v);
                }
            }
            Yaml::Hash(own)
        }
        Yaml::Array(a) => Yaml::Array(a.into_iter().map(merge_keys).collect()),
        other => other,
    }
}

pub fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings, or a string split at blanks (compose's short form of a command).
pub fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a
            .iter()
            .map(|v| scalar(v).unwrap_or_else(|| panic!("not a string: {v:?}")))
            .collect(),
        Yaml::BadValue | Yaml::Null => Vec::new(),
        other => scalar(other)
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect(),
    }
}

pub fn keys(y: &Yaml) -> Vec<String> {
    y.as_hash()
        .map(|h| h.keys().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// One service of the file, raw (not interpolated).
pub struct Service<'a> {
    pub name: String,
    pub y: &'a Yaml,
}

impl Service<'_> {
    pub fn image(&self) -> Option<String> {
        scalar(&self.y["image"])
    }

    pub fn command(&self) -> Vec<String> {
        let mut c = strings(&self.y["entrypoint"]);
        c.extend(strings(&self.y["command"]));
        c
    }

    /// `environment:` as a map or as a list of `KEY=value`.
    pub fn environment(&self) -> Vec<(String, String)> {
        match &self.y["environment"] {
            Yaml::Hash(h) => h
                .iter()
                .map(|(k, v)| {
                    let k = scalar(k).expect("variable name");
                    (k, scalar(v).unwrap_or_default())
                })
                .collect(),
            Yaml::Array(a) => a
                .iter()
                .filter_map(scalar)
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv, String::new()),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn env(&self, key: &str) -> Option<String> {
        self.environment()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// `depends_on:` as service → condition.
    pub fn depends_on(&self) -> BTreeMap<String, String> {
        match &self.y["depends_on"] {
            Yaml::Hash(h) => h
                .iter()
                .map(|(k, v)| {
                    let cond = scalar(&v["condition"]).unwrap_or_else(|| "service_started".into());
                    (scalar(k).expect("service name"), cond)
                })
                .collect(),
            Yaml::Array(a) => a
                .iter()
                .filter_map(scalar)
                .map(|s| (s, "service_started".to_string()))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The health check's `test`, unless there is none or it is disabled.
    pub fn healthcheck(&self) -> Option<Vec<String>> {
        let h = &self.y["healthcheck"];
        if h.is_badvalue() || h["disable"].as_bool() == Some(true) {
            return None;
        }
        let test = match &h["test"] {
            Yaml::String(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            other => strings(other),
        };
        (!test.is_empty() && test[0] != "NONE").then_some(test)
    }

    pub fn profiles(&self) -> Vec<String> {
        strings(&self.y["profiles"])
    }

    /// `volumes:` as (source, target) pairs.
    pub fn volumes(&self) -> Vec<(String, String)> {
        strings(&self.y["volumes"])
            .into_iter()
            .map(|v| {
                let mut parts = v.split(':');
                let src = parts.next().unwrap_or_default().to_string();
                let dst = parts.next().unwrap_or_default().to_string();
                (src, dst)
            })
            .collect()
    }

    /// The target ports of `ports:` (`"host:container"` or `"container"`).
    pub fn published(&self) -> Vec<u16> {
        strings(&self.y["ports"])
            .iter()
            .map(|p| {
                let target = p.rsplit(':').next().unwrap_or(p);
                target
                    .split('/')
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("{}: cannot read port {p:?}", self.name))
            })
            .collect()
    }
}

pub fn services(file: &Yaml) -> Vec<Service<'_>> {
    let h = file["services"].as_hash().expect("services");
    h.iter()
        .map(|(k, v)| Service {
            name: scalar(k).expect("service name"),
            y: v,
        })
        .collect()
}

pub fn service<'a>(all: &'a [Service<'a>], name: &str) -> &'a Service<'a> {
    all.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

// ---- interpolation -------------------------------------------------------------------------

/// Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`.
pub fn interpolate(s: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
            let expr = &r[..end];
            rest = &r[end + 1..];
            let name_len = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_len);
            let value = vars(name);
            let set = value.is_some();
            let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
            let text = if op.is_empty() {
                value.unwrap_or_default()
            } else if let Some(d) = op.strip_prefix(":-") {
                if nonempty {
                    value.unwrap_or_default()
                } else {
                    d.to_string()
                }
            } else if let Some(d) = op.strip_prefix('-') {
                if set {
                    value.unwrap_or_default()
                } else {
                    d.to_string()
                }
            } else if let Some(e) = op.strip_prefix(":?") {
                if !nonempty {
                    return Err(format!("{name}: {e}"));
                }
                value.unwrap_or_default()
            } else if let Some(e) = op.strip_prefix('?') {
                if !set {
                    return Err(format!("{name}: {e}"));
                }
                value.unwrap_or_default()
            } else if let Some(a) = op.strip_prefix(":+") {
                if nonempty {
                    a.to_string()
                } else {
                    String::new()
                }
            } else if let Some(a) = op.strip_prefix('+') {
                if set { a.to_string() } else { String::new() }
            } else {
                return Err(format!("invalid interpolation ${{{expr}}} in {s:?}"));
            };
            out.push_str(&text);
        } else {
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len == 0 {
                return Err(format!("a lone $ in {s:?} (write $$)"));
            }
            out.push_str(&vars(&rest[..name_len]).unwrap_or_default());
            rest = &rest[name_len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The variables a string interpolates, with their operator and argument
/// (`${DB_PASSWORD:?msg}` → `("DB_PASSWORD", ":?msg")`).
pub fn references(s: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').unwrap_or(r.len());
            let expr = &r[..end];
            let n = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            found.push((expr[..n].to_string(), expr[n..].to_string()));
            rest = &r[end.min(r.len())..];
        } else {
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            found.push((rest[..n].to_string(), String::new()));
            rest = &rest[n..];
        }
    }
    found
}

/// Every variable a compose file interpolates, with how.
pub fn file_references(file: &str) -> Vec<(String, String)> {
    references(&text(file))
        .into_iter()
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// Variables `.env.example` names, set or commented out (`# NAME=`).
pub fn env_example() -> BTreeMap<String, String> {
    std::fs::read_to_string(workspace().join(".env.example"))
        .expect(".env.example")
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches('#').trim();
            let (k, v) = l.split_once('=')?;
            (!k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
            .then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}
