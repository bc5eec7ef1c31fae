import Hummingbird

public typealias MatrixHandler = @Sendable (MatrixRequest) async throws -> MatrixResponse

/// Who may call a route.
public enum AuthRequirement: Sendable {
    case none
    /// An access token is used when present but not required.
    case optional
    case required(allowGuests: Bool = false)
    /// Another homeserver, by an X-Matrix signature (server-server API).
    case server
}

public struct Route: Sendable {
    public let method: HTTPRequest.Method
    public let pattern: String
    public let auth: AuthRequirement
    public let rateLimit: RateLimitKind?
    /// The handler reads the body itself as a stream (media uploads), instead of the
    /// pipeline collecting it up to the JSON body limit.
    public let streamsBody: Bool
    public let handler: MatrixHandler
    /// Decided once, when the route is registered (`BodyLimit.for`).
    public let bodyLimit: BodyLimit

    /// How much of a JSON body the pipeline reads for this route. Events are at most 64 KiB,
    /// so that is the default; key uploads and queries, key backup and to-device messages
    /// carry many entries at once and may use the configured `max_request_bytes`, account
    /// data and profiles a middle size. Nothing is read before the caller is authenticated.
    public enum BodyLimit: Sendable {
        case standard
        case accountData
        case large
    }

    public static let standardBodyBytes = 64 * 1024
    public static let accountDataBodyBytes = 256 * 1024

    /// Which listener resource (`listeners[].resources`) serves a path.
    public var resource: AxonConfig.Listener.Resource {
        if pattern.hasPrefix("/_matrix/federation/") { return .federation }
        if pattern.hasPrefix("/_matrix/key/") { return .keys }
        if pattern.hasPrefix("/_matrix/media/") { return .media }
        if pattern == "/metrics" { return .metrics }
        return .client
    }

    static func bodyLimit(for pattern: String) -> BodyLimit {
        // A transaction carries up to 50 PDUs of 64 KiB and 100 EDUs; joins carry whole states.
        if pattern.hasPrefix("/_matrix/federation/") { return .large }
        if pattern.contains("/keys/") || pattern.contains("/room_keys/") || pattern.contains("/sendToDevice/") { return .large }
        // Profiles may hold 64 KiB of fields, so a body of one field is a little more.
        if pattern.contains("/account_data/") || pattern.contains("/profile/") { return .accountData }
        return .standard
    }
}

/// Matches raw (percent-encoded) paths segment by segment, decoding each parameter, so that
/// `%2F` inside a state key or `%3A` in a room ID never splits or confuses a path. It tells an
/// unknown path (404) from a known path called with the wrong method (405).
public struct RouteTable: Sendable {
    final class Node: @unchecked Sendable {
        var literals: [String: Node] = [:]
        var parameter: (name: String, node: Node)?
        var routes: [HTTPRequest.Method: Route] = [:]
    }

    public enum Match {
        case found(Route, parameters: [String: String])
        case wrongMethod
        case notFound
        case badEncoding
    }

    private let root = Node()

    public init() {}

    /// Client-Server API versions a route is served under: spec v3 and the older r0 that
    /// some clients still call.
    public static let clientPrefixes = ["/_matrix/client/v3", "/_matrix/client/r0"]

    /// A client path without its API version prefix, so that a request means the same under
    /// `/r0` and `/v3` (transaction IDs are scoped by it).
    public static func unversionedClientPath(_ path: String) -> Substring {
        for prefix in clientPrefixes + [unstablePrefix] where path.hasPrefix(prefix) { return path.dropFirst(prefix.count) }
        return Substring(path)
    }

    public func add(
        _ method: HTTPRequest.Method, _ pattern: String, auth: AuthRequirement = .required(),
        rateLimit: RateLimitKind? = nil, streamsBody: Bool = false, handler: @escaping MatrixHandler
    ) {
        var node = root
        for segment in pattern.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment.hasPrefix("{"), segment.hasSuffix("}") {
                let name = String(segment.dropFirst().dropLast())
                if let existing = node.parameter {
                    precondition(existing.name == name, "conflicting parameter names at \(pattern)")
                    node = existing.node
                } else {
                    let next = Node()
                    node.parameter = (name, next)
                    node = next
                }
            } else {
                let key = String(segment)
                if let next = node.literals[key] {
                    node = next
                } else {
                    let next = Node()
                    node.literals[key] = next
                    node = next
                }
            }
        }
        precondition(node.routes[method] == nil, "duplicate route \(method) \(pattern)")
        node.routes[method] = Route(
            method: method, pattern: pattern, auth: auth, rateLimit: rateLimit, streamsBody: streamsBody, handler: handler,
            bodyLimit: Route.bodyLimit(for: pattern))
    }

    /// Where clients called endpoints before they were stable; a few still do.
    public static let unstablePrefix = "/_matrix/client/unstable"

    /// Registers a Client-Server route (path after `/_matrix/client/v3`) under every client
    /// prefix, and under `/unstable` too for endpoints clients still call there.
    public func client(
        _ method: HTTPRequest.Method, _ path: String, auth: AuthRequirement = .required(),
        rateLimit: RateLimitKind? = nil, alsoUnstable: Bool = false, handler: @escaping MatrixHandler
    ) {
        for prefix in RouteTable.clientPrefixes + (alsoUnstable ? [RouteTable.unstablePrefix] : []) {
            add(method, prefix + path, auth: auth, rateLimit: rateLimit, handler: handler)
        }
    }

    /// Every registered route, for tests that exercise them all.
    public var allRoutes: [Route] {
        var found: [Route] = []
        var pending = [root]
        while let node = pending.popLast() {
            found += node.routes.values
            pending += node.literals.values
            if let parameter = node.parameter { pending.append(parameter.node) }
        }
        return found.sorted { ($0.pattern, $0.method.rawValue) < ($1.pattern, $1.method.rawValue) }
    }

    public func match(method: HTTPRequest.Method, rawPath: Substring) -> Match {
        let segments = Array(rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
        var parameters: [String: String] = [:]
        var encodingError = false
        guard let node = find(root, segments[...], &parameters, &encodingError) else {
            return encodingError ? .badEncoding : .notFound
        }
        if let route = node.routes[method] ?? (method == .head ? node.routes[.get] : nil) {
            return .found(route, parameters: parameters)
        }
        return .wrongMethod
    }

    private func find(
        _ node: Node, _ segments: ArraySlice<Substring>, _ parameters: inout [String: String], _ encodingError: inout Bool
    ) -> Node? {
        guard let segment = segments.first else {
            return node.routes.isEmpty ? nil : node
        }
        let rest = segments.dropFirst()
        if let literal = node.literals[String(segment)], let found = find(literal, rest, &parameters, &encodingError) {
            return found
        }
        if let (name, next) = node.parameter {
            guard let decoded = PercentDecoding.decode(segment), !decoded.utf8.contains(0) else {
                encodingError = true
                return nil
            }
            let previous = parameters[name]
            parameters[name] = decoded
            if let found = find(next, rest, &parameters, &encodingError) { return found }
            parameters[name] = previous
        }
        return nil
    }
}
