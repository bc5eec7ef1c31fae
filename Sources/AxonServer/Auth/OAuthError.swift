import HTTPTypes
import MatrixModel

/// An error of the OAuth endpoints, in RFC 6749 §5.2's shape (`error`, `error_description`)
/// rather than Matrix's, since OAuth libraries read it.
struct OAuthError: Error {
    let status: HTTPResponse.Status
    let error: String
    let description: String

    init(_ error: String, _ description: String, status: HTTPResponse.Status = .badRequest) {
        self.status = status
        self.error = error
        self.description = description
    }

    static func invalidRequest(_ text: String) -> OAuthError { OAuthError("invalid_request", text) }
    static func invalidGrant(_ text: String) -> OAuthError { OAuthError("invalid_grant", text) }
    static func invalidClient(_ text: String) -> OAuthError { OAuthError("invalid_client", text, status: .unauthorized) }

    var response: MatrixResponse {
        var response = MatrixResponse(status: status, json: ["error": .string(error), "error_description": .string(description)])
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// Runs an OAuth endpoint, answering its refusals in OAuth's shape.
    static func answering(_ body: () async throws -> MatrixResponse) async throws -> MatrixResponse {
        do {
            return try await body()
        } catch let error as OAuthError {
            return error.response
        } catch let error as MatrixError where error.status == 429 {
            throw error
        } catch let error as MatrixError where error.status < 500 {
            return OAuthError.invalidRequest(error.message).response
        }
    }
}
