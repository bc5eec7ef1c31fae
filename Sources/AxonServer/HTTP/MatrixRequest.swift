import AxonStorage
import Hummingbird
import MatrixModel
import NIOCore

/// What a handler sees of a request: decoded path parameters and query, the collected body,
/// and the authenticated user when the route requires one.
public struct MatrixRequest: Sendable {
    public let method: HTTPRequest.Method
    public let path: String
    public let pathParameters: [String: String]
    public let query: [String: [String]]
    public let headers: HTTPFields
    public let body: ByteBuffer
    /// The unread body, for routes that stream it (`Route.streamsBody`); nil otherwise.
    public let bodyStream: RequestBody?
    public let remoteIP: String
    public let accessToken: String?
    public let owner: TokenOwner?
    /// The homeserver that signed the request (server-server routes).
    public var origin: String? = nil

    /// The authenticated caller; routes declared with `auth: .required` always have one.
    public var user: TokenOwner {
        guard let owner else { preconditionFailure("route declared without authentication") }
        return owner
    }

    public func parameter(_ name: String) -> String {
        pathParameters[name] ?? ""
    }

    /// A path parameter of a route that may not have it (one handler, several paths).
    public func optionalParameter(_ name: String) -> String? {
        pathParameters[name]
    }

    public func query(_ name: String) -> String? {
        query[name]?.last
    }

    /// A non-negative integer query parameter, at most `maximum` (larger values are clamped,
    /// as servers do for page sizes and timeouts). Anything that is not a decimal integer in
    /// range, negative numbers included, is 400 `M_INVALID_PARAM`, never a silent default.
    public func integerQuery(_ name: String, default defaultValue: Int, maximum: Int, minimum: Int = 0) throws(MatrixError) -> Int {
        guard let text = query(name) else { return defaultValue }
        guard let value = Int64(text), value >= Int64(minimum) else {
            throw MatrixError.invalidParam("'\(name)' must be an integer of at least \(minimum)")
        }
        return Int(min(value, Int64(maximum)))
    }

    /// A `true`/`false` query parameter; nil when absent, 400 `M_INVALID_PARAM` for anything else.
    public func booleanQuery(_ name: String) throws(MatrixError) -> Bool? {
        guard let text = query(name) else { return nil }
        guard text == "true" || text == "false" else { throw MatrixError.invalidParam("'\(name)' must be true or false") }
        return text == "true"
    }

    /// Synapse's admin paging: `from`, an offset, and `limit`, 1 to 1000 (default 100).
    public func adminPage() throws(MatrixError) -> (from: Int, limit: Int) {
        (try integerQuery("from", default: 0, maximum: 10_000_000), max(1, try integerQuery("limit", default: 100, maximum: 1000)))
    }

    /// `order_by` as one of a listing's orders: nil when absent, 400 for one it does not know.
    public func orderQuery<Order: RawRepresentable>(_ parse: (String) -> Order?) throws(MatrixError) -> Order? where Order.RawValue == String {
        guard let text = query("order_by") else { return nil }
        guard let order = parse(text) else { throw MatrixError.invalidParam("Unknown order_by '\(text)'") }
        return order
    }

    /// A sort direction parameter (`dir`): `f` (the default) or `b`; true when backwards.
    public func backwardsQuery(_ name: String = "dir") throws(MatrixError) -> Bool {
        guard let direction = query(name) else { return false }
        guard direction == "f" || direction == "b" else { throw MatrixError.invalidParam("'\(name)' must be 'f' or 'b'") }
        return direction == "b"
    }

    /// The body as JSON. An empty body reads as `{}` (clients POST without bodies to /logout
    /// and friends); unparseable bytes are `M_NOT_JSON`.
    public func json() throws(MatrixError) -> JSON {
        guard body.readableBytes > 0 else { return .object([:]) }
        do {
            return try JSONParser.parse(body.readableBytesView)
        } catch {
            throw MatrixError.notJSON("Content not JSON: \(error.description)")
        }
    }

    /// The body as a JSON object; valid JSON of another kind is `M_BAD_JSON`.
    public func jsonObject() throws(MatrixError) -> JSON {
        let value = try json()
        guard case .object = value else { throw MatrixError.badJSON("Request body must be a JSON object") }
        return value
    }
}

/// A handler's answer: a status and a JSON body, or raw bytes for non-JSON endpoints.
public struct MatrixResponse: Sendable {
    public enum Body: Sendable {
        case json(JSON)
        case bytes([UInt8], contentType: String)
        /// Streamed (a file), with its length when known.
        case stream(ResponseBody, contentType: String, length: Int64?)
    }

    public var status: HTTPResponse.Status
    public var body: Body
    public var headers: HTTPFields

    public init(status: HTTPResponse.Status = .ok, json: JSON, headers: HTTPFields = [:]) {
        self.status = status
        self.body = .json(json)
        self.headers = headers
    }

    public init(status: HTTPResponse.Status = .ok, bytes: [UInt8], contentType: String) {
        self.status = status
        self.body = .bytes(bytes, contentType: contentType)
        self.headers = [:]
    }

    public static func ok(_ json: JSON) -> MatrixResponse { MatrixResponse(json: json) }
    public static var empty: MatrixResponse { MatrixResponse(json: .object([:])) }
}

extension JSON {
    /// A required string field, with the spec's error for a missing or mistyped one.
    public func requiredString(_ key: String) throws(MatrixError) -> String {
        guard let value = self[key], !value.isNull else { throw MatrixError.missingParam("Missing '\(key)'") }
        guard let string = value.stringValue else { throw MatrixError.badJSON("'\(key)' must be a string") }
        return string
    }

    /// An optional string field: absent or null is nil, any other non-string is `M_BAD_JSON`.
    public func optionalString(_ key: String) throws(MatrixError) -> String? {
        guard let value = optional(key) else { return nil }
        guard let string = value.stringValue else { throw MatrixError.badJSON("'\(key)' must be a string") }
        return string
    }

    public func optionalBool(_ key: String) throws(MatrixError) -> Bool? {
        guard let value = optional(key) else { return nil }
        guard let bool = value.boolValue else { throw MatrixError.badJSON("'\(key)' must be a boolean") }
        return bool
    }

    public func optionalInt(_ key: String) throws(MatrixError) -> Int64? {
        guard let value = optional(key) else { return nil }
        guard let int = value.intValue else { throw MatrixError.badJSON("'\(key)' must be an integer") }
        return int
    }

    public func optionalObject(_ key: String) throws(MatrixError) -> JSON? {
        guard let value = optional(key) else { return nil }
        guard case .object = value else { throw MatrixError.badJSON("'\(key)' must be an object") }
        return value
    }

    public func optionalStringArray(_ key: String) throws(MatrixError) -> [String]? {
        guard let value = optional(key) else { return nil }
        guard let array = value.arrayValue else { throw MatrixError.badJSON("'\(key)' must be an array of strings") }
        var strings: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw MatrixError.badJSON("'\(key)' must be an array of strings") }
            strings.append(string)
        }
        return strings
    }
}
