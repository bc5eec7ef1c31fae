import AxonStorage
import HTTPTypes
import MatrixModel

/// What a locked or suspended account may still do (spec "Account locking", "Account
/// suspension"), decided per route before the request body is read.
enum AccountRestrictions {
    /// A locked user may only log out.
    static let allowedWhenLocked: Set<String> = ["/_matrix/client/v3/logout", "/_matrix/client/v3/logout/all"]

    /// The spec's recommended set for a suspended user: joining, knocking, inviting, sending,
    /// setting state, redacting, creating rooms and changing the profile. Leaving, reading,
    /// logging out and deleting devices stay open.
    static let forbiddenWhenSuspended: [String] = [
        "/createRoom", "/join/", "/rooms/{roomId}/join", "/knock/", "/rooms/{roomId}/invite", "/rooms/{roomId}/send/",
        "/rooms/{roomId}/state/", "/rooms/{roomId}/redact/", "/rooms/{roomId}/upgrade", "/profile/",
    ]

    static let lockedError = MatrixError(401, "M_USER_LOCKED", "This account has been locked by the server's admins", extra: ["soft_logout": true])

    static func check(_ owner: TokenOwner, method: HTTPRequest.Method, pattern: String) throws(MatrixError) {
        if owner.isLocked, !allowedWhenLocked.contains(pattern) {
            throw lockedError
        }
        guard owner.isSuspended, method != .get, method != .head, pattern.hasPrefix("/_matrix/client/") else { return }
        // "/_matrix/client/v3/rooms/{roomId}/send/…" → "/rooms/{roomId}/send/…"
        let path = "/" + pattern.split(separator: "/").dropFirst(3).joined(separator: "/")
        if forbiddenWhenSuspended.contains(where: { path.hasPrefix($0) }) {
            throw MatrixError(403, "M_USER_SUSPENDED", "You cannot perform this action while suspended")
        }
    }
}
