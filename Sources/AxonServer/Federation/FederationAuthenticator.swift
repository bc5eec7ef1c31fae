import MatrixModel

/// Checks the X-Matrix signature of inbound server-server requests (spec "Request
/// Authentication"): the request must be addressed to this server, come from a server
/// federation is allowed with, and carry a signature by one of the origin's current keys over
/// the method, the request target exactly as received, and the body.
struct FederationAuthenticator: Sendable {
    let serverName: String
    let keys: KeyRing
    let whitelist: [String]?

    /// The first well-formed X-Matrix header; the signature is checked once the body is read.
    func parse(_ headers: [String]) throws(MatrixError) -> XMatrixAuthorization {
        guard let auth = headers.lazy.compactMap(XMatrixAuthorization.init(header:)).first else {
            throw MatrixError(401, "M_UNAUTHORIZED", "Missing or malformed X-Matrix authorization")
        }
        if let destination = auth.destination, destination != serverName {
            throw MatrixError(401, "M_UNAUTHORIZED", "This request is addressed to \(destination), not \(serverName)")
        }
        guard ServerName(auth.origin) != nil, auth.origin != serverName else {
            throw MatrixError(401, "M_UNAUTHORIZED", "Invalid origin")
        }
        if let whitelist, !whitelist.contains(auth.origin) {
            throw MatrixError.forbidden("Federation denied with \(auth.origin)")
        }
        return auth
    }

    /// The origin, once its signature checks out.
    func verify(_ auth: XMatrixAuthorization, method: String, uri: String, content: JSON?) async throws -> String {
        guard let key = try await keys.publicKey(server: auth.origin, keyID: auth.keyID, at: nowMillis()) else {
            throw MatrixError(401, "M_UNAUTHORIZED", "No valid key \(auth.keyID) of \(auth.origin) is known")
        }
        guard auth.verify(method: method, uri: uri, destination: serverName, content: content, publicKey: key) else {
            throw MatrixError(401, "M_UNAUTHORIZED", "Invalid X-Matrix signature")
        }
        return auth.origin
    }
}
