enum PercentDecoding {
    /// Decodes `%XX` escapes (and `+` as space when `plusIsSpace`). Returns nil for malformed
    /// escapes or bytes that are not UTF-8, which callers answer with 400. Callers refuse NUL
    /// themselves: no Matrix identifier, type or key contains one, and PostgreSQL text cannot.
    static func decode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func parseQuery(_ query: Substring) -> [String: [String]]? {
        var result: [String: [String]] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decode(parts[0], plusIsSpace: true),
                let value = decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true),
                !key.utf8.contains(0), !value.utf8.contains(0)
            else { return nil }
            result[key, default: []].append(value)
        }
        return result
    }
}

/// Percent-encoding for what Axon puts in URLs it requests: everything but the RFC 3986
/// unreserved characters, so `@`, `:`, `!`, `$` and `/` never change a path's meaning.
enum PercentEncoding {
    static func component(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            if byte.isURIUnreserved {
                encoded.append(Character(Unicode.Scalar(byte)))
            } else {
                encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    static func queryValue(_ text: String) -> String { component(text) }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }

    /// RFC 3986's unreserved characters: `A-Z a-z 0-9 - . _ ~` (also the characters the spec
    /// recommends for OAuth device IDs, and RFC 7636's PKCE verifiers).
    var isURIUnreserved: Bool {
        isASCIIAlphanumeric || self == UInt8(ascii: "-") || self == UInt8(ascii: ".") || self == UInt8(ascii: "_") || self == UInt8(ascii: "~")
    }
}
