/// The `X-Matrix` Authorization scheme of server-server requests (spec "Request
/// Authentication"): a signature over the method, the request target as sent, origin,
/// destination and, when there is one, the JSON body.
public struct XMatrixAuthorization: Sendable, Equatable {
    public var origin: String
    public var destination: String?
    public var keyID: String
    public var signature: String

    public init(origin: String, destination: String?, keyID: String, signature: String) {
        self.origin = origin
        self.destination = destination
        self.keyID = keyID
        self.signature = signature
    }

    /// The JSON object both sides sign: `uri` is the path and query exactly as on the wire.
    public static func signedObject(method: String, uri: String, origin: String, destination: String, content: JSON?) -> JSONObject {
        var object: JSONObject = [
            "method": .string(method), "uri": .string(uri), "origin": .string(origin), "destination": .string(destination),
        ]
        if let content { object["content"] = content }
        return object
    }

    /// Signs a request as `origin` and returns the header value.
    public static func header(
        method: String, uri: String, origin: String, destination: String, content: JSON?, key: SigningKey
    ) throws(CanonicalJSONError) -> String {
        let signed = try JSONSigning.sign(
            signedObject(method: method, uri: uri, origin: origin, destination: destination, content: content), server: origin, key: key)
        let signature = signed["signatures"]?[origin]?[key.keyID]?.stringValue ?? ""
        return #"X-Matrix origin="\#(origin)",destination="\#(destination)",key="\#(key.keyID)",sig="\#(signature)""#
    }

    /// Parses one header value: the scheme, then comma-separated `name=value` parameters whose
    /// values may be quoted (with `\` escapes), names case-insensitive. Nil when it is not
    /// X-Matrix or lacks origin, key or sig.
    public init?(header: String) {
        let trimmed = header.drop { $0 == " " }
        guard trimmed.count > 8, trimmed.prefix(8).lowercased() == "x-matrix", trimmed.dropFirst(8).first == " " else { return nil }
        var parameters: [String: String] = [:]
        var rest = Substring(trimmed.dropFirst(9))
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let name = rest[..<equals].trimmingSpaces().lowercased()
            rest = rest[rest.index(after: equals)...].drop { $0 == " " }
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\", let escaped = rest.first {
                        value.append(escaped)
                        rest = rest.dropFirst()
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end]).trimmingSpaces()
                rest = rest[end...]
            }
            guard parameters[name] == nil else { return nil }
            parameters[name] = value
        }
        guard let origin = parameters["origin"], let key = parameters["key"], let sig = parameters["sig"] else { return nil }
        self.init(origin: origin, destination: parameters["destination"], keyID: key, signature: sig)
    }

    /// Checks the signature of a received request against the origin's public key.
    public func verify(method: String, uri: String, destination: String, content: JSON?, publicKey: [UInt8]) -> Bool {
        var object = Self.signedObject(method: method, uri: uri, origin: origin, destination: destination, content: content)
        object["signatures"] = [.init(stringLiteral: origin): [.init(stringLiteral: keyID): .string(signature)]]
        return JSONSigning.verify(object, server: origin, keyID: keyID, publicKey: publicKey)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
