//! Sets of refusals that several routes share, for their OpenAPI descriptions.

use passcom_shared::Problem;

/// How a read with a query string is refused, the same for every such route.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description for the document, never built
pub(super) enum QueryRefusals {
    /// `invalid_query`: a missing, malformed or unknown parameter.
    #[response(status = 400, content_type = "application/problem+json")]
    InvalidQuery(Problem),
    /// `database_unavailable`
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}
