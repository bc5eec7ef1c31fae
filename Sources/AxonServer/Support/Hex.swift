/// Lowercase hexadecimal of bytes. `String(format: "%02x")` per byte went through
/// Foundation's format machinery: 32 of those for every authenticated request's token hash
/// were 18 % of a `/whoami`'s server CPU (perf, release build).
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
