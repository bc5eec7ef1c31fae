/// One SRV record (RFC 2782): where a service named `_service._proto.name` is offered.
struct SRVRecord: Sendable, Equatable {
    var priority: UInt16
    var weight: UInt16
    var port: UInt16
    var target: String
    var ttl: UInt32
}

/// The DNS wire format (RFC 1035) for one question of type SRV and its answer: only what
/// server discovery needs, so parsing is bounded and refuses anything malformed.
enum SRVMessage {
    static let typeSRV: UInt16 = 33
    static let classIN: UInt16 = 1

    struct Answer: Sendable, Equatable {
        var id: UInt16
        var truncated: Bool
        /// RCODE: 0 no error, 3 the name does not exist.
        var responseCode: UInt8
        var records: [SRVRecord]
    }

    struct Malformed: Error {}

    /// A recursive query for `name`'s SRV records.
    static func query(id: UInt16, name: String) -> [UInt8]? {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        guard let encoded = encode(name: name) else { return nil }
        bytes += encoded
        bytes += [UInt8(typeSRV >> 8), UInt8(typeSRV & 0xFF), 0, UInt8(classIN)]
        return bytes
    }

    static func encode(name: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for label in name.split(separator: ".", omittingEmptySubsequences: true) {
            let utf8 = Array(label.utf8)
            guard !utf8.isEmpty, utf8.count <= 63 else { return nil }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes.append(0)
        return bytes.count <= 255 ? bytes : nil
    }

    /// Parses a response to `query(id:name:)`; records of other types or names are skipped
    /// (CNAME chains are not followed: RFC 2782 forbids aliases as SRV targets).
    static func parse(_ bytes: [UInt8], expectedID: UInt16, name: String) throws -> Answer {
        var reader = Reader(bytes: bytes)
        let id = try reader.u16()
        let flags = try reader.u16()
        guard flags & 0x8000 != 0 else { throw Malformed() }  // not a response
        let questions = try reader.u16()
        let answers = try reader.u16()
        _ = try reader.u16()
        _ = try reader.u16()
        guard id == expectedID, questions == 1 else { throw Malformed() }
        let asked = try reader.name()
        guard asked.lowercased() == normalized(name) else { throw Malformed() }
        try reader.skip(4)
        var records: [SRVRecord] = []
        for _ in 0..<answers {
            let owner = try reader.name()
            let type = try reader.u16()
            let recordClass = try reader.u16()
            let ttl = try reader.u32()
            let length = Int(try reader.u16())
            let end = reader.offset + length
            guard end <= bytes.count else { throw Malformed() }
            if type == typeSRV, recordClass == classIN, owner.lowercased() == normalized(name) {
                let priority = try reader.u16()
                let weight = try reader.u16()
                let port = try reader.u16()
                let target = try reader.name()
                guard reader.offset == end else { throw Malformed() }
                records.append(SRVRecord(priority: priority, weight: weight, port: port, target: target, ttl: ttl))
            }
            reader.offset = end
        }
        return Answer(id: id, truncated: flags & 0x0200 != 0, responseCode: UInt8(flags & 0x000F), records: records)
    }

    static func normalized(_ name: String) -> String {
        name.lowercased().split(separator: ".").joined(separator: ".")
    }

    /// RFC 2782 order: lowest priority first; within a priority, a weighted random draw.
    static func ordered(_ records: [SRVRecord], random: (UInt32) -> UInt32 = { UInt32.random(in: 0...$0) }) -> [SRVRecord] {
        var result: [SRVRecord] = []
        for priority in Set(records.map(\.priority)).sorted() {
            var group = records.filter { $0.priority == priority }.sorted { $0.weight < $1.weight }
            while !group.isEmpty {
                let total = group.reduce(UInt32(0)) { $0 + UInt32($1.weight) }
                let draw = random(total)
                var running: UInt32 = 0
                var chosen = group.count - 1
                for (index, record) in group.enumerated() {
                    running += UInt32(record.weight)
                    if running >= draw {
                        chosen = index
                        break
                    }
                }
                result.append(group.remove(at: chosen))
            }
        }
        return result
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u16() throws -> UInt16 {
            guard offset + 2 <= bytes.count else { throw Malformed() }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func u32() throws -> UInt32 {
            UInt32(try u16()) << 16 | UInt32(try u16())
        }

        mutating func skip(_ count: Int) throws {
            guard offset + count <= bytes.count else { throw Malformed() }
            offset += count
        }

        /// A possibly compressed name; pointers must point backwards, so a loop is impossible.
        mutating func name() throws -> String {
            var labels: [String] = []
            var position = offset
            var jumped = false
            var length = 0
            while true {
                guard position < bytes.count else { throw Malformed() }
                let count = Int(bytes[position])
                if count & 0xC0 == 0xC0 {
                    guard position + 1 < bytes.count else { throw Malformed() }
                    let pointer = (count & 0x3F) << 8 | Int(bytes[position + 1])
                    guard pointer < position else { throw Malformed() }
                    if !jumped { offset = position + 2 }
                    jumped = true
                    position = pointer
                    continue
                }
                guard count & 0xC0 == 0 else { throw Malformed() }
                if count == 0 {
                    if !jumped { offset = position + 1 }
                    return labels.joined(separator: ".")
                }
                guard position + 1 + count <= bytes.count else { throw Malformed() }
                length += count + 1
                guard length <= 255 else { throw Malformed() }
                labels.append(String(decoding: bytes[(position + 1)...(position + count)], as: UTF8.self))
                position += count + 1
            }
        }
    }
}
