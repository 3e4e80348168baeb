//! AWS Lambda entry point (`bootstrap`): API Gateway HTTP API events served by the same
//! `router()` as `pm-api serve`. Settings from the environment (README, "Lambda"); database
//! credentials from Secrets Manager (`DB_SECRET_ARN`), re-fetched when rotated.

use pm_api::lambda::{settings_from_env, LambdaApp};

// mimalloc: the request path allocates per request (headers, bodies, JSON); glibc's malloc
// was the top user-space symbol of the API and front door under load (perf, 1,600 rps),
// and it keeps freed memory fragmented across threads.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // `bootstrap --version`: the version this build reports in `/ready` (the Lambda
    // runtime never passes arguments; `pmctl deploy build` asks the artifact it built).
    if std::env::args().nth(1).as_deref() == Some("--version") {
        #[allow(clippy::print_stdout)]
        {
            println!("{}", pm_api::version());
        }
        return Ok(());
    }
    let settings = match settings_from_env() {
        Ok(s) => s,
        Err(e) => {
            pm_api::telemetry::init(false);
            tracing::error!(error = %format!("{e:#}"), "invalid Lambda settings");
            return Err(e.into());
        }
    };
    pm_api::telemetry::init(settings.log_json);
    // One AWS config for the process (region and credentials from the Lambda environment;
    // AWS_ENDPOINT_URL honoured), loaded inside build() only when a secret is named.
    let app = match LambdaApp::build(&settings, None).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cold start failed");
            return Err(e.into());
        }
    };
    tracing::info!(
        region = %settings.region,
        version = pm_api::version(),
        "Lambda ready"
    );
    pm_api::lambda::run(app).await
}
