/// What a URL preview needs from a page: `<meta>` tags by `property` or `name` (`og:title`,
/// `twitter:image`, `description`…) and the `<title>`. A small tag scanner, not an HTML
/// parser: it looks only at tags and never builds a tree, so any input costs one linear pass.
enum HTMLMeta {
    static let maxValueLength = 1000

    static func parse(_ html: String) -> (meta: [String: String], title: String?) {
        var meta: [String: String] = [:]
        var title: String?
        let scalars = Array(html.unicodeScalars)
        var index = 0
        while index < scalars.count {
            guard scalars[index] == "<" else {
                index += 1
                continue
            }
            let nameStart = index + 1
            var nameEnd = nameStart
            while nameEnd < scalars.count, scalars[nameEnd].properties.isAlphabetic || scalars[nameEnd] == "!" { nameEnd += 1 }
            let name = String(String.UnicodeScalarView(scalars[nameStart..<nameEnd])).lowercased()
            var tagEnd = nameEnd
            var quote: Unicode.Scalar?
            while tagEnd < scalars.count {
                let scalar = scalars[tagEnd]
                if let open = quote {
                    if scalar == open { quote = nil }
                } else if scalar == "\"" || scalar == "'" {
                    quote = scalar
                } else if scalar == ">" {
                    break
                }
                tagEnd += 1
            }
            if name == "meta" {
                let attributes = Self.attributes(String(String.UnicodeScalarView(scalars[nameEnd..<min(tagEnd, scalars.count)])))
                if let key = (attributes["property"] ?? attributes["name"])?.lowercased(), let content = attributes["content"], meta[key] == nil {
                    meta[key] = String(decodeEntities(content).prefix(maxValueLength))
                }
            } else if name == "title", title == nil, tagEnd < scalars.count {
                var closing = tagEnd + 1
                while closing < scalars.count, scalars[closing] != "<" { closing += 1 }
                let text = decodeEntities(String(String.UnicodeScalarView(scalars[(tagEnd + 1)..<closing])))
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if !text.isEmpty { title = String(text.prefix(maxValueLength)) }
            } else if name == "body" {
                // Meta tags and the title live in the head.
                break
            }
            index = tagEnd + 1
        }
        return (meta, title)
    }

    /// `name="value"`, `name='value'` and `name=value` pairs; names lowercased.
    static func attributes(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func skipSpaces() { while index < scalars.count, scalars[index].properties.isWhitespace || scalars[index] == "/" { index += 1 } }
        while index < scalars.count {
            skipSpaces()
            let start = index
            while index < scalars.count, !scalars[index].properties.isWhitespace, scalars[index] != "=", scalars[index] != "/" { index += 1 }
            let name = String(String.UnicodeScalarView(scalars[start..<index])).lowercased()
            guard !name.isEmpty else {
                index += 1
                continue
            }
            skipSpaces()
            guard index < scalars.count, scalars[index] == "=" else { continue }
            index += 1
            skipSpaces()
            var value = ""
            if index < scalars.count, scalars[index] == "\"" || scalars[index] == "'" {
                let quote = scalars[index]
                index += 1
                let valueStart = index
                while index < scalars.count, scalars[index] != quote { index += 1 }
                value = String(String.UnicodeScalarView(scalars[valueStart..<index]))
                index += 1
            } else {
                let valueStart = index
                while index < scalars.count, !scalars[index].properties.isWhitespace { index += 1 }
                value = String(String.UnicodeScalarView(scalars[valueStart..<index]))
            }
            if result[name] == nil { result[name] = value }
        }
        return result
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        let named: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{00A0}", "#39": "'"]
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semicolon = after.prefix(10).firstIndex(of: ";") else {
                out += "&"
                rest = after
                continue
            }
            let entity = String(after[..<semicolon])
            if let value = named[entity.lowercased()] {
                out += value
            } else if entity.hasPrefix("#"), let code = entity.dropFirst().lowercased().hasPrefix("x")
                ? UInt32(entity.dropFirst(2), radix: 16) : UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(code)
            {
                out.unicodeScalars.append(scalar)
            } else {
                out += "&" + entity + ";"
            }
            rest = after[after.index(after: semicolon)...]
        }
        return out + rest
    }
}
