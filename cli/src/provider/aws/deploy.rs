//! Deploys on AWS: a release is the Lambda zip of `pmctl deploy build`; in each region it
//! becomes a published version of the API function, and the function's alias (what API
//! Gateway invokes) moves to it by weights — the canary is the alias's additional version.
//! The gate reads the region's alarms and the canary version's invocations and errors
//! (Lambda's per-executed-version metrics). Which release a region runs, and ran before,
//! is kept in the shared store (`releases/<region>.json`) beside the journal.
//!
//! A version is found by its code: Lambda's `CodeSha256` is the SHA-256 of the zip, which is
//! the release's `sha256`, so every step can find "the release's version" again after a
//! crash without remembering a version number. The version's description carries the label
//! (`pm-api 0.3.0 sha256:…`), which is what `status` shows as the region's version.

use super::{aws_error, AwsProvider};
use crate::aws::lambda::{AliasVersions, VersionInfo};
use crate::ops::deploy::artifact;
use crate::provider::deploy::{CanaryView, Deployer, PendingMigration, RegionRelease};
use crate::provider::*;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Lambda takes a zip up to 50 MB in the request itself (larger ones go through S3).
const MAX_DIRECT_ZIP: u64 = 50 * 1024 * 1024;

/// The description a published version gets: the label first (what `status` shows).
fn description(rel: &ReleaseSpec) -> String {
    format!(
        "pm-api {} sha256:{}",
        rel.version,
        rel.sha256.as_deref().unwrap_or("-")
    )
}

/// (label, sha256 hex) from a description written by [`description`].
fn parse_description(d: &str) -> Option<(String, Option<String>)> {
    let mut w = d.split_whitespace();
    if w.next()? != "pm-api" {
        return None;
    }
    let label = w.next()?.to_string();
    let sha = w
        .next()
        .and_then(|s| s.strip_prefix("sha256:"))
        .filter(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string);
    Some((label, sha))
}

/// A version as a release (the label from its description; else the version number).
fn spec_of(v: &VersionInfo) -> ReleaseSpec {
    match parse_description(&v.description) {
        Some((version, sha256)) => ReleaseSpec {
            version,
            artifact: None,
            sha256: sha256.or_else(|| hex_of(&v.code_sha256)),
        },
        None => ReleaseSpec {
            version: format!("lambda-{}", v.version),
            artifact: None,
            sha256: hex_of(&v.code_sha256),
        },
    }
}

/// Lambda's base64 `CodeSha256` of a hex SHA-256.
fn code_sha(hex_sha: &str) -> Option<String> {
    hex::decode(hex_sha)
        .ok()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

fn hex_of(code_sha256: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .ok()
        .filter(|b| b.len() == 32)
        .map(hex::encode)
}

/// The release's version among `versions`: the newest with its code (same zip), else
/// (a release without a known SHA) the newest with its label.
fn find<'a>(versions: &'a [VersionInfo], rel: &ReleaseSpec) -> Option<&'a VersionInfo> {
    match rel.sha256.as_deref().and_then(code_sha) {
        Some(code) => versions.iter().rev().find(|v| v.code_sha256 == code),
        None => versions.iter().rev().find(|v| {
            parse_description(&v.description).is_some_and(|(label, _)| label == rel.version)
        }),
    }
}

/// One region's release record in the shared store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    current: Option<Recorded>,
    previous: Option<Recorded>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    release: ReleaseSpec,
    lambda_version: String,
    at: chrono::DateTime<chrono::Utc>,
}

fn record_name(region: &str) -> String {
    format!("releases/{region}.json")
}

fn weight_percent(w: f64) -> u8 {
    (w * 100.0).round().clamp(0.0, 100.0) as u8
}

impl AwsProvider {
    fn function(&self, region: &str) -> Result<(String, String), ProviderError> {
        let r = self.region_env(region)?;
        Ok((r.lambda_function_name.clone(), r.lambda_alias_name.clone()))
    }

    async fn versions(&self, region: &str) -> Result<Vec<VersionInfo>, ProviderError> {
        let (f, _) = self.function(region)?;
        self.clients()
            .await
            .lambda
            .versions(region, &f)
            .await
            .map_err(|e| aws_error(&format!("listing the versions of {region}'s API"), e))
    }

    async fn release_version(
        &self,
        region: &str,
        rel: &ReleaseSpec,
    ) -> Result<Option<VersionInfo>, ProviderError> {
        Ok(find(&self.versions(region).await?, rel).cloned())
    }

    async fn alias(&self, region: &str) -> Result<AliasVersions, ProviderError> {
        let (f, a) = self.function(region)?;
        self.clients()
            .await
            .lambda
            .alias(region, &f, &a)
            .await
            .map_err(|e| aws_error(&format!("reading {region}'s API alias"), e))
    }

    /// UpdateAlias, then GetAlias: the alias must read back as asked.
    async fn move_alias(
        &self,
        region: &str,
        main: &str,
        weights: &BTreeMap<String, f64>,
    ) -> Result<AliasVersions, ProviderError> {
        let (f, a) = self.function(region)?;
        let lambda = &self.clients().await.lambda;
        lambda
            .update_alias(region, &f, &a, main, weights)
            .await
            .map_err(|e| aws_error(&format!("moving {region}'s API alias"), e))?;
        let back = self.alias(region).await?;
        let same = back.version == main
            && back.additional_weights.len() == weights.len()
            && weights.iter().all(|(v, w)| {
                back.additional_weights
                    .get(v)
                    .is_some_and(|b| (b - w).abs() < 1e-6)
            });
        if !same {
            return Err(ProviderError::check(format!(
                "{region}'s alias {f}:{a} reads back as version {} with weights {:?}, not {main} with {weights:?} (changed by someone else?)",
                back.version, back.additional_weights
            )));
        }
        Ok(back)
    }

    async fn record(&self, region: &str) -> Result<Record, ProviderError> {
        let c = self.clients().await;
        let raw = c
            .store
            .read_object(&record_name(region))
            .await
            .map_err(|e| aws_error(&format!("reading {region}'s release record"), e))?;
        match raw {
            None => Ok(Record::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                ProviderError::fatal(
                    "shared store",
                    format!(
                        "reading {} (not a release record; fix or remove it)",
                        c.store.location(&record_name(region))
                    ),
                    e,
                )
            }),
        }
    }

    async fn save_record(&self, region: &str, r: &Record) -> Result<(), ProviderError> {
        let body = serde_json::to_vec_pretty(r).expect("a record serializes");
        self.clients()
            .await
            .store
            .write_object(&record_name(region), body)
            .await
            .map_err(|e| aws_error(&format!("writing {region}'s release record"), e))
    }

    /// The label a version of `region`'s API carries (cached: versions are immutable).
    pub(super) async fn version_label(&self, region: &str, version: &str) -> String {
        let key = (region.to_string(), version.to_string());
        if let Some(l) = self.labels.lock().expect("labels lock").get(&key) {
            return l.clone();
        }
        let Ok((f, _)) = self.function(region) else {
            return version.to_string();
        };
        match self
            .clients()
            .await
            .lambda
            .version(region, &f, version)
            .await
        {
            Ok(v) => {
                let label = parse_description(&v.description)
                    .map(|(l, _)| l)
                    .unwrap_or_else(|| format!("lambda-{version}"));
                self.labels
                    .lock()
                    .expect("labels lock")
                    .insert(key, label.clone());
                label
            }
            Err(_) => format!("lambda-{version}"),
        }
    }

    async fn publish(
        &self,
        region: &str,
        rel: &ReleaseSpec,
        progress: Progress<'_>,
    ) -> Result<serde_json::Value, ProviderError> {
        let (f, _) = self.function(region)?;
        if let Some(v) = self.release_version(region, rel).await? {
            return Ok(json!({"function": f, "version": v.version, "reused": true}));
        }
        let Some(path) = rel.artifact.as_deref() else {
            return Err(ProviderError::check(format!(
                "{region}'s API function {f} has no version of {rel} and the release has no artifact to upload: deploy it with --artifact ZIP"
            )));
        };
        let zip = std::fs::read(path)
            .map_err(|e| ProviderError::fatal("artifact", format!("reading {path}"), e))?;
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&zip));
        if rel.sha256.as_deref() != Some(sha.as_str()) {
            return Err(ProviderError::check(format!(
                "{path} changed since the deploy was planned (sha256 {sha}, planned {}): plan again",
                rel.sha256.as_deref().unwrap_or("none")
            )));
        }
        let lambda = &self.clients().await.lambda;
        let start = Instant::now();
        let uploaded = lambda
            .update_code(region, &f, zip)
            .await
            .map_err(|e| aws_error(&format!("uploading {rel} to {region}'s API function"), e))?;
        progress(format!("uploaded {path} to {f} in {region}"));
        // The update runs asynchronously in Lambda: publish once it is done.
        let mut status = uploaded;
        loop {
            match status.update_status.as_deref() {
                None | Some("Successful") => break,
                Some("Failed") => {
                    return Err(ProviderError::check(format!(
                        "Lambda could not take the code of {rel} in {region}: {}",
                        status.update_reason.as_deref().unwrap_or("no reason given")
                    )))
                }
                Some(s) => {
                    if start.elapsed() > self.wait_timeout() {
                        return Err(ProviderError::Timeout {
                            what: format!("{f}'s code update in {region} (last: {s})"),
                            secs: start.elapsed().as_secs(),
                        });
                    }
                    tokio::time::sleep(self.poll_interval()).await;
                    status = lambda
                        .version(region, &f, "$LATEST")
                        .await
                        .map_err(|e| aws_error(&format!("reading {f}'s code update"), e))?;
                }
            }
        }
        let expected = code_sha(&sha).expect("a hex digest");
        let version = lambda
            .publish_version(region, &f, &description(rel), Some(&expected))
            .await
            .map_err(|e| aws_error(&format!("publishing {rel} in {region}"), e))?;
        let published = lambda
            .version(region, &f, &version)
            .await
            .map_err(|e| aws_error(&format!("reading version {version} of {f}"), e))?;
        if published.code_sha256 != expected {
            return Err(ProviderError::check(format!(
                "version {version} of {f} in {region} holds other code than {rel} ({}): someone uploaded code at the same time",
                published.code_sha256
            )));
        }
        Ok(
            json!({"function": f, "version": version, "published_ms": start.elapsed().as_millis() as u64}),
        )
    }

    async fn shift(
        &self,
        region: &str,
        rel: &ReleaseSpec,
        percent: u8,
    ) -> Result<serde_json::Value, ProviderError> {
        let v = self.release_version(region, rel).await?.ok_or_else(|| {
            ProviderError::check(format!(
                "{region} has no published version of {rel} (removed?): `pmctl rollback --region {region}` or deploy again"
            ))
        })?;
        let alias = self.alias(region).await?;
        if alias.version == v.version {
            return Err(ProviderError::check(format!(
                "{region}'s alias already serves {rel} (version {}) as its main version: nothing to give a share to",
                v.version
            )));
        }
        let weights = BTreeMap::from([(v.version.clone(), f64::from(percent) / 100.0)]);
        let back = self.move_alias(region, &alias.version, &weights).await?;
        Ok(json!({
            "alias": back.alias,
            "main": back.version,
            "canary": v.version,
            "read_back": back.additional_weights,
        }))
    }

    async fn promote(
        &self,
        region: &str,
        rel: &ReleaseSpec,
    ) -> Result<serde_json::Value, ProviderError> {
        let v = self.release_version(region, rel).await?.ok_or_else(|| {
            ProviderError::check(format!(
                "{region} has no published version of {rel} (removed?): deploy again"
            ))
        })?;
        let alias = self.alias(region).await?;
        // The record first: after a crash between the two writes the alias move is redone,
        // and the version it replaced is not forgotten.
        let mut rec = self.record(region).await?;
        if rec.current.as_ref().map(|c| c.lambda_version.as_str()) != Some(v.version.as_str()) {
            let replaced = if alias.version == v.version {
                rec.current.clone()
            } else {
                let old = self
                    .clients()
                    .await
                    .lambda
                    .version(region, &self.function(region)?.0, &alias.version)
                    .await
                    .map_err(|e| aws_error("reading the version being replaced", e))?;
                Some(Recorded {
                    release: rec
                        .current
                        .as_ref()
                        .filter(|c| c.lambda_version == alias.version)
                        .map(|c| c.release.clone())
                        .unwrap_or_else(|| spec_of(&old)),
                    lambda_version: alias.version.clone(),
                    at: chrono::Utc::now(),
                })
            };
            rec = Record {
                current: Some(Recorded {
                    release: rel.clone(),
                    lambda_version: v.version.clone(),
                    at: chrono::Utc::now(),
                }),
                previous: replaced,
            };
            self.save_record(region, &rec).await?;
        }
        if alias.version == v.version && alias.additional_weights.is_empty() {
            return Ok(json!({"version": v.version, "skipped": "the alias already serves it"}));
        }
        let back = self
            .move_alias(region, &v.version, &BTreeMap::new())
            .await?;
        Ok(json!({"alias": back.alias, "version": back.version, "replaced": alias.version}))
    }

    async fn reset(&self, region: &str) -> Result<serde_json::Value, ProviderError> {
        let alias = self.alias(region).await?;
        if alias.additional_weights.is_empty() {
            return Ok(json!({"version": alias.version, "skipped": "no canary weight"}));
        }
        let back = self
            .move_alias(region, &alias.version, &BTreeMap::new())
            .await?;
        Ok(
            json!({"alias": back.alias, "version": back.version, "removed": alias.additional_weights}),
        )
    }
}

/// Capability → AWS deploy steps.
pub(super) fn expand(cap: &Capability) -> Vec<Step> {
    match cap.clone() {
        // pmctl cannot reach Aurora (it is in the VPC): no migrate step (`migrations_note`).
        Capability::Migrate { .. } => vec![],
        Capability::StartCanary { region, release } => {
            vec![Step::PublishVersion { region, release }]
        }
        Capability::ShiftTraffic {
            region,
            release,
            percent,
        } => vec![Step::SetAliasWeight {
            region,
            release,
            percent,
        }],
        Capability::PromoteCanary { region, release } => {
            vec![Step::PromoteAlias { region, release }]
        }
        Capability::AbortCanary { region } => vec![Step::ResetAlias { region }],
        _ => vec![],
    }
}

pub(super) async fn run(
    p: &AwsProvider,
    step: &Step,
    progress: Progress<'_>,
) -> Option<Result<serde_json::Value, ProviderError>> {
    Some(match step {
        Step::PublishVersion { region, release } => p.publish(region, release, progress).await,
        Step::SetAliasWeight {
            region,
            release,
            percent,
        } => p.shift(region, release, *percent).await,
        Step::PromoteAlias { region, release } => p.promote(region, release).await,
        Step::ResetAlias { region } => p.reset(region).await,
        _ => return None,
    })
}

#[async_trait]
impl Deployer for AwsProvider {
    async fn resolve(
        &self,
        artifact: Option<&Path>,
        version: Option<&str>,
    ) -> Result<ReleaseSpec, ProviderError> {
        crate::provider::deploy::check_label(version)?;
        let bad = |what: String| ProviderError::Unsupported { what };
        let Some(a) = artifact else {
            // A release already published (e.g. to the standby by an earlier deploy).
            let Some(label) = version else {
                return Err(bad(
                    "an AWS deploy needs --artifact ZIP (from `pmctl deploy build`), or --label of a version already published".into(),
                ));
            };
            for r in self.regions() {
                let found =
                    self.versions(&r).await?.into_iter().rev().find(|v| {
                        parse_description(&v.description).is_some_and(|(l, _)| l == label)
                    });
                if let Some(v) = found {
                    return Ok(spec_of(&v));
                }
            }
            return Err(bad(format!(
                "no region has a published version labelled {label}: deploy it with --artifact ZIP"
            )));
        };
        let path = std::fs::canonicalize(a)
            .map_err(|e| bad(format!("--artifact {}: {e}", a.display())))?;
        let meta = std::fs::metadata(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if meta.len() > MAX_DIRECT_ZIP {
            return Err(bad(format!(
                "--artifact {}: {} bytes, more than the 50 MB Lambda takes directly (uploading through S3 is not supported yet)",
                path.display(),
                meta.len()
            )));
        }
        let zip = std::fs::read(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if zip.len() < 4 || &zip[..4] != b"PK\x03\x04" {
            return Err(bad(format!(
                "--artifact {}: not a zip; an AWS environment deploys the Lambda zip of `pmctl deploy build`",
                path.display()
            )));
        }
        let packaged = artifact::zip_label(&zip);
        let want = self.config.deploy.architecture.to_string();
        if let Some((_, arch)) = &packaged {
            if *arch != want {
                return Err(bad(format!(
                    "--artifact {} is built for {arch}, but the environment's functions run {want} ([deploy] architecture)",
                    path.display()
                )));
            }
        }
        let label = match (version, packaged) {
            (Some(v), _) => v.to_string(),
            (None, Some((v, _))) => v,
            (None, None) => {
                return Err(bad(format!(
                    "--artifact {}: the zip does not say its version (not made by `pmctl deploy build`); pass --label",
                    path.display()
                )))
            }
        };
        Ok(ReleaseSpec {
            version: label,
            artifact: Some(path.display().to_string()),
            sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&zip))),
        })
    }

    async fn pending_migrations(
        &self,
        _release: &ReleaseSpec,
        _region: &str,
    ) -> Result<Vec<PendingMigration>, ProviderError> {
        Ok(vec![])
    }

    fn migrations_note(&self) -> Option<String> {
        Some(
            "migrations are not applied by pmctl on AWS (Aurora is inside the VPC): apply them from the writer region before deploying (README \"Deploy\", AWS)".into(),
        )
    }

    async fn release(&self, region: &str) -> Result<RegionRelease, ProviderError> {
        let alias = self.alias(region).await?;
        let rec = self.record(region).await?;
        let (current, previous) = match rec.current {
            Some(c) if c.lambda_version == alias.version => {
                (Some(c.release), rec.previous.map(|p| p.release))
            }
            // The alias moved without pmctl (or before it kept records): what it serves,
            // and nothing known to return to.
            _ => {
                let (f, _) = self.function(region)?;
                let v = self
                    .clients()
                    .await
                    .lambda
                    .version(region, &f, &alias.version)
                    .await
                    .map_err(|e| aws_error(&format!("reading {region}'s API version"), e))?;
                (Some(spec_of(&v)), None)
            }
        };
        Ok(RegionRelease {
            current,
            previous,
            canary_running: !alias.additional_weights.is_empty(),
        })
    }

    async fn observe_canary(
        &self,
        region: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<CanaryView, ProviderError> {
        let r = self.region_env(region)?;
        let c = self.clients().await;
        let alias = self.alias(region).await?;
        let alarms = c
            .cloudwatch
            .alarms(region, &r.alarms.names())
            .await
            .map_err(|e| aws_error(&format!("reading {region}'s alarms"), e))?
            .in_alarm()
            .map(|a| a.name.clone())
            .collect();
        let Some((version, weight)) = alias.additional_weights.iter().next() else {
            return Ok(CanaryView {
                alarms,
                ..Default::default()
            });
        };
        let counts = c
            .cloudwatch
            .version_counts(region, &alias.function, &alias.alias, version, since)
            .await
            .map_err(|e| aws_error(&format!("reading {region}'s canary metrics"), e))?;
        Ok(CanaryView {
            present: true,
            weight: weight_percent(*weight),
            requests: counts.invocations,
            errors_5xx: counts.errors,
            // Latency is the region's p99 alarm's job: Lambda has no per-version p99 here.
            p99_ms: None,
            alarms,
            ready: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(sha: Option<&str>) -> ReleaseSpec {
        ReleaseSpec {
            version: "0.4.0".into(),
            artifact: None,
            sha256: sha.map(String::from),
        }
    }

    fn v(n: &str, desc: &str, code: &str) -> VersionInfo {
        VersionInfo {
            version: n.into(),
            description: desc.into(),
            code_sha256: code.into(),
            update_status: None,
            update_reason: None,
        }
    }

    #[test]
    fn a_description_round_trips_and_foreign_ones_are_not_read() {
        let sha = "ab".repeat(32);
        let d = description(&rel(Some(&sha)));
        assert_eq!(parse_description(&d), Some(("0.4.0".into(), Some(sha))));
        assert_eq!(parse_description("deployed by hand"), None);
        assert_eq!(
            parse_description("pm-api 0.4.0 sha256:short"),
            Some(("0.4.0".into(), None))
        );
    }

    #[test]
    fn a_release_is_found_by_its_code_newest_first() {
        let sha = "cd".repeat(32);
        let code = code_sha(&sha).unwrap();
        assert_eq!(hex_of(&code).as_deref(), Some(sha.as_str()));
        let vs = vec![
            v("1", "", "other"),
            v("2", "pm-api 0.4.0", &code),
            v("3", "config change", &code),
            v("4", "pm-api 0.4.0", "newer-code"),
        ];
        assert_eq!(find(&vs, &rel(Some(&sha))).unwrap().version, "3");
        // Without a SHA the label decides.
        assert_eq!(find(&vs, &rel(None)).unwrap().version, "4");
        assert!(find(&vs[..1], &rel(Some(&sha))).is_none());
        assert_eq!(spec_of(&vs[0]).version, "lambda-1");
        assert_eq!(spec_of(&vs[1]).sha256.as_deref(), Some(sha.as_str()));
    }
}
