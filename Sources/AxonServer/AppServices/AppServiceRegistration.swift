import Foundation
import MatrixModel
import Yams

/// An application service, as its registration file describes it (spec "Registration",
/// in Synapse's format, which bridges ship): who it is, where it listens, its two tokens,
/// and the users, aliases and rooms it claims.
public struct AppServiceRegistration: Sendable {
    /// One namespace entry: a regex, matched from the start of an ID as Synapse matches it,
    /// and whether the service alone may use what it matches.
    public struct Namespace: Sendable {
        public var exclusive: Bool
        public var regex: String
        let pattern: CompiledRegex

        public func matches(_ value: String) -> Bool { pattern.matchesPrefix(value) }
    }

    public var id: String
    /// Nil: the service receives nothing pushed (a bot that only uses the client API).
    public var url: String?
    public var asToken: String
    public var hsToken: String
    public var senderLocalpart: String
    public var users: [Namespace]
    public var aliases: [Namespace]
    public var rooms: [Namespace]
    public var rateLimited: Bool
    public var protocols: [String]
    /// MSC2409: typing, receipts, presence and to-device messages in transactions.
    public var receiveEphemeral: Bool
    /// MSC3202: `device_id` masquerading, device list changes and key counts in transactions.
    public var msc3202: Bool
    /// MSC4190: the service manages its users' devices without user-interactive auth.
    public var msc4190: Bool

    /// Parses and checks one registration file; errors name the file and the field.
    public static func load(path: String) throws(ConfigError) -> AppServiceRegistration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("app service \(path): cannot read the file (\(error.localizedDescription))")
        }
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch { throw ConfigError("app service \(path): not YAML (\(error))") }
        guard let fields = node as? [String: Any] else { throw ConfigError("app service \(path): the file must be a YAML mapping") }
        return try AppServiceRegistration(fields, file: path)
    }

    init(_ fields: [String: Any], file: String) throws(ConfigError) {
        func fail(_ field: String, _ problem: String) -> ConfigError { ConfigError("app service \(file): '\(field)' \(problem)") }
        func string(_ field: String) throws(ConfigError) -> String {
            guard let value = fields[field] else { throw fail(field, "is missing") }
            guard let text = value as? String, !text.isEmpty else { throw fail(field, "must be a non-empty string") }
            return text
        }
        func flag(_ names: [String], default value: Bool) throws(ConfigError) -> Bool {
            for name in names {
                guard let raw = fields[name] else { continue }
                guard let bool = raw as? Bool else { throw fail(name, "must be true or false") }
                return bool
            }
            return value
        }
        id = try string("id")
        asToken = try string("as_token")
        hsToken = try string("hs_token")
        senderLocalpart = try string("sender_localpart")
        guard UserID.isCompliantLocalpart(senderLocalpart.lowercased()), senderLocalpart == senderLocalpart.lowercased() else {
            throw fail("sender_localpart", "must be a lowercase localpart (a-z, 0-9, '.', '_', '=', '-', '/', '+')")
        }
        switch fields["url"] {
        case nil, is NSNull:
            url = nil
        case let text as String:
            guard let parsed = URL(string: text), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw fail("url", "must be an http or https URL, or null")
            }
            url = text.hasSuffix("/") ? String(text.dropLast()) : text
        default:
            throw fail("url", "must be an http or https URL, or null")
        }
        var namespaces: [String: [Namespace]] = [:]
        let declared = fields["namespaces"] ?? [String: Any]()
        guard let groups = declared as? [String: Any] else { throw fail("namespaces", "must be a mapping of users, aliases and rooms") }
        for kind in ["users", "aliases", "rooms"] {
            guard let raw = groups[kind], !(raw is NSNull) else { continue }
            guard let entries = raw as? [Any] else { throw fail("namespaces.\(kind)", "must be a list") }
            namespaces[kind] = try entries.enumerated().map { (index, entry) throws(ConfigError) in
                let field = "namespaces.\(kind)[\(index)]"
                guard let entry = entry as? [String: Any], let regex = entry["regex"] as? String else {
                    throw fail(field, "needs a 'regex' string")
                }
                guard let exclusive = (entry["exclusive"] ?? false) as? Bool else { throw fail(field + ".exclusive", "must be true or false") }
                guard let pattern = CompiledRegex(regex) else { throw fail(field + ".regex", "is not a valid regular expression") }
                return Namespace(exclusive: exclusive, regex: regex, pattern: pattern)
            }
        }
        users = namespaces["users"] ?? []
        aliases = namespaces["aliases"] ?? []
        rooms = namespaces["rooms"] ?? []
        rateLimited = try flag(["rate_limited"], default: true)
        switch fields["protocols"] {
        case nil, is NSNull: protocols = []
        case let list as [Any]:
            protocols = try list.map { (entry) throws(ConfigError) in
                guard let name = entry as? String else { throw fail("protocols", "must be a list of strings") }
                return name
            }
        default: throw fail("protocols", "must be a list of strings")
        }
        receiveEphemeral = try flag(["receive_ephemeral", "push_ephemeral", "de.sorunome.msc2409.push_ephemeral"], default: false)
        msc3202 = try flag(["org.matrix.msc3202", "io.element.msc3202"], default: false)
        msc4190 = try flag(["io.element.msc4190", "org.matrix.msc4190"], default: false)
    }

    public func sender(on server: ServerName) -> String { "@\(senderLocalpart):\(server)" }

    /// Whether the user is the service's own sender or in one of its user namespaces.
    public func claims(user: String, on server: ServerName) -> Bool {
        user == sender(on: server) || users.contains { $0.matches(user) }
    }
}

/// A regex compiled once. NSRegularExpression is immutable and documented as safe to share
/// between threads.
final class CompiledRegex: @unchecked Sendable {
    private let expression: NSRegularExpression

    init?(_ pattern: String) {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return nil }
        self.expression = expression
    }

    /// A match starting at the first character (Python's `re.match`, which Synapse uses;
    /// registrations are written for it).
    func matchesPrefix(_ value: String) -> Bool {
        expression.firstMatch(in: value, options: .anchored, range: NSRange(value.startIndex..., in: value)) != nil
    }
}
