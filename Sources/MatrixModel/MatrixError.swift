/// A Matrix error as clients see it: an HTTP status and `{"errcode", "error", ...extra}`.
public struct MatrixError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var errcode: String
    public var message: String
    /// Additional fields of the error body (`retry_after_ms`, `soft_logout`, UIA fields...).
    public var extra: JSONObject

    public init(_ status: Int, _ errcode: String, _ message: String, extra: JSONObject = [:]) {
        self.status = status
        self.errcode = errcode
        self.message = message
        self.extra = extra
    }

    public var description: String { "\(status) \(errcode): \(message)" }

    /// A user-interactive-auth challenge: a 401 whose body carries only the flows and session,
    /// with no errcode until a stage has failed.
    public static func uiaChallenge(_ fields: JSONObject) -> MatrixError {
        MatrixError(401, "", "", extra: fields)
    }

    public var body: JSON {
        var object = extra
        if errcode.isEmpty { return .object(object) }
        object["errcode"] = .string(errcode)
        object["error"] = .string(message)
        return .object(object)
    }

    public static func unrecognized(_ message: String = "Unrecognized request", status: Int = 404) -> MatrixError {
        MatrixError(status, "M_UNRECOGNIZED", message)
    }
    public static func forbidden(_ message: String) -> MatrixError { MatrixError(403, "M_FORBIDDEN", message) }
    public static func notFound(_ message: String) -> MatrixError { MatrixError(404, "M_NOT_FOUND", message) }
    public static func notJSON(_ message: String = "Content not JSON.") -> MatrixError { MatrixError(400, "M_NOT_JSON", message) }
    public static func badJSON(_ message: String) -> MatrixError { MatrixError(400, "M_BAD_JSON", message) }
    public static func missingParam(_ message: String) -> MatrixError { MatrixError(400, "M_MISSING_PARAM", message) }
    public static func invalidParam(_ message: String) -> MatrixError { MatrixError(400, "M_INVALID_PARAM", message) }
    public static func missingToken() -> MatrixError { MatrixError(401, "M_MISSING_TOKEN", "Missing access token") }
    public static func unknownToken(_ message: String = "Unknown or expired access token") -> MatrixError {
        MatrixError(401, "M_UNKNOWN_TOKEN", message, extra: ["soft_logout": false])
    }
    public static func userInUse() -> MatrixError { MatrixError(400, "M_USER_IN_USE", "User ID already taken.") }
    public static func invalidUsername(_ message: String) -> MatrixError { MatrixError(400, "M_INVALID_USERNAME", message) }
    public static func tooLarge(_ message: String = "Request body too large") -> MatrixError { MatrixError(413, "M_TOO_LARGE", message) }
    public static func limitExceeded(retryAfterMs: Int64) -> MatrixError {
        MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", extra: ["retry_after_ms": .int(retryAfterMs)])
    }
    public static func unknown(_ message: String, status: Int = 400) -> MatrixError { MatrixError(status, "M_UNKNOWN", message) }
    public static func guestAccessForbidden() -> MatrixError {
        MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not allowed for this endpoint")
    }
}
