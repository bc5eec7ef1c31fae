import AxonStorage
import Hummingbird
import Logging
import MatrixModel
import NIOCore
import Synchronization

/// The request pipeline every Matrix request goes through: route match (404/405), CORS,
/// authentication, rate limits, the body (per-route limit, shared budget, deadline), the
/// handler, Matrix-shaped errors, metrics.
struct AxonResponder: HTTPResponder {
    let routes: RouteTable
    let authenticator: Authenticator
    let rateLimiter: RateLimiter?
    let metrics: ServerMetrics
    let maxBodyBytes: Int
    let logger: Logger
    /// What this listener serves; other routes answer as unknown.
    var resources: Set<AxonConfig.Listener.Resource> = Set(AxonConfig.Listener.Resource.allCases)
    /// Verifies X-Matrix signatures; nil when federation is not set up (tests of the client API).
    var federationAuth: FederationAuthenticator? = nil
    /// Bounds the memory of all bodies being read at once.
    let bodyBudget = BodyBudget(bytes: 64 * 1024 * 1024)
    let bodyTimeout: Duration = .seconds(60)

    static let corsHeaders: HTTPFields = [
        .accessControlAllowOrigin: "*",
        .accessControlAllowMethods: "GET, HEAD, POST, PUT, DELETE, OPTIONS",
        .accessControlAllowHeaders: "X-Requested-With, Content-Type, Authorization, Date",
    ]

    func respond(to request: Request, context: AxonRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        var request = request
        let (routeName, response) = await handle(&request, context: context)
        metrics.record(
            method: request.method, route: routeName, status: Int(response.status.code), duration: ContinuousClock.now - start)
        return encode(response, head: request.method == .head)
    }

    private func handle(_ request: inout Request, context: AxonRequestContext) async -> (String, MatrixResponse) {
        let pathAndQuery = request.uri.string.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawPath = pathAndQuery.first ?? "/"
        if request.method == .options {
            return ("OPTIONS", MatrixResponse(json: .object([:])))
        }
        let route: Route
        let parameters: [String: String]
        switch routes.match(method: request.method, rawPath: rawPath) {
        case .found(let found, let foundParameters) where resources.contains(found.resource):
            route = found
            parameters = foundParameters
        case .found:
            return ("unmatched", errorResponse(.unrecognized("Unrecognized request")))
        case .wrongMethod:
            return ("unmatched", errorResponse(.unrecognized("Method not allowed for this endpoint", status: 405)))
        case .notFound:
            return ("unmatched", errorResponse(.unrecognized("Unrecognized request")))
        case .badEncoding:
            return ("unmatched", errorResponse(.invalidParam("Malformed percent-encoding (or a NUL character) in path")))
        }
        do {
            let query: [String: [String]]
            if pathAndQuery.count > 1 {
                guard let parsed = PercentDecoding.parseQuery(pathAndQuery[1]) else {
                    throw MatrixError.invalidParam("Malformed query string")
                }
                query = parsed
            } else {
                query = [:]
            }
            // Who is calling comes from the headers alone: a body is read only for callers
            // the route accepts, and after the rate limit.
            let token = accessToken(request, query: query)
            var owner: TokenOwner?
            var serverAuth: XMatrixAuthorization?
            switch route.auth {
            case .none:
                break
            case .server:
                guard let federationAuth else { throw MatrixError.unrecognized("Federation is not enabled on this server") }
                serverAuth = try federationAuth.parse(request.headers[values: .authorization])
            case .optional:
                if let token { owner = try await authenticate(token, ip: context.remoteIP, userAgent: request.headers[.userAgent], query: query) }
            case .required(let allowGuests):
                guard let token else { throw MatrixError.missingToken() }
                let found = try await authenticate(token, ip: context.remoteIP, userAgent: request.headers[.userAgent], query: query)
                if found.isGuest, !allowGuests { throw MatrixError.guestAccessForbidden() }
                owner = found
            }
            if let owner { try AccountRestrictions.check(owner, method: request.method, pattern: route.pattern) }
            if let kind = route.rateLimit, let rateLimiter, !(owner?.isAdmin ?? false), !(owner?.exemptFromRateLimits ?? false) {
                let key = kind.perUser ? (owner?.userID ?? context.remoteIP) : context.remoteIP
                let override = kind == .message ? owner?.rateLimitOverride.map {
                    RateLimitSettings(perSecond: Double($0.messagesPerSecond), burst: Double($0.burstCount))
                } : nil
                if let wait = rateLimiter.take(kind, key: key, override: override) { throw MatrixError.limitExceeded(retryAfterMs: wait) }
            }
            var body = ByteBuffer()
            var reservation = 0
            defer { bodyBudget.release(reservation) }
            if !route.streamsBody {
                let limit = bodyLimit(route)
                let declared = request.headers[.contentLength].flatMap { Int($0) }
                if let declared, declared > limit { throw MatrixError.tooLarge("Request body exceeds \(limit) bytes") }
                reservation = max(0, min(declared ?? limit, limit))
                guard bodyBudget.reserve(reservation) else {
                    reservation = 0
                    throw MatrixError.limitExceeded(retryAfterMs: 1000)
                }
                body = try await collectBody(request, upTo: limit)
            }
            var matrixRequest = MatrixRequest(
                method: request.method, path: String(rawPath), pathParameters: parameters, query: query,
                headers: request.headers, body: body, bodyStream: route.streamsBody ? request.body : nil, remoteIP: context.remoteIP,
                accessToken: token, owner: owner)
            if let serverAuth, let federationAuth {
                let content: JSON? = body.readableBytes == 0 ? nil : try matrixRequest.json()
                matrixRequest.origin = try await federationAuth.verify(
                    serverAuth, method: request.method.rawValue, uri: request.uri.string, content: content)
            }
            return (route.pattern, try await route.handler(matrixRequest))
        } catch let error as MatrixError {
            return (route.pattern, errorResponse(error))
        } catch StorageError.invalidText {
            return (route.pattern, errorResponse(.invalidParam("Text fields may not contain NUL characters")))
        } catch {
            logger.error("request failed", metadata: ["route": "\(route.pattern)", "error": "\(String(reflecting: error))"])
            return (route.pattern, errorResponse(.unknown("Internal server error", status: 500)))
        }
    }

    private func bodyLimit(_ route: Route) -> Int {
        switch route.bodyLimit {
        case .standard: return min(Route.standardBodyBytes, maxBodyBytes)
        case .accountData: return min(Route.accountDataBodyBytes, maxBodyBytes)
        case .large: return maxBodyBytes
        }
    }

    /// Reads the body up to `limit` bytes within `bodyTimeout`: a client trickling a body
    /// byte by byte holds its connection no longer than that.
    private func collectBody(_ collected: Request, upTo limit: Int) async throws -> ByteBuffer {
        let timeout = bodyTimeout
        let result = await withTaskGroup(of: Result<ByteBuffer, MatrixError>?.self) { group in
            group.addTask {
                var request = collected
                do {
                    return .success(try await request.collectBody(upTo: limit))
                } catch {
                    return .failure(MatrixError.tooLarge("Request body exceeds \(limit) bytes"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(MatrixError(408, "M_UNKNOWN", "The request body did not arrive in time"))
            }
            var first: Result<ByteBuffer, MatrixError>?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? .failure(MatrixError(408, "M_UNKNOWN", "The request body did not arrive in time"))
        }
        return try result.get()
    }

    private func authenticate(_ token: String, ip: String, userAgent: String?, query: [String: [String]]) async throws -> TokenOwner {
        guard let owner = try await authenticator.authenticate(
            token: token, ip: ip, userAgent: userAgent, masquerade: (query["user_id"]?.last, query["device_id"]?.last ?? query["org.matrix.msc3202.device_id"]?.last))
        else {
            throw MatrixError.unknownToken()
        }
        return owner
    }

    private func accessToken(_ request: Request, query: [String: [String]]) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]) }
        }
        return query["access_token"]?.last
    }

    private func errorResponse(_ error: MatrixError) -> MatrixResponse {
        MatrixResponse(status: HTTPResponse.Status(code: error.status), json: error.body)
    }

    private func encode(_ response: MatrixResponse, head: Bool) -> Response {
        var headers = AxonResponder.corsHeaders
        let body: ResponseBody
        switch response.body {
        case .json(let json):
            let bytes = json.encodedBytes()
            headers[.contentType] = "application/json"
            headers[.contentLength] = String(bytes.count)
            body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        case .bytes(let raw, let contentType):
            headers[.contentType] = contentType
            headers[.contentLength] = String(raw.count)
            body = ResponseBody(byteBuffer: ByteBuffer(bytes: raw))
        case .stream(let stream, let contentType, let length):
            headers[.contentType] = contentType
            if let length { headers[.contentLength] = String(length) }
            body = stream
        }
        for field in response.headers { headers[field.name] = field.value }
        return Response(status: response.status, headers: headers, body: head ? ResponseBody() : body)
    }
}

/// The bytes of request bodies the server holds at once: each request reserves its body's
/// declared length (or its route's limit) before reading, and a request that does not fit
/// is told to retry instead of growing the process.
final class BodyBudget: Sendable {
    private let remaining: Mutex<Int>

    init(bytes: Int) {
        remaining = Mutex(bytes)
    }

    func reserve(_ bytes: Int) -> Bool {
        remaining.withLock { remaining in
            guard bytes <= remaining else { return false }
            remaining -= bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        remaining.withLock { $0 += bytes }
    }
}
