//! Static checks over `infra/` (the Terraform of the AWS architecture).
//!
//! Providers cannot be downloaded on the build machines, so `terraform init/validate` never
//! runs here; instead every `.tf` file is parsed with `hcl-rs` and held to the rules below.
//! The checker is a pure function over file contents (`check`), so the tests at the bottom
//! feed it mutated copies of the real tree and assert it reports the precise problem.
//!
//! Rules:
//! - every `.tf` file parses; each module/env directory pins Terraform and the AWS provider;
//! - every variable has a description and a type; every output a description;
//! - output `pmctl_environment` of each environment holds every key listed in
//!   `infra/contract/pmctl_environment.keys.json` (and README.md documents each key);
//! - no hard-coded account ids (12-digit numbers) and no literal secrets;
//! - every `aws_rds_cluster` / `aws_rds_global_cluster` is encrypted and deletion-protected;
//!   every Aurora cluster has at least one instance (a proxy may target it);
//! - each RDS Proxy reads a secret from its own region (the replica in the secondary);
//! - Lambda functions trace with X-Ray (`tracing_config { mode = "Active" }`);
//! - HTTP APIs disable the default `execute-api` endpoint;
//! - IAM role/policy names carry the region (IAM is global);
//! - global resources (Route 53, the Aurora global cluster) name their provider, and so does
//!   every resource of a module called without a default `aws` provider;
//! - every `checkov:skip` carries a reason.

use hcl::{Block, Body, Expression, ObjectKey};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Relative path (with `/`) → file contents.
type Files = BTreeMap<String, String>;

const CONTRACT_PATH: &str = "contract/pmctl_environment.keys.json";

/// Account ids allowed to appear literally, with why. Not ours: AWS publishes the Secrets
/// Manager rotation functions in the Serverless Application Repository from this account.
const AWS_OWNED_ACCOUNTS: &[&str] = &["297356227824"];

/// Resource types whose API is global (or homed in one region) and must never ride on an
/// implicit default provider.
const GLOBAL_TYPES: &[&str] = &[
    "aws_rds_global_cluster",
    "aws_route53_record",
    "aws_route53_health_check",
    "aws_route53_zone",
    "aws_cloudfront_distribution",
];

fn infra_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra")
}

/// Reads the `.tf` files, README.md and the contract under `root`.
fn load_tree(root: &Path) -> Files {
    fn walk(root: &Path, dir: &Path, files: &mut Files) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') {
                    walk(root, &path, files);
                }
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            if name.ends_with(".tf") || rel == "README.md" || rel == CONTRACT_PATH {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                files.insert(rel, text);
            }
        }
    }
    let mut files = Files::new();
    walk(root, root, &mut files);
    files
}

// ---------------------------------------------------------------------------------------
// Small helpers over hcl-rs
// ---------------------------------------------------------------------------------------

fn expr_text(e: &Expression) -> String {
    hcl::format::to_string(e).unwrap_or_default()
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn sub_block<'a>(body: &'a Body, ident: &str) -> Option<&'a Block> {
    body.blocks().find(|b| b.identifier() == ident)
}

fn label(b: &Block, i: usize) -> &str {
    b.labels().get(i).map(|l| l.as_str()).unwrap_or("")
}

/// A string with no interpolation, as written in the file.
fn literal_string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(t) => {
            let s = t.to_string();
            (!s.contains("${") && !s.contains("%{")).then_some(s)
        }
        _ => None,
    }
}

fn object_key(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Identifier(i) => i.as_str().to_string(),
        ObjectKey::Expression(e) => literal_string(e).unwrap_or_else(|| expr_text(e)),
        other => format!("{other:?}"),
    }
}

fn is_true(e: Option<&Expression>) -> bool {
    matches!(e, Some(Expression::Bool(true)))
}

/// A `resource` or `data` block with where it lives.
struct Res<'a> {
    file: &'a str,
    dir: &'a str,
    kind: &'a str, // "resource" | "data"
    rtype: &'a str,
    name: &'a str,
    body: &'a Body,
}

impl Res<'_> {
    fn addr(&self) -> String {
        let prefix = if self.kind == "data" { "data." } else { "" };
        format!("{}: {prefix}{}.{}", self.file, self.rtype, self.name)
    }
    fn provider(&self) -> Option<String> {
        attr(self.body, "provider").map(expr_text)
    }
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------

/// Every problem found in `files` (empty = the tree is fine).
fn check(files: &Files) -> Vec<String> {
    let mut problems = Vec::new();

    // Text-level rules (they hold even where a file does not parse).
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".tf")) {
        check_text(path, text, &mut problems);
    }

    // Parse.
    let mut bodies: BTreeMap<&str, Body> = BTreeMap::new();
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".tf")) {
        match hcl::parse(text) {
            Ok(body) => {
                bodies.insert(path.as_str(), body);
            }
            Err(e) => problems.push(format!("{path}: does not parse: {e}")),
        }
    }
    if bodies.is_empty() {
        problems.push("no .tf files found".into());
        return problems;
    }

    let mut resources = Vec::new();
    for (path, body) in &bodies {
        for b in body.blocks() {
            if matches!(b.identifier(), "resource" | "data") {
                resources.push(Res {
                    file: path,
                    dir: dir_of(path),
                    kind: b.identifier(),
                    rtype: label(b, 0),
                    name: label(b, 1),
                    body: b.body(),
                });
            }
        }
    }

    check_dirs(&bodies, &mut problems);
    check_variables_and_outputs(&bodies, &mut problems);
    for (path, body) in &bodies {
        walk_secrets(body, &mut vec![path.to_string()], &mut problems);
    }
    check_databases(&resources, &bodies, &mut problems);
    check_proxies(&resources, &mut problems);
    check_api(&resources, &mut problems);
    check_iam_names(&resources, &mut problems);
    check_providers(&resources, &bodies, &mut problems);
    check_contract(files, &bodies, &mut problems);
    problems
}

fn check_text(path: &str, text: &str, problems: &mut Vec<String>) {
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        // 12-digit numbers: account ids (in ARNs or anywhere else).
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let run = &line[start..i];
                if run.len() == 12 && !AWS_OWNED_ACCOUNTS.contains(&run) {
                    problems.push(format!(
                        "{path}:{lineno}: hard-coded account id {run} (use data.aws_caller_identity)"
                    ));
                }
            } else {
                i += 1;
            }
        }
        // Credentials that look like credentials, whatever the attribute is called.
        if let Some(pos) = line.find("AKIA") {
            let tail = &line[pos + 4..];
            if tail.len() >= 16
                && tail[..16]
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                problems.push(format!("{path}:{lineno}: AWS access key id in the source"));
            }
        }
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
            problems.push(format!("{path}:{lineno}: private key in the source"));
        }
        // Suppressions need a reason: #checkov:skip=CKV_X:why
        if let Some(pos) = line.find("checkov:skip=") {
            let rest = &line[pos + "checkov:skip=".len()..];
            let (id, reason) = rest.split_once(':').unwrap_or((rest, ""));
            if !id.starts_with("CKV") || reason.trim().len() < 10 {
                problems.push(format!(
                    "{path}:{lineno}: checkov suppression {} without a reason (write #checkov:skip=CKV_...:why)",
                    id.trim()
                ));
            }
        }
    }
}

/// Each directory with .tf files pins Terraform >= 1.5 and hashicorp/aws ~> 5.
fn check_dirs(bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    let dirs: BTreeSet<&str> = bodies.keys().map(|p| dir_of(p)).collect();
    for dir in dirs {
        let terraform_blocks: Vec<&Block> = bodies
            .iter()
            .filter(|(p, _)| dir_of(p) == dir)
            .flat_map(|(_, b)| b.blocks().filter(|b| b.identifier() == "terraform"))
            .collect();
        let required_version = terraform_blocks
            .iter()
            .find_map(|b| attr(b.body(), "required_version"))
            .and_then(literal_string);
        if required_version.as_deref() != Some(">= 1.5") {
            problems.push(format!(
                "{dir}: terraform {{ required_version = \">= 1.5\" }} missing"
            ));
        }
        let aws_version = terraform_blocks
            .iter()
            .filter_map(|b| sub_block(b.body(), "required_providers"))
            .find_map(|rp| attr(rp.body(), "aws"))
            .and_then(|e| match e {
                Expression::Object(o) => o
                    .iter()
                    .find(|(k, _)| object_key(k) == "version")
                    .and_then(|(_, v)| literal_string(v)),
                _ => None,
            });
        if !aws_version
            .as_deref()
            .is_some_and(|v| v.starts_with("~> 5"))
        {
            problems.push(format!(
                "{dir}: required_providers.aws must pin hashicorp/aws \"~> 5.x\""
            ));
        }
    }
}

fn check_variables_and_outputs(bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    for (path, body) in bodies {
        for b in body.blocks() {
            let name = label(b, 0);
            let has_description = attr(b.body(), "description")
                .is_some_and(|e| !expr_text(e).trim_matches('"').trim().is_empty());
            match b.identifier() {
                "variable" => {
                    if !has_description {
                        problems.push(format!("{path}: variable \"{name}\" has no description"));
                    }
                    if attr(b.body(), "type").is_none() {
                        problems.push(format!("{path}: variable \"{name}\" has no type"));
                    }
                }
                "output" if !has_description => {
                    problems.push(format!("{path}: output \"{name}\" has no description"));
                }
                _ => {}
            }
        }
    }
}

fn secret_like(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("password")
        || k == "secret_string"
        || k.ends_with("secret_key")
        || k.ends_with("access_key")
        || k.ends_with("private_key")
        || k.ends_with("api_key")
        || k.ends_with("auth_token")
        || k == "token"
        || k.ends_with("client_secret")
}

/// Literal values under secret-looking names, anywhere: attributes, nested blocks, object
/// keys inside expressions (e.g. jsonencode({ password = "…" })), variable defaults.
fn walk_secrets(body: &Body, path: &mut Vec<String>, problems: &mut Vec<String>) {
    for a in body.attributes() {
        walk_secret_expr(a.key(), a.expr(), path, problems);
    }
    for b in body.blocks() {
        let mut id = b.identifier().to_string();
        for l in b.labels() {
            id.push('.');
            id.push_str(l.as_str());
        }
        // variable "db_password" { default = "…" }
        if b.identifier() == "variable" && secret_like(label(b, 0)) {
            if let Some(d) = attr(b.body(), "default") {
                if literal_string(d).is_some_and(|s| !s.is_empty()) {
                    problems.push(format!(
                        "{}: variable \"{}\" has a literal secret default",
                        path.join(" > "),
                        label(b, 0)
                    ));
                }
            }
        }
        path.push(id);
        walk_secrets(b.body(), path, problems);
        path.pop();
    }
}

fn walk_secret_expr(key: &str, e: &Expression, path: &[String], problems: &mut Vec<String>) {
    if secret_like(key) {
        if let Some(s) = literal_string(e) {
            if !s.is_empty() {
                problems.push(format!(
                    "{}: literal secret in \"{key}\" (generate it, or read it from Secrets Manager)",
                    path.join(" > ")
                ));
            }
        }
    }
    match e {
        Expression::Object(o) => {
            for (k, v) in o {
                walk_secret_expr(&object_key(k), v, path, problems);
            }
        }
        Expression::Array(items) => {
            for v in items {
                walk_secret_expr("", v, path, problems);
            }
        }
        Expression::FuncCall(f) => {
            for v in &f.args {
                walk_secret_expr("", v, path, problems);
            }
        }
        Expression::Parenthesis(inner) => walk_secret_expr(key, inner, path, problems),
        Expression::Conditional(c) => {
            walk_secret_expr(key, &c.true_expr, path, problems);
            walk_secret_expr(key, &c.false_expr, path, problems);
        }
        _ => {}
    }
}

fn check_databases(resources: &[Res], bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    for r in resources.iter().filter(|r| r.kind == "resource") {
        if !matches!(r.rtype, "aws_rds_cluster" | "aws_rds_global_cluster") {
            continue;
        }
        if !is_true(attr(r.body, "storage_encrypted")) {
            problems.push(format!("{}: storage_encrypted must be true", r.addr()));
        }
        if !is_true(attr(r.body, "deletion_protection")) {
            problems.push(format!("{}: deletion_protection must be true", r.addr()));
        }
        if r.rtype == "aws_rds_cluster" {
            if attr(r.body, "kms_key_id").is_none() {
                problems.push(format!(
                    "{}: kms_key_id missing (encrypt with this region's KMS key)",
                    r.addr()
                ));
            }
            // Never headless: some aws_rds_cluster_instance must point at this cluster.
            let needle = format!("aws_rds_cluster.{}.", r.name);
            let instances: Vec<&Res> = resources
                .iter()
                .filter(|i| i.dir == r.dir && i.rtype == "aws_rds_cluster_instance")
                .filter(|i| {
                    attr(i.body, "cluster_identifier")
                        .is_some_and(|e| expr_text(e).contains(&needle))
                })
                .collect();
            if instances.is_empty() {
                problems.push(format!(
                    "{}: no aws_rds_cluster_instance in this cluster (a proxy targeting it has nothing to connect to, and it cannot be promoted in time)",
                    r.addr()
                ));
            }
            for i in instances {
                check_instance_count(i, bodies, problems);
            }
        }
    }
}

/// `count = var.x` on an instance: the variable must validate x >= 1.
fn check_instance_count(i: &Res, bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    let Some(count) = attr(i.body, "count") else {
        return;
    };
    match count {
        Expression::Number(n) if n.as_u64() == Some(0) => {
            problems.push(format!(
                "{}: count = 0 leaves the cluster headless",
                i.addr()
            ));
        }
        Expression::Traversal(_) => {
            let text = expr_text(count);
            let Some(var) = text.strip_prefix("var.") else {
                return;
            };
            let validated = bodies
                .iter()
                .filter(|(p, _)| dir_of(p) == i.dir)
                .flat_map(|(_, b)| b.blocks())
                .any(|b| {
                    b.identifier() == "variable"
                        && label(b, 0) == var
                        && sub_block(b.body(), "validation").is_some()
                });
            if !validated {
                problems.push(format!(
                    "{}: count = var.{var} needs a validation block (at least 1 instance)",
                    i.addr()
                ));
            }
        }
        _ => {}
    }
}

/// Each RDS Proxy reads the secret of its own region.
fn check_proxies(resources: &[Res], problems: &mut Vec<String>) {
    for p in resources
        .iter()
        .filter(|r| r.kind == "resource" && r.rtype == "aws_db_proxy")
    {
        let provider = p.provider().unwrap_or_else(|| "aws".into());
        let Some(secret) = sub_block(p.body, "auth").and_then(|a| attr(a.body(), "secret_arn"))
        else {
            problems.push(format!("{}: auth {{ secret_arn }} missing", p.addr()));
            continue;
        };
        let text = expr_text(secret);
        let target = resources.iter().find(|s| {
            s.dir == p.dir
                && s.rtype == "aws_secretsmanager_secret"
                && text.starts_with(&format!(
                    "{}{}.{}.",
                    if s.kind == "data" { "data." } else { "" },
                    s.rtype,
                    s.name
                ))
        });
        match target {
            None => problems.push(format!(
                "{}: secret_arn = {text} is not a secret of this module, cannot tell its region",
                p.addr()
            )),
            Some(s) => {
                let sp = s.provider().unwrap_or_else(|| "aws".into());
                if sp != provider {
                    problems.push(format!(
                        "{}: proxy (provider {provider}) reads {} which is in provider {sp}: a proxy must use its own region's (replica) secret",
                        p.addr(),
                        text
                    ));
                }
            }
        }
    }
}

fn check_api(resources: &[Res], problems: &mut Vec<String>) {
    for r in resources.iter().filter(|r| r.kind == "resource") {
        match r.rtype {
            "aws_lambda_function" => {
                let mode = sub_block(r.body, "tracing_config")
                    .and_then(|t| attr(t.body(), "mode"))
                    .and_then(literal_string);
                if mode.as_deref() != Some("Active") {
                    problems.push(format!(
                        "{}: X-Ray tracing not enabled (tracing_config {{ mode = \"Active\" }})",
                        r.addr()
                    ));
                }
                if attr(r.body, "runtime").and_then(literal_string).as_deref()
                    != Some("provided.al2023")
                {
                    problems.push(format!("{}: runtime must be provided.al2023", r.addr()));
                }
            }
            "aws_apigatewayv2_api" if !is_true(attr(r.body, "disable_execute_api_endpoint")) => {
                problems.push(format!(
                    "{}: disable_execute_api_endpoint must be true (M-Pesa refuses callback URLs on the execute-api host; use the custom domain)",
                    r.addr()
                ));
            }
            _ => {}
        }
    }
}

fn check_iam_names(resources: &[Res], problems: &mut Vec<String>) {
    for r in resources.iter().filter(|r| r.kind == "resource") {
        if !matches!(
            r.rtype,
            "aws_iam_role" | "aws_iam_policy" | "aws_iam_role_policy" | "aws_iam_instance_profile"
        ) {
            continue;
        }
        let name = attr(r.body, "name").or_else(|| attr(r.body, "name_prefix"));
        let ok = name.is_some_and(|e| {
            let t = expr_text(e);
            t.contains("${") && t.to_ascii_lowercase().contains("region")
        });
        if !ok {
            problems.push(format!(
                "{}: IAM name must contain the region (IAM is global: the two regions' names collide)",
                r.addr()
            ));
        }
    }
}

fn check_providers(resources: &[Res], bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    for r in resources {
        if GLOBAL_TYPES.contains(&r.rtype) && r.provider().is_none() {
            problems.push(format!(
                "{}: global resource without an explicit provider",
                r.addr()
            ));
        }
    }
    // Module calls: providers always passed; a module called without a default `aws` must
    // name a provider on every aws resource and data source.
    for (path, body) in bodies {
        for m in body.blocks().filter(|b| b.identifier() == "module") {
            let name = label(m, 0);
            let Some(source) = attr(m.body(), "source").and_then(literal_string) else {
                continue;
            };
            let Some(providers) = attr(m.body(), "providers") else {
                problems.push(format!(
                    "{path}: module \"{name}\" does not pass providers explicitly"
                ));
                continue;
            };
            let keys: BTreeSet<String> = match providers {
                Expression::Object(o) => o.keys().map(object_key).collect(),
                _ => BTreeSet::new(),
            };
            if keys.contains("aws") {
                continue;
            }
            let module_dir = normalize(&format!("{}/{source}", dir_of(path)));
            for r in resources.iter().filter(|r| r.dir == module_dir) {
                if r.rtype.starts_with("aws_") && r.provider().is_none() {
                    problems.push(format!(
                        "{}: module \"{name}\" gets no default aws provider, so this needs provider = aws.<alias>",
                        r.addr()
                    ));
                }
            }
        }
    }
}

fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

// ---------------------------------------------------------------------------------------
// The pmctl_environment contract
// ---------------------------------------------------------------------------------------

struct Contract {
    output: String,
    environments: Vec<String>,
    kind: String,
    region_roles: Vec<String>,
    keys: Vec<String>,
}

fn load_contract(files: &Files) -> Result<Contract, String> {
    let text = files
        .get(CONTRACT_PATH)
        .ok_or_else(|| format!("{CONTRACT_PATH} missing"))?;
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("{CONTRACT_PATH}: not JSON: {e}"))?;
    let strings = |field: &str| -> Result<Vec<String>, String> {
        v[field]
            .as_array()
            .ok_or_else(|| format!("{CONTRACT_PATH}: \"{field}\" must be a list"))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{CONTRACT_PATH}: \"{field}\" holds a non-string"))
            })
            .collect()
    };
    let string = |field: &str| -> Result<String, String> {
        v[field]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{CONTRACT_PATH}: \"{field}\" must be a string"))
    };
    Ok(Contract {
        output: string("output")?,
        kind: string("kind")?,
        environments: strings("environments")?,
        region_roles: strings("region_roles")?,
        keys: strings("keys")?,
    })
}

/// Concrete key paths of a literal object (`a.b`, `regions[0].x`) and literal list lengths.
fn collect_paths(
    e: &Expression,
    prefix: &str,
    paths: &mut BTreeMap<String, Expression>,
    lists: &mut BTreeMap<String, usize>,
) {
    match e {
        Expression::Object(o) => {
            for (k, v) in o {
                let p = if prefix.is_empty() {
                    object_key(k)
                } else {
                    format!("{prefix}.{}", object_key(k))
                };
                paths.insert(p.clone(), v.clone());
                collect_paths(v, &p, paths, lists);
            }
        }
        Expression::Array(items) => {
            lists.insert(prefix.to_string(), items.len());
            for (i, v) in items.iter().enumerate() {
                collect_paths(v, &format!("{prefix}[{i}]"), paths, lists);
            }
        }
        _ => {}
    }
}

fn check_contract(files: &Files, bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    let contract = match load_contract(files) {
        Ok(c) => c,
        Err(e) => {
            problems.push(e);
            return;
        }
    };
    if contract.keys.is_empty() || contract.environments.is_empty() {
        problems.push(format!("{CONTRACT_PATH}: no keys or no environments"));
    }

    // README.md documents the contract: the file and every key.
    match files.get("README.md") {
        None => problems.push("README.md missing".into()),
        Some(readme) => {
            if !readme.contains(CONTRACT_PATH) {
                problems.push(format!("README.md does not point at {CONTRACT_PATH}"));
            }
            for key in &contract.keys {
                if !readme.contains(&format!("`{key}`")) {
                    problems.push(format!("README.md does not document contract key `{key}`"));
                }
            }
        }
    }

    for env in &contract.environments {
        let output = bodies
            .iter()
            .filter(|(p, _)| dir_of(p) == env)
            .flat_map(|(p, b)| b.blocks().map(move |b| (*p, b)))
            .find(|(_, b)| b.identifier() == "output" && label(b, 0) == contract.output);
        let Some((file, block)) = output else {
            problems.push(format!("{env}: output \"{}\" missing", contract.output));
            continue;
        };
        let Some(value) = attr(block.body(), "value") else {
            problems.push(format!(
                "{file}: output \"{}\" has no value",
                contract.output
            ));
            continue;
        };
        if !matches!(value, Expression::Object(_)) {
            problems.push(format!(
                "{file}: output \"{}\" must be a literal object so its keys can be checked",
                contract.output
            ));
            continue;
        }
        let mut paths = BTreeMap::new();
        let mut lists = BTreeMap::new();
        collect_paths(value, "", &mut paths, &mut lists);
        let out = &contract.output;

        for key in &contract.keys {
            match key.split_once("[]") {
                None => {
                    if !paths.contains_key(key) {
                        problems.push(format!("{file}: output \"{out}\" lacks key {key}"));
                    }
                }
                Some((list, rest)) => match lists.get(list) {
                    None => problems.push(format!(
                        "{file}: output \"{out}\" lacks the literal list {list} (for key {key})"
                    )),
                    Some(&n) => {
                        for i in 0..n {
                            let concrete = format!("{list}[{i}]{rest}");
                            if !paths.contains_key(&concrete) {
                                problems
                                    .push(format!("{file}: output \"{out}\" lacks key {concrete}"));
                            }
                        }
                    }
                },
            }
        }

        if paths.get("kind").and_then(literal_string).as_deref() != Some(contract.kind.as_str()) {
            problems.push(format!(
                "{file}: output \"{out}\": kind must be the literal \"{}\"",
                contract.kind
            ));
        }
        let n = lists.get("regions").copied().unwrap_or(0);
        if n != contract.region_roles.len() {
            problems.push(format!(
                "{file}: output \"{out}\": regions has {n} entries, the contract wants {} ({})",
                contract.region_roles.len(),
                contract.region_roles.join(", ")
            ));
        }
        for (i, role) in contract.region_roles.iter().enumerate().take(n) {
            let got = paths
                .get(&format!("regions[{i}].role"))
                .and_then(literal_string);
            if got.as_deref() != Some(role.as_str()) {
                problems.push(format!(
                    "{file}: output \"{out}\": regions[{i}].role must be the literal \"{role}\""
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

fn real_tree() -> Files {
    load_tree(&infra_dir())
}

/// `files` with `from` replaced by `to` in `path`; `from` must occur exactly once, so a
/// change in the real tree makes the mutation test fail loudly instead of passing vacuously.
fn mutate(files: &Files, path: &str, from: &str, to: &str) -> Files {
    let mut files = files.clone();
    let text = files
        .get_mut(path)
        .unwrap_or_else(|| panic!("{path} not in the tree"));
    let n = text.matches(from).count();
    assert_eq!(n, 1, "{path}: expected exactly one {from:?}, found {n}");
    *text = text.replacen(from, to, 1);
    files
}

/// Runs the checker on mutated files and asserts one of the problems contains every
/// `needle`.
fn assert_caught(files: &Files, needles: &[&str]) {
    let problems = check(files);
    assert!(
        problems
            .iter()
            .any(|p| needles.iter().all(|n| p.contains(n))),
        "expected a problem containing {needles:?}, got:\n{}",
        problems.join("\n")
    );
}

#[test]
fn infra_passes_every_check() {
    let files = real_tree();
    assert!(
        files.keys().filter(|p| p.ends_with(".tf")).count() >= 20,
        "infra/ looks empty: {:?}",
        files.keys().collect::<Vec<_>>()
    );
    let problems = check(&files);
    assert!(
        problems.is_empty(),
        "infra/ problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_tf_file_parses_and_every_layer_exists() {
    let files = real_tree();
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".tf")) {
        hcl::parse(text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    for dir in [
        "modules/network",
        "modules/database",
        "modules/api",
        "modules/routing",
        "modules/identity",
        "modules/observability",
        "envs/prod",
    ] {
        for file in ["main.tf", "variables.tf", "versions.tf"] {
            let path = format!("{dir}/{file}");
            assert!(files.contains_key(&path), "{path} missing");
        }
    }
}

#[test]
fn contract_lists_what_pmctl_needs() {
    let contract = load_contract(&real_tree()).expect("contract");
    for key in [
        "name",
        "kind",
        "global_cluster_id",
        "hosted_zone_id",
        "record_name",
        "sns_topic_arn",
        "cognito.user_pool_id",
        "cognito.client_id",
        "cognito.issuer",
        "cognito.jwks_url",
        "regions[].aws_region",
        "regions[].role",
        "regions[].aurora_cluster_id",
        "regions[].aurora_cluster_arn",
        "regions[].rds_proxy_name",
        "regions[].rds_proxy_endpoint",
        "regions[].db_secret_arn",
        "regions[].lambda_function_name",
        "regions[].lambda_alias_name",
        "regions[].api_id",
        "regions[].api_custom_domain",
        "regions[].route53_health_check_id",
        "regions[].route53_set_identifier",
        "regions[].alarms.api_5xx_rate",
        "regions[].alarms.api_p99_latency",
        "regions[].alarms.lambda_errors",
        "regions[].alarms.lambda_throttles",
        "regions[].alarms.replication_lag",
        "regions[].alarms.proxy_connection_errors",
    ] {
        assert!(
            contract.keys.iter().any(|k| k == key),
            "contract lacks {key}"
        );
    }
    assert_eq!(contract.kind, "aws");
    assert_eq!(contract.region_roles, ["primary", "secondary"]);
    assert_eq!(contract.output, "pmctl_environment");
}

#[test]
fn removing_a_key_from_pmctl_environment_is_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "envs/prod/outputs.tf",
        "      db_secret_arn           = module.database.secondary.secret_arn\n",
        "",
    );
    assert_caught(
        &f,
        &["envs/prod/outputs.tf", "lacks key regions[1].db_secret_arn"],
    );

    let f = mutate(
        &files,
        "envs/prod/outputs.tf",
        "      jwks_url     = module.identity.jwks_url\n",
        "",
    );
    assert_caught(&f, &["lacks key cognito.jwks_url"]);

    let f = mutate(
        &files,
        "envs/prod/outputs.tf",
        "        replication_lag         = module.observability_primary.alarm_names.replication_lag\n",
        "",
    );
    assert_caught(&f, &["lacks key regions[0].alarms.replication_lag"]);
}

#[test]
fn a_new_contract_key_must_be_provided_and_documented() {
    let files = real_tree();
    let f = mutate(
        &files,
        CONTRACT_PATH,
        "\"keys\": [",
        "\"keys\": [\n    \"regions[].brand_new_id\",",
    );
    assert_caught(&f, &["lacks key regions[0].brand_new_id"]);
    assert_caught(&f, &["lacks key regions[1].brand_new_id"]);
    assert_caught(
        &f,
        &["README.md does not document contract key `regions[].brand_new_id`"],
    );
}

#[test]
fn wrong_kind_or_role_order_is_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "envs/prod/outputs.tf",
        "kind              = \"aws\"",
        "kind              = \"local\"",
    );
    assert_caught(&f, &["kind must be the literal \"aws\""]);
    let f = mutate(
        &files,
        "envs/prod/outputs.tf",
        "role                    = \"secondary\"",
        "role                    = \"primary\"",
    );
    assert_caught(&f, &["regions[1].role must be the literal \"secondary\""]);
}

#[test]
fn an_unencrypted_cluster_is_caught() {
    let files = real_tree();
    let db = "modules/database/main.tf";
    let text = &files[db];
    // Flip storage encryption in the secondary cluster only.
    let start = text
        .find("resource \"aws_rds_cluster\" \"secondary\"")
        .expect("secondary cluster");
    let end = start + text[start..].find("\n}\n").expect("block end");
    let block = &text[start..end];
    let needle = "storage_encrypted                   = true";
    assert_eq!(block.matches(needle).count(), 1, "{block}");
    let mut mutated = files.clone();
    mutated.insert(
        db.into(),
        format!(
            "{}{}{}",
            &text[..start],
            block.replace(needle, "storage_encrypted                   = false"),
            &text[end..]
        ),
    );
    assert_caught(
        &mutated,
        &[
            "aws_rds_cluster.secondary",
            "storage_encrypted must be true",
        ],
    );

    let f = mutate(
        &files,
        db,
        "  storage_encrypted         = true\n  deletion_protection       = true\n}",
        "  deletion_protection       = true\n}",
    );
    assert_caught(
        &f,
        &[
            "aws_rds_global_cluster.this",
            "storage_encrypted must be true",
        ],
    );
}

#[test]
fn a_headless_secondary_cluster_is_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "modules/database/main.tf",
        "  cluster_identifier = aws_rds_cluster.secondary.id\n",
        "  cluster_identifier = aws_rds_cluster.primary.id\n",
    );
    assert_caught(
        &f,
        &["aws_rds_cluster.secondary", "no aws_rds_cluster_instance"],
    );
}

#[test]
fn a_secondary_proxy_reading_the_primary_secret_is_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "modules/database/main.tf",
        "    secret_arn  = data.aws_secretsmanager_secret.replica.arn\n",
        "    secret_arn  = aws_secretsmanager_secret.master.arn\n",
    );
    assert_caught(
        &f,
        &["aws_db_proxy.secondary", "own region's (replica) secret"],
    );
}

#[test]
fn hard_coded_account_ids_and_secrets_are_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "modules/api/main.tf",
        "\"arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess\"",
        "\"arn:aws:iam::123456789012:policy/AWSXRayDaemonWriteAccess\"",
    );
    assert_caught(
        &f,
        &["modules/api/main.tf:", "hard-coded account id 123456789012"],
    );

    let f = mutate(
        &files,
        "modules/database/main.tf",
        "master_password           = random_password.master.result",
        "master_password           = \"correct-horse-battery\"",
    );
    assert_caught(
        &f,
        &[
            "aws_rds_cluster.primary",
            "literal secret in \"master_password\"",
        ],
    );

    let f = mutate(
        &files,
        "modules/database/main.tf",
        "    password            = random_password.master.result\n",
        "    password            = \"hunter2hunter2\"\n",
    );
    assert_caught(&f, &["literal secret in \"password\""]);

    let f = mutate(
        &files,
        "modules/network/main.tf",
        "resource \"aws_vpc\" \"this\" {",
        "# AKIAABCDEFGHIJKLMNOP\nresource \"aws_vpc\" \"this\" {",
    );
    assert_caught(&f, &["modules/network/main.tf:", "AWS access key id"]);
}

#[test]
fn lambda_without_active_tracing_is_caught() {
    let f = mutate(
        &real_tree(),
        "modules/api/main.tf",
        "    mode = \"Active\"\n",
        "    mode = \"PassThrough\"\n",
    );
    assert_caught(
        &f,
        &["aws_lambda_function.api", "X-Ray tracing not enabled"],
    );
}

#[test]
fn the_default_execute_api_endpoint_is_caught() {
    let f = mutate(
        &real_tree(),
        "modules/api/main.tf",
        "disable_execute_api_endpoint = true",
        "disable_execute_api_endpoint = false",
    );
    assert_caught(
        &f,
        &["aws_apigatewayv2_api.this", "disable_execute_api_endpoint"],
    );
}

#[test]
fn iam_names_without_the_region_are_caught() {
    let f = mutate(
        &real_tree(),
        "modules/api/main.tf",
        "resource \"aws_iam_role\" \"lambda\" {\n  name = \"${var.name}-${local.region}-api-lambda\"",
        "resource \"aws_iam_role\" \"lambda\" {\n  name = \"${var.name}-api-lambda\"",
    );
    assert_caught(
        &f,
        &["aws_iam_role.lambda", "IAM name must contain the region"],
    );
}

#[test]
fn global_resources_without_a_provider_are_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "modules/routing/main.tf",
        "resource \"aws_route53_health_check\" \"region\" {\n  provider = aws.global\n",
        "resource \"aws_route53_health_check\" \"region\" {\n",
    );
    assert_caught(
        &f,
        &[
            "aws_route53_health_check.region",
            "global resource without an explicit provider",
        ],
    );

    // In the two-region database module every resource needs its provider.
    let f = mutate(
        &files,
        "modules/database/main.tf",
        "resource \"aws_kms_alias\" \"secondary\" {\n  provider = aws.secondary\n",
        "resource \"aws_kms_alias\" \"secondary\" {\n",
    );
    assert_caught(&f, &["aws_kms_alias.secondary", "no default aws provider"]);

    let f = mutate(
        &files,
        "envs/prod/main.tf",
        "  source    = \"../../modules/identity\"\n  providers = { aws = aws.primary }\n",
        "  source    = \"../../modules/identity\"\n",
    );
    assert_caught(
        &f,
        &["module \"identity\" does not pass providers explicitly"],
    );
}

#[test]
fn undocumented_variables_and_bad_files_are_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        "modules/observability/variables.tf",
        "  description = \"Metric period of every alarm, in seconds.\"\n",
        "",
    );
    assert_caught(
        &f,
        &[
            "modules/observability/variables.tf",
            "variable \"period_seconds\" has no description",
        ],
    );

    let f = mutate(
        &files,
        "modules/observability/variables.tf",
        "variable \"period_seconds\" {\n  description = \"Metric period of every alarm, in seconds.\"\n  type        = number\n",
        "variable \"period_seconds\" {\n  description = \"Metric period of every alarm, in seconds.\"\n",
    );
    assert_caught(&f, &["variable \"period_seconds\" has no type"]);

    let mut f = files.clone();
    f.insert("modules/api/broken.tf".into(), "resource \"x\" {\n".into());
    assert_caught(&f, &["modules/api/broken.tf: does not parse"]);

    let f = mutate(
        &files,
        "modules/api/main.tf",
        "#checkov:skip=CKV_AWS_116:Invoked synchronously",
        "#checkov:skip=CKV_AWS_116\n  # Invoked synchronously",
    );
    assert_caught(&f, &["checkov suppression CKV_AWS_116 without a reason"]);
}

/// The same checker over a copy on disk: the path the CI run takes, end to end.
#[test]
fn a_mutated_copy_on_disk_is_caught() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = real_tree();
    for (rel, text) in &src {
        let path = tmp.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    assert!(check(&load_tree(tmp.path())).is_empty(), "copy should pass");

    let db = tmp.path().join("modules/database/main.tf");
    let text = std::fs::read_to_string(&db).expect("read");
    std::fs::write(
        &db,
        text.replacen(
            "  storage_encrypted         = true\n",
            "  storage_encrypted         = false\n",
            1,
        ),
    )
    .expect("write");
    let outputs = tmp.path().join("envs/prod/outputs.tf");
    let text = std::fs::read_to_string(&outputs).expect("read");
    std::fs::write(
        &outputs,
        text.replacen(
            "    global_cluster_id = module.database.global_cluster_id\n",
            "",
            1,
        ),
    )
    .expect("write");

    let problems = check(&load_tree(tmp.path()));
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(
        has("aws_rds_global_cluster.this: storage_encrypted must be true"),
        "{problems:#?}"
    );
    assert!(has("lacks key global_cluster_id"), "{problems:#?}");
}
