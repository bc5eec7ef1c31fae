public enum CanonicalJSONError: Error, Sendable, Equatable {
    case floatNotAllowed
    case integerOutOfRange(Int64)
    /// A room v1/v2 event whose identity (`event_id`) is missing or malformed.
    case missingEventID
}

extension JSON {
    /// The largest magnitude canonical JSON allows: 2^53 - 1.
    public static let maxSafeInteger: Int64 = 9_007_199_254_740_991

    /// Canonical JSON (spec appendix): keys sorted by UTF-8 bytes, no whitespace, UTF-8 unescaped,
    /// integers only within ±(2^53 − 1).
    public func canonicalBytes() throws(CanonicalJSONError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try write(into: &out, canonical: true)
        return out
    }

    public func canonicalString() throws(CanonicalJSONError) -> String {
        String(decoding: try canonicalBytes(), as: UTF8.self)
    }

    /// Compact JSON for responses: the same form as canonical, but floats are allowed.
    public func encodedBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try? write(into: &out, canonical: false)
        return out
    }

    public func encodedString() -> String {
        String(decoding: encodedBytes(), as: UTF8.self)
    }

    func write(into out: inout [UInt8], canonical: Bool) throws(CanonicalJSONError) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let value):
            out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value):
            if canonical, value > JSON.maxSafeInteger || value < -JSON.maxSafeInteger {
                throw .integerOutOfRange(value)
            }
            out.append(contentsOf: String(value).utf8)
        case .double(let value):
            if canonical {
                // The spec's example canonicalises 1e10 as 10000000000: integral values are
                // integers whatever their notation; true fractions are not allowed.
                guard value == value.rounded(), abs(value) <= Double(JSON.maxSafeInteger) else { throw .floatNotAllowed }
                out.append(contentsOf: String(Int64(value)).utf8)
                return
            }
            if value.isFinite {
                if value == value.rounded(), abs(value) < 1e15 {
                    out.append(contentsOf: String(Int64(value)).utf8)
                    out.append(contentsOf: ".0".utf8)
                } else {
                    out.append(contentsOf: String(value).utf8)
                }
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let value):
            JSON.writeString(value, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try element.write(into: &out, canonical: canonical)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (i, entry) in object.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(entry.key, into: &out)
                out.append(UInt8(ascii: ":"))
                try entry.value.write(into: &out, canonical: canonical)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
