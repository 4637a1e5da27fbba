/// Which rules can possibly match an envelope, from the exact values rules demand of its `actor`,
/// `surface`, `tool` and `intent`: one bitset per field value, ANDed, so evaluation visits only
/// candidates (in file order) instead of every rule.
struct CandidateIndex: Sendable {
    struct FieldIndex: Sendable {
        let field: Matcher.Field
        /// Rules compatible with each value some rule names.
        let byValue: [String: [UInt64]]
        /// Rules compatible with any other value (those that name no value for this field).
        let otherwise: [UInt64]
    }

    let ruleCount: Int
    let fields: [FieldIndex]
    let all: [UInt64]

    init(rules: [[Matcher]]) {
        ruleCount = rules.count
        let words = (rules.count + 63) / 64
        var all = [UInt64](repeating: 0, count: words)
        for index in rules.indices { all[index / 64] |= 1 << UInt64(index % 64) }
        self.all = all
        var fields: [FieldIndex] = []
        for field in [Matcher.Field.tool, .intent, .surface, .actor] {
            // The values each rule accepts for this field (nil: any value).
            let accepted: [Set<String>?] = rules.map { matchers in
                var values: Set<String>?
                for matcher in matchers {
                    switch matcher {
                    case .equals(field, let value): values = values.map { $0.intersection([value]) } ?? [value]
                    case .toolIn(let names) where field == .tool:
                        values = values.map { $0.intersection(names) } ?? Set(names)
                    default: break
                    }
                }
                return values
            }
            let named = Set(accepted.compactMap { $0 }.flatMap { $0 })
            guard !named.isEmpty else { continue }
            var otherwise = [UInt64](repeating: 0, count: words)
            for (index, values) in accepted.enumerated() where values == nil {
                otherwise[index / 64] |= 1 << UInt64(index % 64)
            }
            var byValue: [String: [UInt64]] = [:]
            for value in named {
                var mask = otherwise
                for (index, values) in accepted.enumerated() where values?.contains(value) == true {
                    mask[index / 64] |= 1 << UInt64(index % 64)
                }
                byValue[value] = mask
            }
            fields.append(FieldIndex(field: field, byValue: byValue, otherwise: otherwise))
        }
        self.fields = fields
    }

    /// Calls `body` with each candidate rule index in ascending order until it returns true.
    @inline(__always)
    func first(for envelope: borrowing ActionEnvelopeFields, where body: (Int) -> Bool) -> Int? {
        var word = 0
        let words = all.count
        while word < words {
            var bits = all[word]
            for field in fields {
                let mask = field.byValue[envelope.value(field.field)] ?? field.otherwise
                bits &= mask[word]
                if bits == 0 { break }
            }
            while bits != 0 {
                let index = word * 64 + bits.trailingZeroBitCount
                if body(index) { return index }
                bits &= bits - 1
            }
            word += 1
        }
        return nil
    }
}

/// The four indexed fields of an envelope.
struct ActionEnvelopeFields {
    let actor: String
    let surface: String
    let tool: String
    let intent: String

    @inline(__always)
    func value(_ field: Matcher.Field) -> String {
        switch field {
        case .actor: return actor
        case .surface: return surface
        case .tool: return tool
        case .intent: return intent
        }
    }
}
