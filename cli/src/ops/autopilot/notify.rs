//! Telling humans: a command (`sh -c`, the decision as JSON on stdin) and/or a webhook
//! (POST of the same JSON). Best effort, bounded in time, never blocking a decision.

use crate::config::AutopilotSettings;
use crate::shell::Shell;
use std::time::Duration;

pub fn notify(settings: &AutopilotSettings, payload: serde_json::Value, shell: &Shell) {
    if let Some(cmd) = settings.notify_command.clone() {
        let body = payload.to_string();
        let shell = shell.clone();
        tokio::spawn(async move {
            let run = async {
                let mut child = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()?;
                if let Some(mut stdin) = child.stdin.take() {
                    use tokio::io::AsyncWriteExt;
                    stdin.write_all(body.as_bytes()).await?;
                }
                child.wait().await
            };
            match tokio::time::timeout(Duration::from_secs(10), run).await {
                Ok(Ok(s)) if s.success() => {}
                Ok(Ok(s)) => shell.warn(format!("notify command exited with {s}")),
                Ok(Err(e)) => shell.warn(format!("notify command failed: {e}")),
                Err(_) => shell.warn("notify command did not finish within 10 s; killed"),
            }
        });
    }
    if let Some(url) = settings.notify_webhook.clone() {
        let shell = shell.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client");
            match http.post(&url).json(&payload).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => shell.warn(format!("notify webhook answered {}", r.status())),
                Err(e) => shell.warn(format!("notify webhook failed: {e}")),
            }
        });
    }
}
