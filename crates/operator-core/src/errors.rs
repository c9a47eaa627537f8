//! Classification of AWS errors into what the reconciler does next.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// An AWS call failed; the variant says whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// Needs a change to the spec (or to AWS) before it can succeed: validation, invalid
    /// parameter, limits, access denied. Reported, then retried at the next resync only.
    #[error("{code}: {message}")]
    Terminal { code: String, message: String },
    /// Transient: throttling, 5xx, timeouts, connection failures, resource busy.
    #[error("{code}: {message}")]
    Retryable { code: String, message: String },
}

impl AwsError {
    pub fn terminal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Terminal {
            code: code.into(),
            message: message.into(),
        }
    }
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Retryable {
            code: code.into(),
            message: message.into(),
        }
    }
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Terminal { .. })
    }
    pub fn code(&self) -> &str {
        match self {
            Self::Terminal { code, .. } | Self::Retryable { code, .. } => code,
        }
    }
}

impl From<aws_smithy_types::error::operation::BuildError> for AwsError {
    /// A request the SDK could not build is a spec problem: retrying cannot help.
    fn from(e: aws_smithy_types::error::operation::BuildError) -> Self {
        Self::terminal("InvalidRequest", e.to_string())
    }
}

/// What retrying an AWS error can achieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Terminal,
    Retryable,
}

/// Error codes that mean "try again later" although AWS answered with a 4xx.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ResourceInUseException",
    "OperationAborted",
    "ConflictException",
    "ConcurrentModificationException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
    "ExpiredToken",
    "ExpiredTokenException",
    // SQS refuses to re-create a queue name for 60 s after its deletion.
    "AWS.SimpleQueueService.QueueDeletedRecently",
    "QueueDeletedRecently",
];

/// Whether the code is a throttling error of some service: SQS `RequestThrottled` (also as
/// `AWS.SimpleQueueService.RequestThrottled`) and `KmsThrottled`, SNS `Throttled` and
/// `KMSThrottling`, DynamoDB, ECR and STS `ThrottlingException` / `Throttling`, S3 `SlowDown`,
/// `TooManyRequestsException`, `RequestLimitExceeded`, `BandwidthLimitExceeded`.
pub fn is_throttling(code: &str) -> bool {
    let code = code.rsplit('.').next().unwrap_or(code);
    code.contains("Throttl")
        || code.starts_with("TooManyRequests")
        || matches!(
            code,
            "SlowDown"
                | "RequestLimitExceeded"
                | "BandwidthLimitExceeded"
                | "ProvisionedThroughputExceededException"
        )
}

/// Pure classification from the error code and HTTP status, so it can be unit tested.
pub fn classify(code: Option<&str>, http_status: Option<u16>) -> ErrorClass {
    if let Some(code) = code
        && (RETRYABLE_CODES.contains(&code) || is_throttling(code))
    {
        return ErrorClass::Retryable;
    }
    match http_status {
        Some(429) => ErrorClass::Retryable,
        Some(s) if s >= 500 => ErrorClass::Retryable,
        // AWS names every refusal: an answer without a code came from something in between
        // (a proxy, a load balancer) or was cut short, and says nothing about the spec.
        Some(401 | 403) => ErrorClass::Terminal,
        _ if code.is_none() => ErrorClass::Retryable,
        _ => ErrorClass::Terminal,
    }
}

/// Turns any SDK error into an [`AwsError`], keeping AWS's own code and message.
pub fn from_sdk<E>(err: SdkError<E, Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message, status) = match &err {
        SdkError::ServiceError(ctx) => (
            ctx.err().code().map(str::to_owned),
            ctx.err().message().map(str::to_owned),
            Some(ctx.raw().status().as_u16()),
        ),
        SdkError::ResponseError(ctx) => (None, None, Some(ctx.raw().status().as_u16())),
        _ => (None, None, None),
    };
    let message = message.unwrap_or_else(|| sdk_error_chain(&err));
    let label = code
        .clone()
        .unwrap_or_else(|| sdk_error_kind(&err).to_owned());
    match classify(code.as_deref(), status) {
        ErrorClass::Terminal => AwsError::Terminal {
            code: label,
            message,
        },
        ErrorClass::Retryable => AwsError::Retryable {
            code: label,
            message,
        },
    }
}

/// Whether an SDK error is the service saying "no such resource".
pub fn is_not_found<E, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|c| codes.contains(&c))
}

fn sdk_error_kind<E, R>(err: &SdkError<E, R>) -> &'static str {
    match err {
        SdkError::ConstructionFailure(_) => "ConstructionFailure",
        SdkError::TimeoutError(_) => "Timeout",
        SdkError::DispatchFailure(_) => "DispatchFailure",
        SdkError::ResponseError(_) => "ResponseError",
        SdkError::ServiceError(_) => "ServiceError",
        _ => "Unknown",
    }
}

/// The display chain of an error without a service message (e.g. "connection refused").
fn sdk_error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_are_terminal() {
        assert_eq!(
            classify(Some("ValidationException"), Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify(Some("InvalidParameterValue"), Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify(Some("LimitExceededException"), Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify(Some("AccessDeniedException"), Some(403)),
            ErrorClass::Terminal
        );
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        assert_eq!(
            classify(Some("ThrottlingException"), Some(400)),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify(Some("ResourceInUseException"), Some(400)),
            ErrorClass::Retryable
        );
        assert_eq!(classify(None, Some(503)), ErrorClass::Retryable);
        assert_eq!(classify(Some("Whatever"), Some(500)), ErrorClass::Retryable);
        assert_eq!(classify(None, Some(429)), ErrorClass::Retryable);
    }

    #[test]
    fn every_services_throttling_error_is_retryable() {
        for code in [
            "RequestThrottled",                        // SQS
            "AWS.SimpleQueueService.RequestThrottled", // SQS, query-compatible form
            "KmsThrottled",                            // SQS with SSE-KMS
            "Throttled",                               // SNS
            "ThrottledException",                      // SNS, exception name
            "KMSThrottling",                           // SNS with SSE-KMS
            "ThrottlingException",                     // DynamoDB, ECR
            "RequestLimitExceeded",                    // DynamoDB account-wide
            "ProvisionedThroughputExceededException",  // DynamoDB
            "SlowDown",                                // S3
            "Throttling",                              // STS, SNS query
            "TooManyRequestsException",                // Lambda-style
        ] {
            assert!(is_throttling(code), "{code}");
            // Whatever status a proxy or service sends it with.
            for status in [Some(400), Some(429), Some(503), None] {
                assert_eq!(
                    classify(Some(code), status),
                    ErrorClass::Retryable,
                    "{code} {status:?}"
                );
            }
        }
        assert!(!is_throttling("InvalidParameterValue"));
        assert!(!is_throttling("LimitExceededException"));
    }

    #[test]
    fn an_answer_without_a_code_is_retryable_unless_it_refuses_access() {
        assert_eq!(classify(None, Some(400)), ErrorClass::Retryable);
        assert_eq!(classify(None, Some(403)), ErrorClass::Terminal);
    }

    #[test]
    fn no_response_at_all_is_retryable() {
        // Connection refused, DNS failure, timeout: nothing answered.
        assert_eq!(classify(None, None), ErrorClass::Retryable);
    }

    #[test]
    fn sqs_recently_deleted_queue_is_retryable() {
        assert_eq!(
            classify(
                Some("AWS.SimpleQueueService.QueueDeletedRecently"),
                Some(400)
            ),
            ErrorClass::Retryable
        );
    }
}
