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
//! - every `checkov:skip` carries a reason;
//! - the edge: a CloudFront distribution whose one origin is the Route 53 failover record
//!   name (no origin groups), `/v1/*` uncached (`Managed-CachingDisabled` or TTL 0) with the
//!   Authorization header and query strings forwarded (`Managed-AllViewerExceptHostHeader`),
//!   a WAF web ACL with a per-IP rate rule, a rule admitting `/v1/callbacks/*` only from the
//!   M-Pesa ranges, the AWS common and known-bad-inputs groups, and access logs to S3 with a
//!   lifecycle;
//! - API Gateway refuses direct calls: every route but [`OPEN_ROUTES`] uses a REQUEST
//!   authorizer keyed on the header CloudFront adds, and each environment feeds the edge and
//!   the authorizers the same header name and secrets;
//! - no raw request paths, queries or Authorization headers in infrastructure logs (M-Pesa
//!   callback paths carry a token);
//! - the cost tables in README.md add up, and the default budget covers the default
//!   profile's idle cost.

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
    "aws_wafv2_web_acl",
    "aws_budgets_budget",
];

/// HTTP API routes that may be called without CloudFront's origin header, and why: Route 53
/// health checks call each region's own domain directly and cannot add headers.
const OPEN_ROUTES: &[&str] = &["GET /ready"];

/// Lambda functions that are not the Rust API (`provided.al2023`), with their runtime.
const OTHER_RUNTIMES: &[(&str, &str)] = &[("origin_verify", "python3.13")];

/// CloudFront log fields never delivered: the path and query carry M-Pesa callback tokens
/// and personal data; cookies and referers can carry either.
const FORBIDDEN_LOG_FIELDS: &[&str] = &["cs-uri-stem", "cs-uri-query", "cs(Cookie)", "cs(Referer)"];

/// Managed CloudFront policies the edge relies on (by name, looked up as data sources).
const CACHING_DISABLED: &str = "Managed-CachingDisabled";
const ALL_VIEWER_EXCEPT_HOST: &str = "Managed-AllViewerExceptHostHeader";

/// The public callback prefix WAF restricts to the M-Pesa source ranges.
const CALLBACK_PREFIX: &str = "/v1/callbacks/";

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
    check_health_checks(&resources, &bodies, &mut problems);
    check_iam_names(&resources, &mut problems);
    check_providers(&resources, &bodies, &mut problems);
    check_contract(files, &bodies, &mut problems);
    check_edge(&resources, &bodies, &mut problems);
    check_costs(files, &bodies, &mut problems);
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
                let want = OTHER_RUNTIMES
                    .iter()
                    .find(|(name, _)| *name == r.name)
                    .map_or("provided.al2023", |(_, runtime)| *runtime);
                if attr(r.body, "runtime").and_then(literal_string).as_deref() != Some(want) {
                    problems.push(format!("{}: runtime must be {want}", r.addr()));
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

/// Route 53 health checks pass only for a region that can take writes: a string match on
/// `/ready`'s `"db_role":"writer"` (issue 13: load must never move traffic to a replica).
fn check_health_checks(
    resources: &[Res],
    bodies: &BTreeMap<&str, Body>,
    problems: &mut Vec<String>,
) {
    for r in resources
        .iter()
        .filter(|r| r.kind == "resource" && r.rtype == "aws_route53_health_check")
    {
        let ty = attr(r.body, "type").and_then(literal_string);
        if !matches!(ty.as_deref(), Some("HTTPS_STR_MATCH" | "HTTP_STR_MATCH")) {
            problems.push(format!(
                "{}: type must be HTTPS_STR_MATCH (a health check must pass only while the region can take writes)",
                r.addr()
            ));
        }
        // A literal, a local, or a variable's default.
        let search = attr(r.body, "search_string").and_then(|e| {
            resolve_string(e, r.dir, bodies).or_else(|| {
                let text = expr_text(e);
                let name = text.strip_prefix("var.")?.to_string();
                bodies
                    .iter()
                    .filter(|(p, _)| dir_of(p) == r.dir)
                    .flat_map(|(_, b)| blocks_named(b, "variable"))
                    .find(|v| label(v, 0) == name)
                    .and_then(|v| attr(v.body(), "default"))
                    .and_then(literal_string)
            })
        });
        if search.as_deref() != Some("\"db_role\":\"writer\"") {
            problems.push(format!(
                "{}: search_string must be \"db_role\":\"writer\" (found {search:?}): a replica region must fail its check",
                r.addr()
            ));
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
// The edge: CloudFront + WAF in front of the failover name, and no way around it
// ---------------------------------------------------------------------------------------

fn blocks_named<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == ident)
}

/// The body at the end of a chain of nested blocks (`a { b { c { … } } }`).
fn nested<'a>(body: &'a Body, path: &[&str]) -> Option<&'a Body> {
    path.iter()
        .try_fold(body, |b, ident| sub_block(b, ident).map(|s| s.body()))
}

/// Names `n` of the references `prefix.n` in an expression's text.
fn refs(text: &str, prefix: &str) -> Vec<String> {
    let needle = format!("{prefix}.");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(&needle).map(|p| p + from) {
        let before = text[..pos].chars().next_back();
        let name: String = text[pos + needle.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.is_empty()
        {
            out.push(name);
        }
        from = pos + needle.len();
    }
    out
}

/// A literal string, or the literal value of `local.x` in `dir`.
fn resolve_string(e: &Expression, dir: &str, bodies: &BTreeMap<&str, Body>) -> Option<String> {
    if let Some(s) = literal_string(e) {
        return Some(s);
    }
    let text = expr_text(e);
    let name = text.strip_prefix("local.")?;
    bodies
        .iter()
        .filter(|(p, _)| dir_of(p) == dir)
        .flat_map(|(_, b)| blocks_named(b, "locals"))
        .find_map(|l| attr(l.body(), name))
        .and_then(literal_string)
}

fn find_res<'r, 'a>(
    resources: &'r [Res<'a>],
    dir: &str,
    kind: &str,
    rtype: &str,
    name: &str,
) -> Option<&'r Res<'a>> {
    resources
        .iter()
        .find(|r| r.dir == dir && r.kind == kind && r.rtype == rtype && r.name == name)
}

/// The resource (or data source) of type `rtype` in `dir` that `e` references.
fn referenced<'r, 'a>(
    resources: &'r [Res<'a>],
    dir: &str,
    e: Option<&Expression>,
    kind: &str,
    rtype: &str,
) -> Option<&'r Res<'a>> {
    let text = expr_text(e?);
    let prefix = if kind == "data" {
        format!("data.{rtype}")
    } else {
        rtype.to_string()
    };
    refs(&text, &prefix)
        .first()
        .and_then(|n| find_res(resources, dir, kind, rtype, n))
}

/// A `module` block: where it is called from and the directory of its source.
struct ModuleCall<'a> {
    file: &'a str,
    name: &'a str,
    dir: String,
    body: &'a Body,
}

fn module_calls<'b>(bodies: &'b BTreeMap<&str, Body>) -> Vec<ModuleCall<'b>> {
    let mut calls = Vec::new();
    for (path, body) in bodies {
        for m in blocks_named(body, "module") {
            if let Some(source) = attr(m.body(), "source").and_then(literal_string) {
                calls.push(ModuleCall {
                    file: path,
                    name: label(m, 0),
                    dir: normalize(&format!("{}/{source}", dir_of(path))),
                    body: m.body(),
                });
            }
        }
    }
    calls
}

fn arg_text(call: &ModuleCall, var: &str) -> String {
    attr(call.body, var).map(expr_text).unwrap_or_default()
}

/// `dir` holds the Route 53 failover records, named by `var.record_name`, which its output
/// `record_name` returns.
fn is_failover_module(dir: &str, resources: &[Res], bodies: &BTreeMap<&str, Body>) -> bool {
    let output = bodies
        .iter()
        .filter(|(p, _)| dir_of(p) == dir)
        .flat_map(|(_, b)| blocks_named(b, "output"))
        .find(|o| label(o, 0) == "record_name")
        .and_then(|o| attr(o.body(), "value"))
        .map(expr_text);
    output.as_deref() == Some("var.record_name")
        && resources.iter().any(|r| {
            r.dir == dir
                && r.rtype == "aws_route53_record"
                && sub_block(r.body, "failover_routing_policy").is_some()
                && attr(r.body, "name").map(expr_text).as_deref() == Some("var.record_name")
        })
}

fn check_edge(resources: &[Res], bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    let calls = module_calls(bodies);
    let distributions: Vec<&Res> = resources
        .iter()
        .filter(|r| r.kind == "resource" && r.rtype == "aws_cloudfront_distribution")
        .collect();
    if distributions.is_empty() {
        problems.push(
            "no aws_cloudfront_distribution: the API needs its edge (CloudFront + WAF)".into(),
        );
    }
    for d in &distributions {
        check_distribution(d, resources, bodies, &calls, problems);
    }
    for api in resources
        .iter()
        .filter(|r| r.kind == "resource" && r.rtype == "aws_apigatewayv2_api")
    {
        check_direct_calls_refused(api, &distributions, resources, &calls, problems);
    }
    check_log_redaction(resources, problems);
}

fn check_distribution(
    d: &Res,
    resources: &[Res],
    bodies: &BTreeMap<&str, Body>,
    calls: &[ModuleCall],
    problems: &mut Vec<String>,
) {
    if sub_block(d.body, "origin_group").is_some() {
        problems.push(format!(
            "{}: origin groups fail over only GET/HEAD/OPTIONS; failover must stay in Route 53 (the origin is the failover record)",
            d.addr()
        ));
    }
    let origins: Vec<&Block> = blocks_named(d.body, "origin").collect();
    if origins.len() != 1 {
        problems.push(format!(
            "{}: needs exactly one origin, the Route 53 failover record name (found {})",
            d.addr(),
            origins.len()
        ));
    }
    for o in origins {
        let domain = attr(o.body(), "domain_name")
            .map(expr_text)
            .unwrap_or_default();
        let Some(var) = domain.strip_prefix("var.") else {
            problems.push(format!(
                "{}: origin domain_name = {domain}: must be a variable that the environment binds to the failover record name",
                d.addr()
            ));
            continue;
        };
        let callers: Vec<&ModuleCall> = calls.iter().filter(|c| c.dir == d.dir).collect();
        if callers.is_empty() {
            problems.push(format!("{}: no environment calls {}", d.addr(), d.dir));
        }
        for c in callers {
            let arg = arg_text(c, var);
            let routing = refs(&arg, "module").into_iter().next().and_then(|m| {
                calls
                    .iter()
                    .find(|r| dir_of(r.file) == dir_of(c.file) && r.name == m)
            });
            let ok = routing.is_some_and(|r| {
                arg == format!("module.{}.record_name", r.name)
                    && is_failover_module(&r.dir, resources, bodies)
            });
            if !ok {
                problems.push(format!(
                    "{}: module \"{}\" sets {var} = {arg}: the distribution's origin must be the failover record name (module.<routing>.record_name), so DNS failover still picks the region",
                    c.file, c.name
                ));
            }
        }
    }

    // /v1/* (and every behaviour before it that could match /v1/ paths) is not cached and
    // forwards Authorization and query strings.
    let ordered: Vec<&Block> = blocks_named(d.body, "ordered_cache_behavior").collect();
    let pattern = |b: &Block| {
        attr(b.body(), "path_pattern")
            .and_then(literal_string)
            .unwrap_or_default()
    };
    match ordered.iter().position(|b| pattern(b) == "/v1/*") {
        None => problems.push(format!(
            "{}: no ordered_cache_behavior for /v1/* (the API must never be cached)",
            d.addr()
        )),
        Some(i) => {
            for b in &ordered[..=i] {
                let p = pattern(b);
                if p == "/v1/*" || p.starts_with("/v1") || p.starts_with('*') || p.starts_with("/*")
                {
                    check_behavior(d, &p, b.body(), resources, problems);
                }
            }
        }
    }
    if let Some(b) = sub_block(d.body, "default_cache_behavior") {
        check_behavior(d, "default", b.body(), resources, problems);
    }

    if !attr(d.body, "web_acl_id").is_some_and(|e| expr_text(e).contains("aws_wafv2_web_acl.")) {
        problems.push(format!(
            "{}: web_acl_id must name this module's aws_wafv2_web_acl",
            d.addr()
        ));
    }
    match referenced(
        resources,
        d.dir,
        attr(d.body, "web_acl_id"),
        "resource",
        "aws_wafv2_web_acl",
    ) {
        Some(acl) => check_waf(acl, resources, bodies, problems),
        None => problems.push(format!(
            "{}: no WAF web ACL found for the distribution",
            d.addr()
        )),
    }
    check_access_logs(d, resources, problems);
}

fn check_behavior(d: &Res, which: &str, b: &Body, resources: &[Res], problems: &mut Vec<String>) {
    let vpp = attr(b, "viewer_protocol_policy")
        .and_then(literal_string)
        .unwrap_or_default();
    if !matches!(vpp.as_str(), "https-only" | "redirect-to-https") {
        problems.push(format!(
            "{}: behaviour {which}: viewer_protocol_policy must be https-only",
            d.addr()
        ));
    }
    let cache = attr(b, "cache_policy_id");
    let uncached = referenced(
        resources,
        d.dir,
        cache,
        "data",
        "aws_cloudfront_cache_policy",
    )
    .is_some_and(|p| {
        attr(p.body, "name").and_then(literal_string).as_deref() == Some(CACHING_DISABLED)
    }) || referenced(
        resources,
        d.dir,
        cache,
        "resource",
        "aws_cloudfront_cache_policy",
    )
    .is_some_and(|p| {
        ["default_ttl", "max_ttl", "min_ttl"].iter().all(
            |k| matches!(attr(p.body, k), Some(Expression::Number(n)) if n.as_f64() == Some(0.0)),
        )
    });
    if !uncached {
        problems.push(format!(
            "{}: behaviour {which} is cached: use the {CACHING_DISABLED} cache policy (or one with every TTL 0)",
            d.addr()
        ));
    }
    let orp = attr(b, "origin_request_policy_id");
    let forwards = referenced(
        resources,
        d.dir,
        orp,
        "data",
        "aws_cloudfront_origin_request_policy",
    )
    .is_some_and(|p| {
        attr(p.body, "name").and_then(literal_string).as_deref() == Some(ALL_VIEWER_EXCEPT_HOST)
    }) || referenced(
        resources,
        d.dir,
        orp,
        "resource",
        "aws_cloudfront_origin_request_policy",
    )
    .is_some_and(|p| {
        let qs = nested(p.body, &["query_strings_config"])
            .and_then(|q| attr(q, "query_string_behavior"))
            .and_then(literal_string);
        let headers = nested(p.body, &["headers_config"]);
        let hb = headers
            .and_then(|h| attr(h, "header_behavior"))
            .and_then(literal_string);
        let items = headers
            .and_then(|h| nested(h, &["headers"]))
            .and_then(|h| attr(h, "items"))
            .map(|e| expr_text(e).to_ascii_lowercase())
            .unwrap_or_default();
        qs.as_deref() == Some("all")
            && hb.as_deref() == Some("allExcept")
            && items.contains("\"host\"")
            && !items.contains("authorization")
    });
    if !forwards {
        problems.push(format!(
            "{}: behaviour {which} must forward the Authorization header and every query string but not Host: use the {ALL_VIEWER_EXCEPT_HOST} origin request policy (a custom policy cannot list Authorization)",
            d.addr()
        ));
    }
}

fn check_waf(
    acl: &Res,
    resources: &[Res],
    bodies: &BTreeMap<&str, Body>,
    problems: &mut Vec<String>,
) {
    if attr(acl.body, "scope").and_then(literal_string).as_deref() != Some("CLOUDFRONT") {
        problems.push(format!(
            "{}: scope must be CLOUDFRONT (and its provider us-east-1)",
            acl.addr()
        ));
    }
    let rules: Vec<&Body> = blocks_named(acl.body, "rule").map(|r| r.body()).collect();
    let blocks = |r: &Body| nested(r, &["action", "block"]).is_some();

    let rate = rules.iter().any(|r| {
        blocks(r)
            && nested(r, &["statement", "rate_based_statement"]).is_some_and(|s| {
                attr(s, "aggregate_key_type")
                    .and_then(literal_string)
                    .as_deref()
                    == Some("IP")
                    && attr(s, "limit").is_some()
            })
    });
    if !rate {
        problems.push(format!(
            "{}: no per-IP rate rule (rate_based_statement, aggregate_key_type = \"IP\", action block)",
            acl.addr()
        ));
    }

    // Callbacks only from the M-Pesa ranges: block (uri_path STARTS_WITH /v1/callbacks/)
    // AND NOT (source in an IP set filled from the callback-source variable).
    let callback = rules.iter().any(|r| {
        let Some(and) = nested(r, &["statement", "and_statement"]) else {
            return false;
        };
        let parts: Vec<&Body> = blocks_named(and, "statement").map(|s| s.body()).collect();
        let path = parts.iter().any(|s| {
            sub_block(s, "byte_match_statement").is_some_and(|m| {
                let m = m.body();
                attr(m, "search_string")
                    .and_then(|e| resolve_string(e, acl.dir, bodies))
                    .as_deref()
                    == Some(CALLBACK_PREFIX)
                    && attr(m, "positional_constraint")
                        .and_then(literal_string)
                        .as_deref()
                        == Some("STARTS_WITH")
                    && nested(m, &["field_to_match", "uri_path"]).is_some()
            })
        });
        let not_mpesa = parts.iter().any(|s| {
            nested(
                s,
                &["not_statement", "statement", "ip_set_reference_statement"],
            )
            .and_then(|i| {
                referenced(
                    resources,
                    acl.dir,
                    attr(i, "arn"),
                    "resource",
                    "aws_wafv2_ip_set",
                )
            })
            .and_then(|set| attr(set.body, "addresses"))
            .map(expr_text)
            .and_then(|a| a.strip_prefix("var.").map(str::to_string))
            .is_some_and(|v| v.contains("callback"))
        });
        blocks(r) && path && not_mpesa
    });
    if !callback {
        problems.push(format!(
            "{}: no callback-source rule (block {CALLBACK_PREFIX}* unless the source is in the M-Pesa callback ranges' IP set)",
            acl.addr()
        ));
    }

    let groups: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| nested(r, &["statement", "managed_rule_group_statement"]))
        .filter_map(|m| attr(m, "name").and_then(literal_string))
        .collect();
    for g in [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    ] {
        if !groups.contains(g) {
            problems.push(format!("{}: managed rule group {g} missing", acl.addr()));
        }
    }

    let logging = resources.iter().find(|r| {
        r.dir == acl.dir
            && r.rtype == "aws_wafv2_web_acl_logging_configuration"
            && attr(r.body, "resource_arn")
                .is_some_and(|e| expr_text(e) == format!("aws_wafv2_web_acl.{}.arn", acl.name))
    });
    match logging {
        None => problems.push(format!(
            "{}: no aws_wafv2_web_acl_logging_configuration",
            acl.addr()
        )),
        Some(l) => {
            let redacted: Vec<&Body> = blocks_named(l.body, "redacted_fields")
                .map(|b| b.body())
                .collect();
            let has = |ident: &str| redacted.iter().any(|r| sub_block(r, ident).is_some());
            let auth = redacted.iter().any(|r| {
                nested(r, &["single_header"])
                    .and_then(|h| attr(h, "name"))
                    .and_then(literal_string)
                    .is_some_and(|n| n.eq_ignore_ascii_case("authorization"))
            });
            if !has("uri_path") || !has("query_string") || !auth {
                problems.push(format!(
                    "{}: WAF logs must redact uri_path, query_string and the authorization header (callback tokens, bearer tokens)",
                    l.addr()
                ));
            }
        }
    }
}

/// Access logs of the distribution reach an S3 bucket that has a lifecycle expiring them.
fn check_access_logs(d: &Res, resources: &[Res], problems: &mut Vec<String>) {
    let in_dir = |rtype: &'static str| {
        resources
            .iter()
            .filter(move |r| r.dir == d.dir && r.kind == "resource" && r.rtype == rtype)
    };
    let source = in_dir("aws_cloudwatch_log_delivery_source").find(|s| {
        attr(s.body, "log_type").and_then(literal_string).as_deref() == Some("ACCESS_LOGS")
            && attr(s.body, "resource_arn").is_some_and(|e| {
                expr_text(e) == format!("aws_cloudfront_distribution.{}.arn", d.name)
            })
    });
    let bucket = source.and_then(|s| {
        in_dir("aws_cloudwatch_log_delivery")
            .filter(|del| {
                attr(del.body, "delivery_source_name").is_some_and(|e| {
                    expr_text(e) == format!("aws_cloudwatch_log_delivery_source.{}.name", s.name)
                })
            })
            .find_map(|del| {
                referenced(
                    resources,
                    d.dir,
                    attr(del.body, "delivery_destination_arn"),
                    "resource",
                    "aws_cloudwatch_log_delivery_destination",
                )
            })
            .and_then(|dest| nested(dest.body, &["delivery_destination_configuration"]))
            .and_then(|c| {
                referenced(
                    resources,
                    d.dir,
                    attr(c, "destination_resource_arn"),
                    "resource",
                    "aws_s3_bucket",
                )
            })
    });
    let Some(bucket) = bucket else {
        problems.push(format!(
            "{}: access logs must be delivered to an S3 bucket (aws_cloudwatch_log_delivery_source ACCESS_LOGS -> delivery -> destination aws_s3_bucket)",
            d.addr()
        ));
        return;
    };
    let expires = in_dir("aws_s3_bucket_lifecycle_configuration").any(|l| {
        attr(l.body, "bucket")
            .is_some_and(|e| expr_text(e).starts_with(&format!("aws_s3_bucket.{}.", bucket.name)))
            && blocks_named(l.body, "rule").any(|r| sub_block(r.body(), "expiration").is_some())
    });
    if !expires {
        problems.push(format!(
            "{}: the access-log bucket needs an aws_s3_bucket_lifecycle_configuration with an expiration",
            bucket.addr()
        ));
    }
}

fn check_log_redaction(resources: &[Res], problems: &mut Vec<String>) {
    for r in resources.iter().filter(|r| r.kind == "resource") {
        match r.rtype {
            "aws_cloudwatch_log_delivery" => match attr(r.body, "record_fields") {
                Some(Expression::Array(items)) => {
                    for f in items.iter().filter_map(literal_string) {
                        if FORBIDDEN_LOG_FIELDS.contains(&f.as_str()) {
                            problems.push(format!(
                                "{}: log field {f} must not be delivered (callback tokens / personal data)",
                                r.addr()
                            ));
                        }
                    }
                }
                _ => problems.push(format!(
                    "{}: record_fields must list the delivered fields (the default includes cs-uri-stem)",
                    r.addr()
                )),
            },
            "aws_apigatewayv2_stage" => {
                let format = nested(r.body, &["access_log_settings"])
                    .and_then(|a| attr(a, "format"))
                    .map(expr_text)
                    .unwrap_or_default();
                if format.contains("$context.path") {
                    problems.push(format!(
                        "{}: the access log must not record $context.path (M-Pesa callback paths carry a token); log $context.routeKey",
                        r.addr()
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Every route of `api` but [`OPEN_ROUTES`] needs the origin-verify authorizer, and each
/// environment gives the authorizers and the distribution the same header and secrets.
fn check_direct_calls_refused(
    api: &Res,
    distributions: &[&Res],
    resources: &[Res],
    calls: &[ModuleCall],
    problems: &mut Vec<String>,
) {
    let routes: Vec<&Res> = resources
        .iter()
        .filter(|r| r.dir == api.dir && r.rtype == "aws_apigatewayv2_route")
        .filter(|r| {
            attr(r.body, "api_id")
                .is_some_and(|e| expr_text(e) == format!("aws_apigatewayv2_api.{}.id", api.name))
        })
        .collect();
    if routes.is_empty() {
        problems.push(format!("{}: no routes", api.addr()));
    }
    // (header variable, secrets variable) of the authorizers in use.
    let mut wiring: BTreeSet<(String, String)> = BTreeSet::new();
    for route in routes {
        let key = attr(route.body, "route_key")
            .and_then(literal_string)
            .unwrap_or_default();
        if OPEN_ROUTES.contains(&key.as_str()) {
            continue;
        }
        let custom = attr(route.body, "authorization_type")
            .and_then(literal_string)
            .as_deref()
            == Some("CUSTOM");
        let authorizer = referenced(
            resources,
            api.dir,
            attr(route.body, "authorizer_id"),
            "resource",
            "aws_apigatewayv2_authorizer",
        );
        let header_var = authorizer.and_then(|a| {
            let request = attr(a.body, "authorizer_type")
                .and_then(literal_string)
                .as_deref()
                == Some("REQUEST");
            let sources = match attr(a.body, "identity_sources") {
                Some(Expression::Array(items)) if items.len() == 1 => expr_text(&items[0]),
                _ => String::new(),
            };
            let var = sources
                .trim_matches('"')
                .strip_prefix("$request.header.${var.")
                .and_then(|v| v.strip_suffix('}'))
                .map(str::to_string);
            var.filter(|_| request)
        });
        let function = authorizer.and_then(|a| {
            referenced(
                resources,
                api.dir,
                attr(a.body, "authorizer_uri"),
                "resource",
                "aws_lambda_function",
            )
        });
        let env = function
            .and_then(|f| nested(f.body, &["environment"]))
            .and_then(|e| attr(e, "variables"))
            .map(expr_text)
            .unwrap_or_default();
        let (Some(header_var), true) = (header_var, custom) else {
            problems.push(format!(
                "{}: route {key:?} must use a REQUEST authorizer keyed on CloudFront's origin header (identity_sources = [\"$request.header.${{var.…}}\"]), so API Gateway refuses calls that bypass CloudFront; only {OPEN_ROUTES:?} may be open",
                route.addr()
            ));
            continue;
        };
        let secrets_var = refs(&env, "var").into_iter().find(|v| *v != header_var);
        match secrets_var {
            Some(s) if env.contains(&format!("var.{header_var}")) => {
                wiring.insert((header_var, s));
            }
            _ => problems.push(format!(
                "{}: the authorizer's function must get the header name (var.{header_var}) and the accepted secrets in its environment",
                route.addr()
            )),
        }
    }

    // Each environment: the distribution's origin header name and secret come from the same
    // place as the authorizers'.
    for (header_var, secrets_var) in &wiring {
        for call in calls.iter().filter(|c| c.dir == api.dir) {
            let header = arg_text(call, header_var);
            let secrets = refs(&arg_text(call, secrets_var), "random_password");
            for d in distributions {
                let Some(edge) = calls
                    .iter()
                    .find(|c| c.dir == d.dir && dir_of(c.file) == dir_of(call.file))
                else {
                    continue;
                };
                let custom = blocks_named(d.body, "origin")
                    .filter_map(|o| sub_block(o.body(), "custom_header"))
                    .map(|h| {
                        let var = |k: &str| {
                            attr(h.body(), k)
                                .map(expr_text)
                                .and_then(|t| t.strip_prefix("var.").map(str::to_string))
                        };
                        (var("name"), var("value"))
                    })
                    .next();
                let Some((Some(name_var), Some(value_var))) = custom else {
                    problems.push(format!(
                        "{}: the origin must add the secret origin header (custom_header {{ name = var.…, value = var.… }})",
                        d.addr()
                    ));
                    continue;
                };
                if header.is_empty() || arg_text(edge, &name_var) != header {
                    problems.push(format!(
                        "{}: module \"{}\" sets {name_var} = {} but module \"{}\" sets {header_var} = {header}: CloudFront and the authorizer must use the same header",
                        edge.file, edge.name, arg_text(edge, &name_var), call.name
                    ));
                }
                let sent = refs(&arg_text(edge, &value_var), "random_password");
                if sent.is_empty() || !sent.iter().all(|s| secrets.contains(s)) {
                    problems.push(format!(
                        "{}: module \"{}\" sends {value_var} = {} which is not among the secrets module \"{}\" accepts ({secrets_var} = {})",
                        edge.file, edge.name, arg_text(edge, &value_var), call.name, arg_text(call, secrets_var)
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cost tables in README.md
// ---------------------------------------------------------------------------------------

/// The headings (### …, lower case) of the cost tables that must exist.
const COST_TABLES: &[&str] = &["default profile", "lean profile", "per million"];

struct CostTable {
    heading: String,
    /// (component, amount) of every priced row.
    rows: Vec<(String, f64)>,
    total: f64,
}

fn parse_number(s: &str) -> Option<f64> {
    let s: String = s
        .chars()
        .filter(|c| !matches!(c, '*' | ',' | ' '))
        .collect();
    s.parse().ok()
}

/// "3 × 730" → 2190.
fn parse_product(s: &str) -> Option<f64> {
    s.split('×').map(parse_number).product()
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// Parses and checks the cost tables of the README's "## Cost" section.
fn cost_tables(readme: &str, problems: &mut Vec<String>) -> Vec<CostTable> {
    let Some(start) = readme.find("\n## Cost\n") else {
        problems.push("README.md: no \"## Cost\" section".into());
        return Vec::new();
    };
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let dated = section
        .split("List prices as of ")
        .nth(1)
        .is_some_and(|rest| {
            let d = rest.as_bytes();
            d.len() >= 10
                && d[..10].iter().enumerate().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        *c == b'-'
                    } else {
                        c.is_ascii_digit()
                    }
                })
        });
    if !dated {
        problems
            .push("README.md: the cost section must say \"List prices as of YYYY-MM-DD\"".into());
    }

    let mut tables = Vec::new();
    let mut heading = String::new();
    let lines: Vec<&str> = section.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.trim().to_string();
        }
        if !line.starts_with('|') {
            i += 1;
            continue;
        }
        let header = cells(line);
        let mut j = i + 1;
        while j < lines.len() && lines[j].starts_with('|') {
            j += 1;
        }
        let col = |pred: &dyn Fn(&str) -> bool| header.iter().position(|c| pred(c));
        let qty = col(&|c| c.starts_with("Quantity"));
        let price = col(&|c| c == "Unit price (USD)");
        let source = col(&|c| c == "List price source");
        let (Some(qty), Some(price)) = (qty, price) else {
            i = j;
            continue;
        };
        let amount = price + 1;
        let name = format!("README.md: cost table \"{heading}\"");
        let mut rows = Vec::new();
        let mut total = None;
        for row in lines[i + 2..j].iter().map(|l| cells(l)) {
            let component = row.first().cloned().unwrap_or_default();
            let cell = |k: usize| row.get(k).map(String::as_str).unwrap_or("");
            let Some(value) = parse_number(cell(amount)) else {
                problems.push(format!(
                    "{name}: row \"{component}\": amount {:?} is not a number",
                    cell(amount)
                ));
                continue;
            };
            if component.contains("Total") {
                total = Some(value);
                continue;
            }
            match (parse_product(cell(qty)), parse_number(cell(price))) {
                (Some(q), Some(p)) => {
                    if (q * p - value).abs() > 0.005 + 1e-9 {
                        problems.push(format!(
                            "{name}: row \"{component}\": {} × {} = {:.4}, but the table says {value:.2}",
                            cell(qty),
                            cell(price),
                            q * p
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{name}: row \"{component}\": quantity {:?} or unit price {:?} is not a number",
                    cell(qty),
                    cell(price)
                )),
            }
            if source.is_none_or(|s| cell(s).len() < 8) {
                problems.push(format!(
                    "{name}: row \"{component}\" names no list price source"
                ));
            }
            rows.push((component, value));
        }
        let sum: f64 = rows.iter().map(|(_, v)| v).sum();
        match total {
            None => problems.push(format!("{name}: no **Total** row")),
            Some(t) => {
                if (t - sum).abs() > 0.005 {
                    problems.push(format!(
                        "{name}: the rows add up to {sum:.2}, but the Total says {t:.2}"
                    ));
                }
                tables.push(CostTable {
                    heading: heading.to_ascii_lowercase(),
                    rows,
                    total: t,
                });
            }
        }
        i = j;
    }
    for want in COST_TABLES {
        if !tables.iter().any(|t| t.heading.contains(want)) {
            problems.push(format!(
                "README.md: no cost table under a \"### …{want}…\" heading"
            ));
        }
    }
    tables
}

fn check_costs(files: &Files, bodies: &BTreeMap<&str, Body>, problems: &mut Vec<String>) {
    let Some(readme) = files.get("README.md") else {
        return;
    };
    let tables = cost_tables(readme, problems);
    let total_of = |want: &str| tables.iter().find(|t| t.heading.contains(want));

    if let Some(default) = total_of("default profile") {
        // The prose quotes the idle total; the budget default must cover it.
        let quoted = format!("idle {:.2}", default.total);
        if !readme.contains(&quoted) {
            problems.push(format!(
                "README.md: the budget text must quote the default profile's idle total as \"{quoted}\""
            ));
        }
        for (path, body) in bodies {
            for v in blocks_named(body, "variable").filter(|v| label(v, 0) == "monthly_budget_usd")
            {
                let default_usd = match attr(v.body(), "default") {
                    Some(Expression::Number(n)) => n.as_f64(),
                    _ => None,
                };
                if !default_usd.is_some_and(|b| b > default.total) {
                    problems.push(format!(
                        "{path}: monthly_budget_usd's default must exceed the default profile's idle cost {:.2} (infra/README.md), or the budget alerts every month",
                        default.total
                    ));
                }
            }
        }
    }
    if let Some(per_million) = total_of("per million") {
        // The prose quotes what the four request-priced services of the path add up to.
        let path: f64 = per_million
            .rows
            .iter()
            .filter(|(c, _)| {
                [
                    "Lambda",
                    "API Gateway",
                    "CloudFront HTTPS",
                    "CloudFront data",
                    "WAF",
                ]
                .iter()
                .any(|p| c.starts_with(p))
            })
            .map(|(_, v)| v)
            .sum();
        let quoted = format!("WAF) are {path:.2} per million");
        if !readme.contains(&quoted) {
            problems.push(format!(
                "README.md: the per-request text must say \"{quoted}\" (Lambda, API Gateway, CloudFront and WAF rows)"
            ));
        }
    }
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
        "modules/edge",
        "modules/budget",
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
        "budget_name",
        "edge.metrics_region",
        "edge.cloudfront_distribution_id",
        "edge.waf_web_acl_name",
        "edge.waf_web_acl_arn",
        "edge.waf_rule_metrics.callback_source",
        "edge.waf_rule_metrics.rate_per_ip",
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

    let f = mutate(
        &files,
        "envs/prod/outputs.tf",
        "      cloudfront_distribution_id = module.edge.distribution_id\n",
        "",
    );
    assert_caught(&f, &["lacks key edge.cloudfront_distribution_id"]);
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

// ---------------------------------------------------------------------------------------
// The edge, direct calls, log redaction, cost tables
// ---------------------------------------------------------------------------------------

const EDGE: &str = "modules/edge/main.tf";
const PROD: &str = "envs/prod/main.tf";

#[test]
fn the_origin_must_be_the_failover_record_name() {
    let files = real_tree();
    let f = mutate(
        &files,
        PROD,
        "  origin_domain  = module.routing.record_name\n",
        "  origin_domain  = var.api_domain\n",
    );
    assert_caught(
        &f,
        &[
            "module \"edge\" sets origin_domain = var.api_domain",
            "must be the failover record name",
        ],
    );

    let f = mutate(
        &files,
        EDGE,
        "    domain_name = var.origin_domain\n",
        "    domain_name = \"origin.example.co.ke\"\n",
    );
    assert_caught(
        &f,
        &["aws_cloudfront_distribution.api", "origin domain_name"],
    );

    // The failover module's record_name output must be what its failover records are named.
    let f = mutate(
        &files,
        "modules/routing/main.tf",
        "  name            = var.record_name\n",
        "  name            = \"api.example.co.ke\"\n",
    );
    assert_caught(&f, &["must be the failover record name"]);

    let f = mutate(
        &files,
        EDGE,
        "  origin {\n    origin_id   = local.origin_id\n",
        "  origin_group {\n    origin_id = \"group\"\n  }\n\n  origin {\n    origin_id   = local.origin_id\n",
    );
    assert_caught(&f, &["origin groups fail over only GET/HEAD/OPTIONS"]);
}

#[test]
fn a_cached_api_or_a_dropped_authorization_header_is_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        EDGE,
        "name     = \"Managed-CachingDisabled\"",
        "name     = \"Managed-CachingOptimized\"",
    );
    assert_caught(
        &f,
        &["behaviour /v1/* is cached", "Managed-CachingDisabled"],
    );
    assert_caught(&f, &["behaviour default is cached"]);

    let f = mutate(
        &files,
        EDGE,
        "path_pattern               = \"/v1/*\"",
        "path_pattern               = \"/api/*\"",
    );
    assert_caught(&f, &["no ordered_cache_behavior for /v1/*"]);

    // A cached behaviour listed before /v1/* that matches /v1/ paths shadows it.
    let f = mutate(
        &files,
        EDGE,
        "  # /v1/* is the API: never cached, whatever the default behaviour becomes.\n",
        "  ordered_cache_behavior {\n    path_pattern           = \"/v1/properties*\"\n    target_origin_id       = local.origin_id\n    viewer_protocol_policy = \"https-only\"\n    allowed_methods        = [\"GET\", \"HEAD\"]\n    cached_methods         = [\"GET\", \"HEAD\"]\n  }\n\n",
    );
    assert_caught(&f, &["behaviour /v1/properties* is cached"]);

    // AllViewer forwards Host (API Gateway then 403s); no policy drops Authorization.
    let f = mutate(
        &files,
        EDGE,
        "name     = \"Managed-AllViewerExceptHostHeader\"",
        "name     = \"Managed-AllViewer\"",
    );
    assert_caught(
        &f,
        &["behaviour /v1/* must forward the Authorization header and every query string"],
    );
}

#[test]
fn a_waf_without_the_rate_or_callback_rule_is_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        EDGE,
        "aggregate_key_type    = \"IP\"",
        "aggregate_key_type    = \"FORWARDED_IP\"",
    );
    assert_caught(&f, &["aws_wafv2_web_acl.edge", "no per-IP rate rule"]);

    let f = mutate(
        &files,
        EDGE,
        "callback_prefix = \"/v1/callbacks/\"",
        "callback_prefix = \"/v1/\"",
    );
    assert_caught(&f, &["aws_wafv2_web_acl.edge", "no callback-source rule"]);

    // Admitting callbacks from the operators' ranges instead of Safaricom's.
    let f = mutate(
        &files,
        EDGE,
        "addresses          = var.mpesa_callback_source_cidrs\n",
        "addresses          = var.rate_limit_exempt_cidrs\n",
    );
    assert_caught(&f, &["no callback-source rule"]);

    let f = mutate(
        &files,
        EDGE,
        "name        = \"AWSManagedRulesCommonRuleSet\"",
        "name        = \"AWSManagedRulesAdminProtectionRuleSet\"",
    );
    assert_caught(
        &f,
        &["managed rule group AWSManagedRulesCommonRuleSet missing"],
    );

    let f = mutate(
        &files,
        EDGE,
        "  web_acl_id      = aws_wafv2_web_acl.edge.arn\n",
        "",
    );
    assert_caught(
        &f,
        &["web_acl_id must name this module's aws_wafv2_web_acl"],
    );
}

#[test]
fn api_gateway_reachable_around_cloudfront_is_caught() {
    let files = real_tree();
    let api = "modules/api/main.tf";
    let f = mutate(
        &files,
        api,
        "  authorization_type = \"CUSTOM\"\n",
        "  authorization_type = \"NONE\"\n",
    );
    assert_caught(
        &f,
        &[
            "aws_apigatewayv2_route.default",
            "route \"$default\" must use a REQUEST authorizer",
        ],
    );

    // Only GET /ready may be open.
    let f = mutate(
        &files,
        api,
        "  route_key          = \"GET /ready\"\n",
        "  route_key          = \"ANY /v1/callbacks/{proxy+}\"\n",
    );
    assert_caught(
        &f,
        &[
            "aws_apigatewayv2_route.ready",
            "must use a REQUEST authorizer",
        ],
    );

    let f = mutate(
        &files,
        api,
        "  identity_sources                 = [\"$request.header.${var.origin_verify_header}\"]\n",
        "  identity_sources                 = [\"$request.header.authorization\"]\n",
    );
    assert_caught(
        &f,
        &["must use a REQUEST authorizer keyed on CloudFront's origin header"],
    );

    // CloudFront sending another header than the authorizers check.
    let f = mutate(
        &files,
        PROD,
        "  origin_verify_header = local.origin_verify_header\n  origin_verify_secret",
        "  origin_verify_header = \"x-edge\"\n  origin_verify_secret",
    );
    assert_caught(
        &f,
        &["CloudFront and the authorizer must use the same header"],
    );

    // CloudFront sending a secret the authorizers do not accept.
    let f = mutate(
        &files,
        PROD,
        "  origin_verify_secret = random_password.origin_verify[var.origin_verify_active].result\n",
        "  origin_verify_secret = random_password.other.result\n",
    );
    assert_caught(
        &f,
        &[
            "module \"edge\" sends origin_verify_secret",
            "not among the secrets",
        ],
    );

    // No origin header at all.
    let f = mutate(
        &files,
        EDGE,
        "    custom_header {\n      name  = var.origin_verify_header\n      value = var.origin_verify_secret\n    }\n",
        "",
    );
    assert_caught(&f, &["the origin must add the secret origin header"]);
}

#[test]
fn paths_tokens_and_unexpired_logs_are_caught() {
    let files = real_tree();
    let f = mutate(
        &files,
        EDGE,
        "    \"cs-method\",\n",
        "    \"cs-method\",\n    \"cs-uri-stem\",\n",
    );
    assert_caught(
        &f,
        &[
            "aws_cloudwatch_log_delivery.access",
            "log field cs-uri-stem must not be delivered",
        ],
    );

    let f = mutate(
        &files,
        "modules/api/main.tf",
        "      routeKey         = \"$context.routeKey\"\n",
        "      path             = \"$context.path\"\n",
    );
    assert_caught(
        &f,
        &[
            "aws_apigatewayv2_stage.default",
            "must not record $context.path",
        ],
    );

    let f = mutate(
        &files,
        EDGE,
        "  redacted_fields {\n    uri_path {}\n  }\n",
        "",
    );
    assert_caught(
        &f,
        &[
            "aws_wafv2_web_acl_logging_configuration.edge",
            "must redact uri_path",
        ],
    );

    let f = mutate(
        &files,
        EDGE,
        "    expiration {\n      days = var.access_log_retention_days\n    }\n",
        "",
    );
    assert_caught(
        &f,
        &[
            "aws_s3_bucket.logs",
            "lifecycle_configuration with an expiration",
        ],
    );

    let f = mutate(
        &files,
        EDGE,
        "  log_type     = \"ACCESS_LOGS\"\n",
        "  log_type     = \"CONNECTION_LOGS\"\n",
    );
    assert_caught(&f, &["access logs must be delivered to an S3 bucket"]);
}

#[test]
fn cost_tables_that_do_not_add_up_are_caught() {
    let files = real_tree();
    let readme = "README.md";
    let mut problems = Vec::new();
    let tables = cost_tables(&files[readme], &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    let totals: Vec<(&str, f64)> = tables
        .iter()
        .map(|t| (t.heading.as_str(), t.total))
        .collect();
    assert_eq!(tables.len(), 3, "{totals:?}");
    assert!(
        tables.iter().all(|t| t.rows.len() >= 9 && t.total > 0.0),
        "{totals:?}"
    );

    // A row whose arithmetic is off (its table's total then disagrees too).
    let f = mutate(
        &files,
        readme,
        "| 3 × 730 | instance-hour | 0.26 | 569.40 |",
        "| 3 × 730 | instance-hour | 0.26 | 560.40 |",
    );
    assert_caught(
        &f,
        &[
            "default profile",
            "3 × 730 × 0.26 = 569.4000, but the table says 560.40",
        ],
    );
    assert_caught(
        &f,
        &[
            "default profile",
            "the rows add up to 745.85, but the Total says 754.85",
        ],
    );

    // A total that drifted from its rows.
    let f = mutate(&files, readme, "**321.40**", "**300.00**");
    assert_caught(&f, &["lean profile", "the rows add up to 321.40"]);

    let f = mutate(
        &files,
        readme,
        "| 1000000 × 0.5 × 0.05 |",
        "| 1000000 × 0.5 × 0.5 |",
    );
    assert_caught(&f, &["per million", "1000000 × 0.5 × 0.5 × 0.0000133334"]);

    let f = mutate(
        &files,
        readme,
        "### Idle cost per month: lean profile",
        "### Idle cost per month: small",
    );
    assert_caught(
        &f,
        &["no cost table under a \"### …lean profile…\" heading"],
    );

    let f = mutate(
        &files,
        readme,
        "List prices as of 2026-12-01",
        "List prices as of late 2026",
    );
    assert_caught(&f, &["List prices as of YYYY-MM-DD"]);

    let f = mutate(
        &files,
        readme,
        "| 0.015 | 43.80 | Amazon RDS Proxy pricing, provisioned instances |",
        "| 0.015 | 43.80 | |",
    );
    assert_caught(
        &f,
        &["row \"RDS Proxy region 1", "names no list price source"],
    );

    // Prose quoting a figure the tables no longer give.
    let f = mutate(
        &files,
        readme,
        "| 1 | million requests | 1.00 | 1.00 |",
        "| 1 | million requests | 3.50 | 3.50 |",
    );
    assert_caught(
        &f,
        &["the per-request text must say \"WAF) are 6.05 per million\""],
    );

    // The budget must cover the default profile's idle cost.
    let f = mutate(
        &files,
        "envs/prod/variables.tf",
        "  default     = 1000\n",
        "  default     = 700\n",
    );
    assert_caught(
        &f,
        &[
            "envs/prod/variables.tf",
            "monthly_budget_usd's default must exceed",
            "754.85",
        ],
    );
}

#[test]
fn edge_and_budget_are_global_resources() {
    let files = real_tree();
    let f = mutate(
        &files,
        "modules/budget/main.tf",
        "resource \"aws_budgets_budget\" \"monthly\" {\n  provider = aws.global\n",
        "resource \"aws_budgets_budget\" \"monthly\" {\n",
    );
    assert_caught(
        &f,
        &[
            "aws_budgets_budget.monthly",
            "global resource without an explicit provider",
        ],
    );
    let f = mutate(
        &files,
        EDGE,
        "  scope       = \"CLOUDFRONT\"\n",
        "  scope       = \"REGIONAL\"\n",
    );
    assert_caught(&f, &["aws_wafv2_web_acl.edge", "scope must be CLOUDFRONT"]);
}

#[test]
fn a_health_check_that_passes_for_a_replica_is_caught() {
    let files = real_tree();
    let plain = mutate(
        &files,
        "modules/routing/main.tf",
        "type              = \"HTTPS_STR_MATCH\"",
        "type              = \"HTTPS\"",
    );
    assert_caught(&plain, &["aws_route53_health_check", "HTTPS_STR_MATCH"]);
    let any_role = mutate(
        &files,
        "modules/routing/variables.tf",
        "default     = \"\\\"db_role\\\":\\\"writer\\\"\"",
        "default     = \"ready\"",
    );
    assert_caught(&any_role, &["search_string", "db_role"]);
}
